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
