import type { UseQueryResult } from '@tanstack/react-query';
import { type InputHTMLAttributes, type ReactNode, useState } from 'react';
import { ApiError, errorMessage } from './api.ts';

export function ErrorBox({ error }: { error: unknown }) {
  return (
    <p className="error" role="alert">
      {errorMessage(error)}
    </p>
  );
}

/** Renders a query's data, or its loading state, or its error. */
export function Loaded<T>({
  query,
  children,
}: {
  query: UseQueryResult<T>;
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <p className="muted">Loading…</p>;
  if (query.isError) return <ErrorBox error={query.error} />;
  return children(query.data);
}

/** The API's messages for one form field, shown next to it (`aria-describedby` its id). */
export function FieldError({ error, field, id }: { error: unknown; field: string; id: string }) {
  const messages = error instanceof ApiError ? error.fieldMessages(field) : [];
  if (messages.length === 0) return null;
  return (
    <span className="field-error" id={id} role="alert">
      {messages.join('; ')}
    </span>
  );
}

export const time = (iso: string | null | undefined) =>
  iso ? new Date(iso).toLocaleString(undefined, { hour12: false }) : '—';

export const shortId = (id: string) => `${id.slice(0, 8)}…`;

export function Status({ value }: { value: string }) {
  return <span className={`status status-${value.replace(/[^a-z_]/gi, '')}`}>{value}</span>;
}

function JsonNode({ name, value, depth }: { name?: string; value: unknown; depth: number }) {
  const [open, setOpen] = useState(depth < 2);
  const label = name !== undefined ? <span className="json-key">{name}: </span> : null;
  if (value === null || typeof value !== 'object') {
    return (
      <li>
        {label}
        <span className={`json-${value === null ? 'null' : typeof value}`}>
          {JSON.stringify(value)}
        </span>
      </li>
    );
  }
  const entries = Array.isArray(value)
    ? value.map((item, index) => [String(index), item] as const)
    : Object.entries(value);
  const [opening, closing] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  return (
    <li>
      <button
        type="button"
        className="json-toggle"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
      >
        {open ? '▾' : '▸'}
      </button>
      {label}
      {opening}
      {open ? (
        <ul className="json-children">
          {entries.map(([key, item]) => (
            <JsonNode key={key} name={key} value={item} depth={depth + 1} />
          ))}
        </ul>
      ) : (
        <span className="muted"> {entries.length} … </span>
      )}
      {closing}
    </li>
  );
}

/** JSON as a tree whose objects and arrays fold (the first two levels start open). */
export function JsonView({ value, label }: { value: unknown; label: string }) {
  return (
    <ul className="json" aria-label={label}>
      <JsonNode value={value} depth={0} />
    </ul>
  );
}

/** Previous/next paging over offset-paged lists. */
export function Pager({
  offset,
  limit,
  total,
  onOffset,
}: {
  offset: number;
  limit: number;
  total: number;
  onOffset: (offset: number) => void;
}) {
  return (
    <nav className="pager" aria-label="Pages">
      <button
        type="button"
        disabled={offset === 0}
        onClick={() => onOffset(Math.max(0, offset - limit))}
      >
        Previous
      </button>
      <span>
        {total === 0 ? 0 : offset + 1}–{Math.min(offset + limit, total)} of {total}
      </span>
      <button
        type="button"
        disabled={offset + limit >= total}
        onClick={() => onOffset(offset + limit)}
      >
        Next
      </button>
    </nav>
  );
}

/** A table that may scroll sideways (on a phone): focusable, so the keyboard can scroll it too. */
export function TableWrap({ children }: { children: ReactNode }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard (axe scrollable-region-focusable)
    <div className="table-wrap" tabIndex={0}>
      {children}
    </div>
  );
}

/** One column of a {@link DataTable}: its header and what each row shows in it. */
export interface Column<T> {
  header: string;
  cell: (row: T) => ReactNode;
  /** The cell's class (e.g. `excerpt` for long text that wraps). */
  className?: string | ((row: T) => string | undefined);
}

/**
 * The console's tables: a header row of column names, a row per item, in a {@link TableWrap}.
 * A column given as `false` is left out (e.g. a write action the key may not take).
 */
export function DataTable<T>({
  rows,
  rowKey,
  columns,
  label,
  caption,
  className,
}: {
  rows: readonly T[];
  rowKey: (row: T) => string;
  columns: ReadonlyArray<Column<T> | false>;
  /** The table's accessible name, when it has no caption. */
  label?: string;
  caption?: ReactNode;
  className?: string;
}) {
  const shown = columns.filter((column): column is Column<T> => column !== false);
  return (
    <TableWrap>
      <table aria-label={label} className={className}>
        {caption && <caption>{caption}</caption>}
        <thead>
          <tr>
            {shown.map((column) => (
              <th key={column.header} scope="col">
                {column.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)}>
              {shown.map((column) => (
                <td
                  key={column.header}
                  className={
                    typeof column.className === 'function'
                      ? column.className(row)
                      : column.className
                  }
                >
                  {column.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  );
}

/**
 * Newer/older paging where only the neighbours are known (a cursor, or a page that came back
 * short); a side without a handler is disabled.
 */
export function NewerOlder({
  label,
  onNewer,
  onOlder,
}: {
  label: string;
  onNewer: (() => void) | undefined;
  onOlder: (() => void) | undefined;
}) {
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" disabled={!onNewer} onClick={onNewer}>
        Newer
      </button>
      <button type="button" disabled={!onOlder} onClick={onOlder}>
        Older
      </button>
    </nav>
  );
}

/** A text input and its label, side by side (in a toolbar); `onValue` gets each new value. */
export function LabelledInput({
  id,
  label,
  onValue,
  ...input
}: {
  id: string;
  label: string;
  value: string;
  onValue: (value: string) => void;
} & Omit<InputHTMLAttributes<HTMLInputElement>, 'id' | 'value' | 'onChange'>) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <input id={id} {...input} onChange={(event) => onValue(event.target.value)} />
    </>
  );
}
