import type { EventInstance } from './event.ts';

/** How an event comes out of the `events` table: the columns of {@link EVENT_COLUMNS}. */
export interface EventRow {
  event_id: string;
  pattern: string;
  version: string;
  source: EventInstance['source'] | null;
  timestamp: Date;
  payload: EventInstance['payload'];
  metadata: EventInstance['metadata'];
}

/** The columns of `events` that make an {@link EventInstance} (see `columnList` in db/sql.ts). */
export const EVENT_COLUMNS = [
  'event_id',
  'pattern',
  'version',
  'source',
  'timestamp',
  'payload',
  'metadata',
] as const;

/** A stored row in the wire format: times in UTC with milliseconds, no `source` when none. */
export function toInstance(row: EventRow): EventInstance {
  return {
    eventId: row.event_id,
    pattern: row.pattern,
    version: row.version,
    ...(row.source ? { source: row.source } : {}),
    timestamp: row.timestamp.toISOString(),
    payload: row.payload,
    metadata: row.metadata,
  };
}

/** `toISOString`'s text of a `timestamp` column: past year 9999 its extended form `+0YYYYY`. */
function isoTimeSql(column: string): string {
  const format = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
  return `CASE WHEN ${column} < '10000-01-01' THEN to_char(${column}, ${format})
    ELSE '+0' || to_char(${column}, ${format}) END`;
}

/**
 * A row of `events` (its columns of {@link EVENT_COLUMNS}, unqualified) as the JSON text of a
 * stored event in the read API (GET /v1/events: {@link toInstance} plus `id`, the eventId),
 * written by the database: a page of 1,000 events spent most of its time reading payloads and
 * metadata into objects and serialising them again. The outbox stores its byte length with each
 * event (`json_bytes`), so a page measures its events without writing them. Times are `toISOString`'s (milliseconds truncated, as the Date a read
 * makes; an event stamped 9999-12-31 in a zone west of UTC is stored in year 10000); `source` is
 * left out when there is none. Keys come in another order than the serialiser's (JSON objects
 * have none); store.test.ts checks that both give the same events.
 */
export const STORED_EVENT_JSON_SQL = `(CASE WHEN source IS NULL
    THEN json_build_object('id', event_id, 'eventId', event_id, 'pattern', pattern,
      'version', version, 'timestamp', ${isoTimeSql('"timestamp"')}, 'payload', payload,
      'metadata', metadata)
    ELSE json_build_object('id', event_id, 'eventId', event_id, 'pattern', pattern,
      'version', version, 'source', source, 'timestamp', ${isoTimeSql('"timestamp"')},
      'payload', payload, 'metadata', metadata)
  END)::text`;
