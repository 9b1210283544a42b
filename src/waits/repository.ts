import type { Queryable } from '../db/database.ts';
import { type AgedRows, onlyRow, SqlConditions } from '../db/sql.ts';
import type { EventInstance } from '../events/event.ts';
import type { CommitPosition } from '../store/commit-order.ts';
import type { Wait, WaitNotify, WaitRule, WaitStatus } from './wait.ts';

/** The owner of the `waits` and `wait_resolver` tables: every statement on them lives here. */

interface WaitRow {
  id: string;
  pattern: string;
  condition: string | null;
  correlation_key: string;
  key_path: string;
  status: WaitStatus;
  window_start: Date;
  timeout: string;
  lookback: string | null;
  expires_at: Date;
  notify: WaitNotify;
  workflow_instance_id: string | null;
  event: EventInstance | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
  lookback_truncated: boolean;
}

/** The notification target as shown: a URL's secret never leaves the service. */
function shownNotify(notify: WaitNotify): Wait['notify'] {
  return 'url' in notify ? { url: notify.url } : notify;
}

function toWait(row: WaitRow): Wait {
  return {
    id: row.id,
    pattern: row.pattern,
    condition: row.condition,
    correlationKey: row.correlation_key,
    correlationKeyPath: row.key_path === '' ? null : row.key_path,
    status: row.status,
    timeout: row.timeout,
    lookback: row.lookback,
    notify: shownNotify(row.notify),
    expiresAt: row.expires_at.toISOString(),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
    ...(row.lookback_truncated ? { lookbackFrom: row.window_start.toISOString() } : {}),
    ...(row.event ? { event: row.event } : {}),
  };
}

const toRule = (
  row: Pick<
    WaitRow,
    'id' | 'pattern' | 'correlation_key' | 'key_path' | 'condition' | 'window_start'
  >,
): WaitRule => ({
  id: row.id,
  pattern: row.pattern,
  correlationKey: row.correlation_key,
  keyPath: row.key_path,
  condition: row.condition,
  windowStart: row.window_start,
});

const RULE_COLUMNS = 'id, pattern, correlation_key, key_path, condition, window_start';

/** A wait to insert. */
export interface NewWait {
  id: string;
  pattern: string;
  condition: string | null;
  correlationKey: string;
  keyPath: string;
  timeout: string;
  lookback: string | null;
  lookbackMs: number;
  expiresAt: Date;
  notify: WaitNotify;
  workflowInstanceId: string | null;
}

/**
 * Inserts a waiting wait, unless one has its id (then nothing: undefined). Its window starts at the transaction's own time minus the lookback,
 * the clock of `events.created_at`, so the two compare without a skew between clocks.
 */
export async function insertWait(
  tx: Queryable,
  wait: NewWait,
  now: Date,
): Promise<WaitRule | undefined> {
  const { rows } = await tx.query<WaitRow>(
    `INSERT INTO waits (id, pattern, condition, correlation_key, key_path, status, window_start,
         timeout, lookback, expires_at, notify, workflow_instance_id, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, 'waiting', now()::timestamp - make_interval(secs => $6::double precision / 1000),
         $7, $8, $9, $10, $11, $12, $12)
       ON CONFLICT (id) DO NOTHING
       RETURNING ${RULE_COLUMNS}`,
    [
      wait.id,
      wait.pattern,
      wait.condition,
      wait.correlationKey,
      wait.keyPath,
      wait.lookbackMs,
      wait.timeout,
      wait.lookback,
      wait.expiresAt,
      JSON.stringify(wait.notify),
      wait.workflowInstanceId,
      now,
    ],
  );
  return rows[0] && toRule(rows[0]);
}

/**
 * Moves a wait's window start later (its lookback was narrowed at registration), so the resolver
 * counts from where the lookback did.
 */
export async function narrowWindow(tx: Queryable, id: string, windowStart: Date): Promise<void> {
  await tx.query('UPDATE waits SET window_start = $2, lookback_truncated = true WHERE id = $1', [
    id,
    windowStart,
  ]);
}

export async function findWait(db: Queryable, id: string): Promise<Wait | undefined> {
  const { rows } = await db.query<WaitRow>('SELECT * FROM waits WHERE id = $1', [id]);
  return rows[0] && toWait(rows[0]);
}

