import { useQuery } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { Link, useLocation, useSearch } from 'wouter';
import { call, eps } from '../api.ts';
import type { StoredEvent } from '../types.ts';
import { type Column, DataTable, Loaded, NewerOlder, time } from '../ui.tsx';

/** The filters of GET /v1/events the form offers; they live in the page's address. */
const FILTERS = [
  { name: 'pattern', label: 'Pattern', placeholder: 'orders.* or **.failed' },
  { name: 'correlationId', label: 'Correlation id' },
  { name: 'source.type', label: 'Source type' },
  { name: 'source.id', label: 'Source id' },
  { name: 'tags', label: 'Tags', placeholder: 'region=eu, tier=gold' },
  { name: 'startTime', label: 'From', type: 'datetime-local' },
  { name: 'endTime', label: 'Until', type: 'datetime-local' },
  { name: 'payload', label: 'Payload contains (JSON)', placeholder: '{"orderId":"o-1"}' },
] as const;

type FilterName = (typeof FILTERS)[number]['name'];
const TIME_FILTERS = new Set<FilterName>(['startTime', 'endTime']);
const PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

/**
 * `region=eu, tier=gold` as GET /v1/events' `tag.region=eu&tag.tier=gold` (every tag must match);
 * an entry without `=` is left out.
 */
function tagFilters(text: string): Record<string, string> {
  const filters: Record<string, string> = {};
  for (const entry of text.split(',')) {
    const at = entry.indexOf('=');
    const name = entry.slice(0, at).trim();
    if (at > 0 && name) filters[`tag.${name}`] = entry.slice(at + 1).trim();
  }
  return filters;
}

function queryOf(params: URLSearchParams, cursor: string | undefined) {
  const query: Record<string, string | number> = {};
  for (const { name } of FILTERS) {
    const value = params.get(name);
    if (!value) continue;
    if (name === 'tags') {
      Object.assign(query, tagFilters(value));
      continue;
    }
    // datetime-local has no zone: it is the browser's local time.
    query[name] = TIME_FILTERS.has(name) ? new Date(value).toISOString() : value;
  }
  const limit = Number(params.get('limit'));
  query.limit = limit > 0 ? Math.min(limit, MAX_PAGE_SIZE) : PAGE_SIZE;
  if (cursor) query.cursor = cursor;
  return query;
}

const EVENT_COLUMNS: Column<StoredEvent>[] = [
  { header: 'Time', cell: (event) => time(event.timestamp) },
  {
    header: 'Pattern',
    cell: (event) => (
      <>
        <code>{event.pattern}</code> <span className="muted">v{event.version}</span>
      </>
    ),
  },
  {
    header: 'Source',
    cell: (event) => (event.source ? `${event.source.type}/${event.source.id}` : '—'),
  },
  {
    header: 'Correlation',
    cell: ({ metadata: { correlationId } }) =>
      correlationId && (
        <Link href={`/events?${new URLSearchParams({ correlationId })}`}>{correlationId}</Link>
      ),
  },
  {
    header: 'Event',
    cell: (event) => <Link href={`/events/${event.eventId}`}>{event.eventId}</Link>,
  },
];

function FilterForm({ params }: { params: URLSearchParams }) {
  const [, navigate] = useLocation();
  const [values, setValues] = useState(() =>
    Object.fromEntries(FILTERS.map(({ name }) => [name, params.get(name) ?? ''])),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [name, value] of Object.entries(values))
      if (value.trim()) next.set(name, value.trim());
    if (params.get('limit')) next.set('limit', params.get('limit')!);
    navigate(`/events?${next}`);
  };
  return (
    <form className="filters panel" onSubmit={submit} aria-label="Event filters">
      {FILTERS.map((filter) => (
        <div key={filter.name} className="field">
          <label htmlFor={`filter-${filter.name}`}>{filter.label}</label>
          <input
            id={`filter-${filter.name}`}
            type={'type' in filter ? filter.type : 'text'}
            placeholder={'placeholder' in filter ? filter.placeholder : undefined}
            value={values[filter.name]}
            onChange={(event) => setValues({ ...values, [filter.name]: event.target.value })}
          />
        </div>
      ))}
      <div className="field actions">
        <button type="submit" className="primary">
          Search
        </button>
      </div>
    </form>
  );
}

export default function Events() {
  const search = useSearch();
  const params = new URLSearchParams(search);
  // Cursor paging: the cursors of the pages before this one, to go back.
  const [cursors, setCursors] = useState<string[]>([]);
  // The pager sits below the table: a new page opens at its top, as a reader expects (and the
  // windowed table draws its first rows), not at the bottom where the button was clicked.
  const turnPage = (next: string[]) => {
    setCursors(next);
    window.scrollTo({ top: 0 });
  };
  const [pageFor, setPageFor] = useState(search);
  if (pageFor !== search) {
    setPageFor(search);
    setCursors([]);
  }
  const cursor = cursors.at(-1);
  const events = useQuery({
    queryKey: ['events', search, cursor],
    queryFn: () => call(eps.GET('/v1/events', { params: { query: queryOf(params, cursor) } })),
    placeholderData: (previous) => previous,
  });
  return (
    <>
      <h1>Events</h1>
      <FilterForm key={search} params={params} />
      <Loaded query={events}>
        {({ events: list, pagination }) => (
          <>
            <p className="muted" aria-live="polite">
              {pagination.total}
              {pagination.totalExact === false ? '+' : ''} matching events
            </p>
            <DataTable
              className="events-table"
              windowed
              rows={list}
              rowKey={(event) => event.eventId}
              columns={EVENT_COLUMNS}
            />
            <NewerOlder
              label="Pages"
              onNewer={cursors.length > 0 ? () => turnPage(cursors.slice(0, -1)) : undefined}
              onOlder={
                pagination.hasMore && pagination.nextCursor
                  ? () => turnPage([...cursors, pagination.nextCursor!])
                  : undefined
              }
            />
          </>
        )}
      </Loaded>
    </>
  );
}
