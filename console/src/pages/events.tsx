import { queryOptions, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useEffect, useState } from 'react';
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

/**
 * How long a page after a cursor is taken as current: it holds events stamped before the cursor,
 * which change only when one arrives late or retention drops them, so a page fetched ahead (see
 * Events) is shown without being asked for again. The first page gains every new event: it is
 * asked for again whenever it is shown.
 */
const PAGE_AFTER_CURSOR_FRESH_MS = 60_000;

/** One page of events: the filters in the address (`search`), from `cursor` on. */
const eventsPage = (search: string, cursor: string | undefined) =>
  queryOptions({
    queryKey: ['events', search, cursor],
    staleTime: cursor ? PAGE_AFTER_CURSOR_FRESH_MS : 0,
    queryFn: () =>
      call(
        eps.GET('/v1/events', { params: { query: queryOf(new URLSearchParams(search), cursor) } }),
      ),
  });

/** How far below the viewport the pager may be when the older page is fetched ahead. */
const NEAR_PAGER_PX = 1500;

/**
 * Runs `update` (the page's next state) in a task after this one, once the request for the new
 * page's events (asked for just before; the page's query then finds it under way) has left:
 * Chromium sends a fetch's request only when the main thread is free, and drawing the page again
 * first held the request back by as long as that took (10-20 ms of a submitted filter's time).
 */
const afterRequestLeaves = (update: () => void) => setTimeout(update);

/**
 * Whether the browser asks to save data (`navigator.connection.saveData`, Chromium's data
 * saver): then the next page is not fetched before it is asked for.
 */
const savingData = () =>
  (navigator as { connection?: { saveData?: boolean } }).connection?.saveData === true;

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
  const queryClient = useQueryClient();
  const [values, setValues] = useState(() =>
    Object.fromEntries(FILTERS.map(({ name }) => [name, params.get(name) ?? ''])),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [name, value] of Object.entries(values))
      if (value.trim()) next.set(name, value.trim());
    if (params.get('limit')) next.set('limit', params.get('limit')!);
    void queryClient.prefetchQuery(eventsPage(next.toString(), undefined));
    afterRequestLeaves(() => navigate(`/events?${next}`));
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
  const queryClient = useQueryClient();
  // Cursor paging: the cursors of the pages before this one, to go back.
  const [cursors, setCursors] = useState<string[]>([]);
  // The pager sits below the table: a new page opens at its top, as a reader expects (and the
  // windowed table draws its first rows), not at the bottom where the button was clicked.
  const turnPage = (next: string[]) => {
    void queryClient.prefetchQuery(eventsPage(search, next.at(-1)));
    afterRequestLeaves(() => {
      setCursors(next);
      window.scrollTo({ top: 0 });
    });
  };
  const [pageFor, setPageFor] = useState(search);
  if (pageFor !== search) {
    setPageFor(search);
    setCursors([]);
  }
  const cursor = cursors.at(-1);
  const events = useQuery({
    ...eventsPage(search, cursor),
    placeholderData: (previous) => previous,
  });
  // The older page is fetched once the reader nears the pager, so Older opens it from the cache,
  // as a reader of a paged log expects; not for a reader who only filters (a page of 1,000
  // events is about 450 KB), not while the previous page stands in for this one (its cursor is
  // another query's), nor when the browser asks to save data.
  const [pager, setPager] = useState<HTMLElement | null>(null);
  const older = events.isPlaceholderData ? undefined : events.data?.pagination.nextCursor;
  useEffect(() => {
    if (!older || !pager || savingData()) return;
    const near = new IntersectionObserver(
      (entries) => {
        if (!entries.some((entry) => entry.isIntersecting)) return;
        near.disconnect();
        void queryClient.prefetchQuery(eventsPage(search, older));
      },
      { rootMargin: `0px 0px ${NEAR_PAGER_PX}px 0px` },
    );
    near.observe(pager);
    return () => near.disconnect();
  }, [queryClient, search, older, pager]);
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
            <div ref={setPager}>
              <NewerOlder
                label="Pages"
                onNewer={cursors.length > 0 ? () => turnPage(cursors.slice(0, -1)) : undefined}
                onOlder={
                  pagination.hasMore && pagination.nextCursor
                    ? () => turnPage([...cursors, pagination.nextCursor!])
                    : undefined
                }
              />
            </div>
          </>
        )}
      </Loaded>
    </>
  );
}