export interface WaitFilters {
  correlationKey?: string;
  status?: WaitStatus;
  workflowInstanceId?: string;
  limit: number;
  offset: number;
}

/** Waits matching the filters, newest first, and how many match. */
export async function listWaits(
  db: Queryable,
  filters: WaitFilters,
): Promise<{ waits: Wait[]; total: number }> {
  const where = new SqlConditions()
    .equal('correlation_key', filters.correlationKey)
    .equal('status', filters.status)
    .equal('workflow_instance_id', filters.workflowInstanceId);
  const { rows } = await db.query<WaitRow & { total: string }>(
    `SELECT *, count(*) OVER () AS total FROM waits ${where.whereSql}
      ORDER BY created_at DESC, id LIMIT ${where.after(1)} OFFSET ${where.after(2)}`,
    [...where.params, filters.limit, filters.offset],
  );
  return { waits: rows.map(toWait), total: Number(rows[0]?.total ?? 0) };
}

/**
 * Ends a waiting wait as `status`; answers the wait as it is afterwards, and whom to notify when
 * this call ended it (undefined: no such wait).
 */
export async function finishWait(
  db: Queryable,
  id: string,
  status: Extract<WaitStatus, 'cancelled'>,
  now: Date,
): Promise<{ ended: Ended | undefined; wait: Wait } | undefined> {
  const { rows } = await db.query<WaitRow>(
    `UPDATE waits SET status = $2, updated_at = $3, finished_at = $3
      WHERE id = $1 AND status = 'waiting' RETURNING *`,
    [id, status, now],
  );
  const row = rows[0];
  if (row) return { ended: { id, notify: row.notify, status }, wait: toWait(row) };
  const wait = await findWait(db, id);
  return wait && { ended: undefined, wait };
}

/**
 * What retention deletes of waits: those that ended (resolved, timed out, cancelled), by when
 * they ended (index of migration 0020). Waiting ones are never deleted.
 */
export const FINISHED_WAITS: AgedRows = {
  table: 'waits',
  time: 'finished_at',
  finished: "status <> 'waiting'",
};

/** A resolution: the wait and the event that resolved it. */
export interface Resolution {
  waitId: string;
  event: EventInstance;
}

/** A wait just resolved: whom to notify of which event. */
export interface Resolved {
  id: string;
  notify: WaitNotify;
  eventId: string;
}

/** Resolves the waits that are still waiting; answers those it resolved. */
export async function resolveWaits(
  tx: Queryable,
  resolutions: Resolution[],
  now: Date,
): Promise<Resolved[]> {
  if (resolutions.length === 0) return [];
  const { rows } = await tx.query<{ id: string; notify: WaitNotify; event_id: string }>(
    `UPDATE waits w SET status = 'resolved', event_id = r.event->>'eventId', event = r.event,
            updated_at = $3, finished_at = $3
       FROM unnest($1::uuid[], $2::jsonb[]) AS r(id, event)
      WHERE w.id = r.id AND w.status = 'waiting'
      RETURNING w.id, w.notify, w.event_id`,
    [resolutions.map((r) => r.waitId), resolutions.map((r) => JSON.stringify(r.event)), now],
  );
  return rows.map((r) => ({ id: r.id, notify: r.notify, eventId: r.event_id }));
}

/** What a notification needs of its wait: the stored target (secret sealed) and the wait. */
export async function findResolution(
  db: Queryable,
  id: string,
): Promise<{ notify: WaitNotify; wait: Wait } | undefined> {
  const { rows } = await db.query<WaitRow>('SELECT * FROM waits WHERE id = $1', [id]);
  return rows[0] && { notify: rows[0].notify, wait: toWait(rows[0]) };
}

/** A wait just ended without an event (timed out or cancelled): whom to notify. */
export interface Ended {
  id: string;
  notify: WaitNotify;
  status: Extract<WaitStatus, 'timed_out' | 'cancelled'>;
}

/**
 * Times out up to `limit` waits whose timeout passed; answers those it ended. A wait a
 * concurrent resolution or cancel ended first is left as that ended it (`status = 'waiting'` is
 * checked again on the row once its lock is had).
 */
