import type { Queryable } from '../db/database.ts';
import { columnList } from '../db/sql.ts';
import { notFound } from '../errors.ts';
import type { EventInstance } from '../events/event.ts';
import { EVENT_COLUMNS, type EventRow, STORED_EVENT_JSON_SQL, toInstance } from '../events/rows.ts';
import { buildConditions, type EventQuery, encodeCursor } from './query.ts';

/** Counting stops here: past it `total` is a lower bound and `totalExact` is false. */
export const EXACT_TOTAL_LIMIT = 10_000;

/** Events of one correlation, at most this many in a trace. */
export const TRACE_LIMIT = 10_000;

/**
 * An event as the read API answers it: the wire format, plus `id`, the reference API's name for
 * the event's id (the same value as `eventId`, so either one finds it again).
 */
export type StoredEvent = EventInstance & { id: string };

const toStoredEvent = (row: EventRow): StoredEvent => ({ id: row.event_id, ...toInstance(row) });

/**
 * A page of GET /v1/events. `eventsJson` is the events' JSON text (`STORED_EVENT_JSON_SQL` in
 * events/rows.ts), joined with commas; {@link pageJson} makes the answer of it.
 */
export interface EventPage {
  eventsJson: string;
  pagination: {
    total: number;
    totalExact: boolean;
    limit: number;
    offset: number;
    hasMore: boolean;
    nextCursor: string | null;
  };
}

export interface TraceNode extends StoredEvent {
  children: TraceNode[];
}

/** A page read as one row: its events' JSON and the last event's place (see EventStore.query). */
interface PageRow {
  events: string;
  /** Rows read: one more than the page holds when there are more. */
  fetched: number;
  /** Rows in the page: fewer than read when the limit or the byte budget stopped it. */
  kept: number;
  last_id: string | null;
  last_time: string | null;
}

/**
 * Where the next page starts. In ascending order the last page has one too, so a poller can
 * resume where it stopped (an empty page hands back the cursor it was given). It follows
 * timestamps, which publishers choose: an event stamped before the cursor that arrives later is
 * not seen; `GET /v1/events/stream` follows commit order and misses nothing.
 */
function nextCursor(query: EventQuery, hasMore: boolean, last: PageRow) {
  if (last.last_id !== null && last.last_time !== null && (hasMore || query.order === 'asc')) {
    return encodeCursor({ time: last.last_time, id: last.last_id });
  }
  return query.order === 'asc' ? (query.cursor ?? null) : null;
}

/** A page as GET /v1/events answers it: its response schema, the events' JSON text as it is. */
export const pageJson = (page: EventPage): string =>
  `{"events":[${page.eventsJson}],"pagination":${JSON.stringify(page.pagination)}}`;

/** Reads of the event store. */
export class EventStore {
  /**
   * @param pageMaxBytes where a page of {@link query} stops: the most bytes of events' JSON it
   * holds, unless its first event alone is larger (config `eventsPageMaxBytes`).
   */
  constructor(
    private readonly db: Queryable,
    private readonly pageMaxBytes: number,
  ) {}

