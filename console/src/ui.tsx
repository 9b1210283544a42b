import type { UseQueryResult } from '@tanstack/react-query';
import { type ReactNode, useState } from 'react';
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