export async function timeOutWaits(tx: Queryable, now: Date, limit: number): Promise<Ended[]> {
  const { rows } = await tx.query<{ id: string; notify: WaitNotify }>(
    `UPDATE waits SET status = 'timed_out', updated_at = $1, finished_at = $1
      WHERE id IN (SELECT id FROM waits WHERE status = 'waiting' AND expires_at <= $1
                    ORDER BY expires_at LIMIT $2)
        AND status = 'waiting'
      RETURNING id, notify`,
    [now, limit],
  );
  return rows.map((r) => ({ id: r.id, notify: r.notify, status: 'timed_out' }));
}

/** The key paths of the open waits ('' is metadata.correlationId): a loose scan of their index. */
export async function openKeyPaths(tx: Queryable): Promise<string[]> {
  const { rows } = await tx.query<{ key_path: string }>(
    `WITH RECURSIVE paths AS (
       (SELECT key_path FROM waits WHERE status = 'waiting' ORDER BY key_path LIMIT 1)
       UNION ALL
       SELECT (SELECT w.key_path FROM waits w
                WHERE w.status = 'waiting' AND w.key_path > p.key_path ORDER BY w.key_path LIMIT 1)
         FROM paths p WHERE p.key_path IS NOT NULL)
     SELECT key_path FROM paths WHERE key_path IS NOT NULL`,
  );
  return rows.map((r) => r.key_path);
}

/** A (pattern, key path, key) an event could resolve. */
export interface WaitKey {
  pattern: string;
  keyPath: string;
  correlationKey: string;
}

/**
 * The open waits of the given keys, through their index: one probe of `waits_open_match_idx`
 * — (pattern, correlation_key, key_path), partial on `status = 'waiting'`, so ended waits are
 * not in it — per key, a nested loop over the keys (EXPLAIN on PostgreSQL with 100,000 open
 * waits: 500 keys in 3.5 ms). A round's cost per event is its keys (one per distinct key path
 * of the open waits) and does not grow with their number, as triggers are matched through the
 * pattern index rather than one by one; bench/waits.ts measures it with few and with 100,000
 * open waits. That plan needs statistics that know how many waits are open: with none (a fresh
 * table on a server without autovacuum) or stale ones (analysed while few were open) the
 * planner chose a hash join over every open wait, 17-92 ms instead of ~1 ms per call with
 * 100,000 open (README, Waits note).
 */
export async function openWaitsOf(tx: Queryable, keys: WaitKey[]): Promise<WaitRule[]> {
  if (keys.length === 0) return [];
  const { rows } = await tx.query<WaitRow>(
    `SELECT ${RULE_COLUMNS.split(', ')
      .map((c) => `w.${c}`)
      .join(', ')}
       FROM (SELECT DISTINCT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[])) AS k(pattern, key_path, key)
       JOIN waits w ON w.pattern = k.pattern AND w.correlation_key = k.key AND w.key_path = k.key_path
      WHERE w.status = 'waiting'`,
    [keys.map((k) => k.pattern), keys.map((k) => k.keyPath), keys.map((k) => k.correlationKey)],
  );
  return rows.map(toRule);
}

/**
 * The resolver's position, locked: `share` by registrations (many at once), exclusively by the
 * resolver, so the two never overlap (see src/waits/service.ts).
 */
export async function lockResolverPosition(
  tx: Queryable,
  mode: 'share' | 'exclusive',
): Promise<CommitPosition> {
  const row = onlyRow(
    await tx.query<{ xid: string; seq: string }>(
      `SELECT position_xid::text AS xid, position_seq::text AS seq FROM wait_resolver
        FOR ${mode === 'share' ? 'SHARE' : 'UPDATE'}`,
    ),
  );
  return row;
}

/** Whether any wait is waiting. */
export async function anyOpenWait(tx: Queryable): Promise<boolean> {
  const { rows } = await tx.query<{ open: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM waits WHERE status = 'waiting') AS open`,
  );
  return rows[0]?.open ?? false;
}

/** Moves the resolver's position to `to` (everything up to it was matched). */
export async function advanceResolver(tx: Queryable, to: CommitPosition): Promise<void> {
  await tx.query('UPDATE wait_resolver SET position_xid = $1::xid8, position_seq = $2::bigint', [
    to.xid,
    to.seq,
  ]);
}
