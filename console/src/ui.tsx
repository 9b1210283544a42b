import type { UseQueryResult } from '@tanstack/react-query';
import { useWindowVirtualizer } from '@tanstack/react-virtual';
import {
  type InputHTMLAttributes,
  memo,
  type ReactNode,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
} from 'react';
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

/**
 * `toLocaleString(undefined, { hour12: false })`'s format, made once: toLocaleString builds a
 * formatter per call, which was the costliest part of drawing a row of the events table.
 */
const localTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'numeric',
  day: 'numeric',
  hour: 'numeric',
  minute: 'numeric',
  second: 'numeric',
  hour12: false,
});

export const time = (iso: string | null | undefined) =>
  iso ? localTime.format(new Date(iso)) : '—';

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

/** Rows a windowed {@link DataTable} draws beyond the viewport on each side, so scrolling shows no gap. */
const OVERSCAN_ROWS = 10;
/** A row's height before it is measured (one line of text and its padding). */
const ESTIMATED_ROW_PX = 34;

/**
 * The console's tables: a header row of column names, a row per item, in a {@link TableWrap}.
 * A column given as `false` is left out (e.g. a write action the key may not take).
 *
 * `windowed` is for long lists (the events page shows up to 1,000 rows): only the rows in the
 * browser's viewport (plus {@link OVERSCAN_ROWS} on each side) are in the document, the page
 * still scrolls as a whole, and the table keeps its semantics: `aria-rowcount` and each row's
 * `aria-rowindex` tell assistive technology how many rows there are and where each one stands.
 * Rows are memoised, so a render of the page around an unchanged table redraws no row.
 */
export function DataTable<T>({
  rows,
  rowKey,
  columns,
  label,
  caption,
  className,
  windowed = false,
}: {
  rows: readonly T[];
  rowKey: (row: T) => string;
  columns: ReadonlyArray<Column<T> | false>;
  /** The table's accessible name, when it has no caption. */
  label?: string;
  caption?: ReactNode;
  className?: string;
  /** Draw only the rows in view (for lists of hundreds of rows); default false. */
  windowed?: boolean;
}) {
  const shown = useMemo(
    () => columns.filter((column): column is Column<T> => column !== false),
    [columns],
  );
  return (
    <TableWrap>
      <table
        aria-label={label}
        className={className}
        aria-rowcount={windowed ? rows.length + 1 : undefined}
      >
        {caption && <caption>{caption}</caption>}
        <thead>
          <tr aria-rowindex={windowed ? 1 : undefined}>
            {shown.map((column) => (
              <th key={column.header} scope="col">
                {column.header}
              </th>
            ))}
          </tr>
        </thead>
        {windowed ? (
          <WindowedBody rows={rows} rowKey={rowKey} columns={shown} />
        ) : (
          <tbody>
            {rows.map((row) => (
              <DataRow key={rowKey(row)} row={row} columns={shown} />
            ))}
          </tbody>
        )}
      </table>
    </TableWrap>
  );
}

/**
 * The rows of a windowed {@link DataTable}: those in view between two empty spacer rows that
 * stand for the rows above and below, so the page scrolls as if every row were there. Rows are
 * measured once drawn (they wrap on a phone), the estimate only places those not yet seen.
 */
function WindowedBody<T>({
  rows,
  rowKey,
  columns,
}: {
  rows: readonly T[];
  rowKey: (row: T) => string;
  columns: readonly Column<T>[];
}) {
  const body = useRef<HTMLTableSectionElement>(null);
  // Where the body starts in the page (the window scrolls, the rows start below the form), and
  // the mean height of the rows drawn: the estimate of those not drawn yet, so the page is about
  // as tall as all rows would make it (on a phone, rows wrap to three times the desktop height)
  // and a jump to its end lands on the last rows.
  const [scrollMargin, setScrollMargin] = useState(0);
  const [typicalRowPx, setTypicalRowPx] = useState(ESTIMATED_ROW_PX);
  useLayoutEffect(() => {
    if (!body.current) return;
    setScrollMargin(body.current.getBoundingClientRect().top + window.scrollY);
    const drawn = body.current.querySelectorAll('tr[data-index]');
    let height = 0;
    for (const row of drawn) height += row.getBoundingClientRect().height;
    if (drawn.length > 0) setTypicalRowPx(Math.round(height / drawn.length));
  });
  const virtualizer = useWindowVirtualizer({
    count: rows.length,
    estimateSize: () => typicalRowPx,
    overscan: OVERSCAN_ROWS,
    scrollMargin,
    // A new function each render: the virtualizer then places the rows again, with the estimate
    // of this render (measured rows keep their measured height).
    getItemKey: (index) => rowKey(rows[index]!),
    initialRect: { width: window.innerWidth, height: window.innerHeight },
  });
  const items = virtualizer.getVirtualItems();
  const first = items[0];
  const last = items.at(-1);
  const above = first ? first.start - scrollMargin : 0;
  const below = last ? virtualizer.getTotalSize() - (last.end - scrollMargin) : 0;
  return (
    <tbody ref={body}>
      {above > 0 && <Spacer height={above} columns={columns.length} />}
      {items.map((item) => (
        <DataRow
          key={item.key}
          row={rows[item.index]!}
          columns={columns}
          index={item.index}
          measure={virtualizer.measureElement}
        />
      ))}
      {below > 0 && <Spacer height={below} columns={columns.length} />}
    </tbody>
  );
}

/** Stands for the rows of a windowed table that are not drawn; hidden from assistive technology. */
function Spacer({ height, columns }: { height: number; columns: number }) {
  return (
    // biome-ignore lint/a11y/noAriaHiddenOnFocusable: a row with an empty cell is not focusable; hidden, it adds no row to the count
    <tr aria-hidden="true" className="spacer">
      <td colSpan={columns} style={{ height }} />
    </tr>
  );
}

/**
 * One row of a {@link DataTable}. `index` and `measure` are a windowed table's: the row's place
 * among all rows (`aria-rowindex` counts the header row as 1) and the callback that measures it.
 */
interface DataRowProps<T> {
  row: T;
  columns: readonly Column<T>[];
  index?: number;
  measure?: (element: HTMLTableRowElement | null) => void;
}

function DataRowOf<T>({ row, columns, index, measure }: DataRowProps<T>) {
  return (
    <tr
      ref={measure}
      data-index={index}
      aria-rowindex={index === undefined ? undefined : index + 2}
    >
      {columns.map((column) => (
        <td
          key={column.header}
          className={
            typeof column.className === 'function' ? column.className(row) : column.className
          }
        >
          {column.cell(row)}
        </td>
      ))}
    </tr>
  );
}

/** {@link DataRowOf} memoised: drawn again only when its item or the columns change. */
const DataRow = memo(DataRowOf) as <T>(props: DataRowProps<T>) => ReactNode;

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