  /**
   * One page, read as one row: the database joins the events' JSON into one text and names the
   * last event, where the next page starts (1,001 rows of text, each crossing into JavaScript on
   * its own, made a page of 1,000 take 10-25% longer on PGlite). One row more than the page is
   * read, to know whether more follow.
   *
   * The page also stops at `pageMaxBytes` of events' JSON: events may be up to the body limit
   * each, and 1,000 of them would make a text past PostgreSQL's 1 GB and V8's string limits,
   * with one request's memory unbounded well before. A running sum of each event's JSON length
   * in the page's order keeps the events that fit; the first is kept whatever its size, so
   * paging always progresses. Sums only grow, so the kept rows are a prefix of the order and the
   * cursor of the last one continues exactly after it.
   *
   * The lengths are the ones the outbox stored with each event (`json_bytes`), so the rows read
   * carry their columns as stored (large payloads stay TOAST references) and only the kept ones
   * are written as JSON, by the aggregate whose FILTER passes them: the database's work is the
   * budget's, not limit + 1 events' JSON (1,000 events of 1 MiB made 1 GB to send 4 MiB). Events
   * stored before the column existed have none and are measured by writing their JSON, as all
   * were before.
   */
  async query(query: EventQuery): Promise<EventPage> {
    const { whereSql, params } = buildConditions(query);
    const direction = query.order === 'asc' ? 'ASC' : 'DESC';
    const order = `"timestamp" ${direction}, id ${direction}`;
    const limit = `$${params.length + 1}::int`;
    const { rows } = await this.db.query<PageRow>(
      `SELECT coalesce(string_agg(${STORED_EVENT_JSON_SQL}, ',' ORDER BY n) FILTER (WHERE kept), '') AS events,
              count(*)::int AS fetched,
              count(*) FILTER (WHERE kept)::int AS kept,
              (array_agg(id ORDER BY n DESC) FILTER (WHERE kept))[1] AS last_id,
              (array_agg(to_char("timestamp", 'YYYY-MM-DD HH24:MI:SS.US') ORDER BY n DESC)
                FILTER (WHERE kept))[1] AS last_time
         FROM (SELECT *, n <= ${limit} AND (n = 1 OR bytes <= $${params.length + 3}::bigint) AS kept
                 FROM (SELECT limited.*, row_number() OVER page_order AS n,
                              sum(json_bytes) OVER page_order AS bytes
                         FROM (SELECT ${columnList(EVENT_COLUMNS)}, id,
                                      coalesce(json_bytes, octet_length(${STORED_EVENT_JSON_SQL})) AS json_bytes
                                 FROM events ${whereSql}
                                ORDER BY ${order}
                                LIMIT ${limit} + 1 OFFSET $${params.length + 2}) limited
                       WINDOW page_order AS (ORDER BY ${order} ROWS UNBOUNDED PRECEDING)) numbered) page`,
      [...params, query.limit, query.offset, this.pageMaxBytes],
    );
    const counted = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM events ${whereSql} LIMIT ${EXACT_TOTAL_LIMIT + 1}) counted`,
      params,
    );
    const page = rows[0]!;
    // A row read past the page, whether the limit or the byte budget left it out.
    const hasMore = page.fetched > page.kept;
    const total = Math.min(counted.rows[0]!.n, EXACT_TOTAL_LIMIT);
    return {
      eventsJson: page.events,
      pagination: {
        // With a cursor the keyset condition is part of the filter: total counts what follows it.
        total,
        totalExact: counted.rows[0]!.n <= EXACT_TOTAL_LIMIT,
        limit: query.limit,
        offset: query.offset,
        hasMore,
        nextCursor: nextCursor(query, hasMore, page),
      },
    };
  }

  async get(eventId: string): Promise<StoredEvent> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${columnList(EVENT_COLUMNS, 'e')}
         FROM event_ids i JOIN events e ON e.id = i.id AND e."timestamp" = i."timestamp"
        WHERE i.event_id = $1`,
      [eventId],
    );
    if (!rows[0]) throw notFound(`event ${eventId}`);
    return toStoredEvent(rows[0]);
  }

  /** 404 unless an event with this id is stored (for routes about an event's consequences). */
  async requireExists(eventId: string): Promise<void> {
    const { rows } = await this.db.query('SELECT 1 FROM event_ids WHERE event_id = $1', [eventId]);
    if (!rows[0]) throw notFound(`event ${eventId}`);
  }

  /** Everything that happened in the event's correlation, children under their causes. */
  async trace(
    eventId: string,
  ): Promise<{ correlationId: string; truncated: boolean; events: TraceNode[] }> {
    const event = await this.get(eventId);
    const { correlationId } = event.metadata;
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${columnList(EVENT_COLUMNS)} FROM events WHERE metadata->>'correlationId' = $1
        ORDER BY "timestamp", id LIMIT ${TRACE_LIMIT + 1}`,
      [correlationId],
    );
    return {
      correlationId,
      truncated: rows.length > TRACE_LIMIT,
      events: causalTree(rows.slice(0, TRACE_LIMIT).map(toStoredEvent)),
    };
  }
}

/**
 * Nests each event under the event its causationId names. Events arrive in time order, so
 * children keep that order. An event whose cause is missing, or whose causation chain loops
 * back to itself (bad data), is a root.
 */
export function causalTree(events: StoredEvent[]): TraceNode[] {
  const nodes = new Map<string, TraceNode>();
  const parentOf = new Map<string, string>();
  for (const event of events) nodes.set(event.eventId, { ...event, children: [] });
  const roots: TraceNode[] = [];
  const loopsBack = (start: string, to: string) => {
    for (
      let id: string | undefined = start, steps = 0;
      id !== undefined && steps <= nodes.size;
      id = parentOf.get(id), steps++
    ) {
      if (id === to) return true;
    }
    return false;
  };
  for (const node of nodes.values()) {
    const cause = node.metadata.causationId;
    const parent = cause === undefined ? undefined : nodes.get(cause);
    if (parent && !loopsBack(parent.eventId, node.eventId)) {
      parentOf.set(node.eventId, parent.eventId);
      parent.children.push(node);
    } else {
      roots.push(node);
    }
  }
  return roots;
}
