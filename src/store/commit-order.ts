import type { Queryable } from '../db/database.ts';
import { columnList, SqlConditions } from '../db/sql.ts';
import { fieldError, validationError } from '../errors.ts';
import type { EventInstance } from '../events/event.ts';
import { EVENT_COLUMNS, type EventRow, toInstance } from '../events/rows.ts';
import type { Conditions } from './query.ts';

/**
 * Reads of events in commit order, for the live stream (src/stream/). Every event row holds the
 * id of the transaction that stored it (`commit_xid`) and a sequence number (`commit_seq`,
 * increasing within a transaction); see migration 0011.
 *
 * Why not the timestamp or the id: `timestamp` is chosen by the publisher, and neither it nor
 * the UUIDv7 id is in commit order — two group commits in flight at once, or two instances,
 * commit in either order, so a reader that remembered "the last value I saw" would skip a row
 * that commits just after with a smaller value. Transaction ids are handed out before the rows
 * are written, so they are not in commit order either; what makes them usable is the
 * snapshot's `xmin`: every transaction with an id below it has ended. A read takes only rows
 * below the horizon, in (commit_xid, commit_seq) order: its snapshot's xmin, leaving out the
 * transactions of other databases' sessions, which can write no event here (the function
 * `events_commit_horizon()` of migration 0024, where the argument why this is safe is written).
 * A transaction of this database still in flight therefore holds back everything positioned
 * after it, never lets it pass: no gaps, no duplicates, and the same order for every reader
 * and across restarts. The price is latency: an event shows once every transaction of this
 * database that took an id before its own has ended (milliseconds here; a transaction left open
 * in this database holds the stream back while it is open, as it holds back logical
 * replication — one open in another database of the server does not).
 */

/**
 * The horizon as SQL (migration 0024): every transaction of this database with a smaller id has
 * ended, and a later one takes a larger id. STABLE, so it uses the calling statement's snapshot;
 * a sub-select, so it is computed once per statement.
 */
const HORIZON = '(SELECT events_commit_horizon())';

/** A position in commit order; decimal text, since xid8 and bigint exceed 2^53. */
export interface CommitPosition {
  xid: string;
  seq: string;
}

const POSITION = /^(\d{1,20})-(\d{1,20})$/;

/** The wire form of a position: `<xid>-<seq>`, the stream's event ids and `?after=`. */
export const formatPosition = (p: CommitPosition) => `${p.xid}-${p.seq}`;

export function parsePosition(text: string, field: string): CommitPosition {
  const match = POSITION.exec(text.trim());
  if (!match) {
    throw validationError('invalid stream position', [
      fieldError(field, 'invalid', 'is not an event id of this stream (<number>-<number>)'),
    ]);
  }
  return { xid: BigInt(match[1]!).toString(), seq: BigInt(match[2]!).toString() };
}

/** Whether `a` comes after `b` in commit order. */
export function isAfter(a: CommitPosition, b: CommitPosition): boolean {
  const [ax, bx] = [BigInt(a.xid), BigInt(b.xid)];
  return ax !== bx ? ax > bx : BigInt(a.seq) > BigInt(b.seq);
}

/**
 * The position before everything not yet readable: every row after it belongs to a transaction
 * that had not ended when this was read. A reader starting here sees what commits from now on.
 */
export async function currentPosition(db: Queryable): Promise<CommitPosition> {
  const { rows } = await db.query<{ horizon: string }>(`SELECT ${HORIZON}::text AS horizon`);
  return { xid: rows[0]!.horizon, seq: '0' };
}

export interface PositionedEvent {
  position: CommitPosition;
  event: EventInstance;
  /** When its transaction began (`created_at`): the commit time waits count from. */
  committedAt: Date;
}

interface PositionedRow extends EventRow {
  position_xid: string;
  position_seq: string;
  created_at: Date;
}

/**
 * Up to `limit` events after `after` in commit order, matching `conditions` (the GET /v1/events
 * filter conditions), among rows whose transactions have ended; none after `upTo` when given.
 */
export async function readAfter(
  db: Queryable,
  after: CommitPosition,
  conditions: Conditions,
  limit: number,
  upTo?: CommitPosition,
): Promise<PositionedEvent[]> {
  const params = [...conditions.params, after.xid, after.seq, limit];
  const n = conditions.params.length;
  const filters = conditions.where.map((condition) => `AND ${condition}`).join(' ');
  const bound = upTo ? `AND (commit_xid, commit_seq) <= ($${n + 4}::xid8, $${n + 5}::bigint)` : '';
  const { rows } = await db.query<PositionedRow>(
    // Text for JavaScript, under other names: ORDER BY would otherwise sort the text.
    `SELECT ${columnList(EVENT_COLUMNS)}, commit_xid::text AS position_xid, commit_seq::text AS position_seq,
            created_at
       FROM events
      WHERE (commit_xid, commit_seq) > ($${n + 1}::xid8, $${n + 2}::bigint)
        AND commit_xid < ${HORIZON} ${bound} ${filters}
      ORDER BY commit_xid, commit_seq
      LIMIT $${n + 3}`,
    upTo ? [...params, upTo.xid, upTo.seq] : params,
  );
  return rows.map(toPositioned);
}

const toPositioned = (row: PositionedRow): PositionedEvent => ({
  position: { xid: row.position_xid, seq: row.position_seq },
  event: toInstance(row),
  committedAt: row.created_at,
});

/** An event's place: where it is stored (its primary key), its position and its commit time. */
export interface EventPlace {
  id: string;
  /** The partition column, as text: exact to the microsecond. */
  storedTimestamp: string;
  position: CommitPosition;
  committedAt: Date;
}

/**
 * The places of up to `limit` events matching `conditions`, newest commit time first, among
 * those whose transactions ended before `below` (a position from {@link currentPosition}): a
 * fixed set, since no transaction below it can add one. With a pattern and a lower bound on the
 * commit time among the conditions, the index of migration 0021 reads these rows and no others.
 */
export async function newestPlaces(
  db: Queryable,
  conditions: Conditions,
  below: CommitPosition,
  limit: number,
): Promise<EventPlace[]> {
  const n = conditions.params.length;
  const { rows } = await db.query<{
    id: string;
    stored_timestamp: string;
    position_xid: string;
    position_seq: string;
    created_at: Date;
  }>(
    `SELECT id, "timestamp"::text AS stored_timestamp, commit_xid::text AS position_xid,
            commit_seq::text AS position_seq, created_at
       FROM events
      WHERE commit_xid < $${n + 1}::xid8 ${conditions.where.map((c) => `AND ${c}`).join(' ')}
      ORDER BY created_at DESC
      LIMIT $${n + 2}`,
    [...conditions.params, below.xid, limit],
  );
  return rows.map((row) => ({
    id: row.id,
    storedTimestamp: row.stored_timestamp,
    position: { xid: row.position_xid, seq: row.position_seq },
    committedAt: row.created_at,
  }));
}

/** The events at `places`, in commit order, each through the primary key. */
export async function eventsAt(db: Queryable, places: EventPlace[]): Promise<PositionedEvent[]> {
  if (places.length === 0) return [];
  const { rows } = await db.query<PositionedRow>(
    `SELECT ${columnList(EVENT_COLUMNS, 'e')}, e.commit_xid::text AS position_xid,
            e.commit_seq::text AS position_seq, e.created_at
       FROM unnest($1::uuid[], $2::timestamp[]) AS p(id, stored_timestamp)
       JOIN events e ON e.id = p.id AND e."timestamp" = p.stored_timestamp
      ORDER BY e.commit_xid, e.commit_seq`,
    [places.map((p) => p.id), places.map((p) => p.storedTimestamp)],
  );
  return rows.map(toPositioned);
}

/**
 * The conditions of events of one pattern committed at or after `since`, with
 * `metadata.correlationId` equal to `correlationId` when given (through its index).
 */
export function committedSinceConditions(query: {
  pattern: string;
  since: Date;
  correlationId?: string;
}): Conditions {
  const conditions = new SqlConditions()
    .add((p) => `pattern = ${p}`, query.pattern)
    .add((p) => `created_at >= ${p}`, query.since);
  if (query.correlationId !== undefined)
    conditions.add((p) => `(metadata->>'correlationId') = ${p}`, query.correlationId);
  return conditions;
}
