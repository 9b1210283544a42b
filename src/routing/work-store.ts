import type { Database, Queryable } from '../db/database.ts';
import { type AgedRows, columnList } from '../db/sql.ts';
import type { EventInstance } from '../events/event.ts';
import { EVENT_COLUMNS, type EventRow, toInstance } from '../events/rows.ts';
import { wildcardRegex } from './pattern.ts';
import {
  type ClaimedRow,
  HELD_KIND,
  type HeldWork,
  HOLDING_KIND,
  type HoldingKind,
  isHeldKind,
  type NewWork,
  type RoutingTarget,
  type TargetKind,
  type WorkOutcome,
  type WorkStatus,
} from './work.ts';

/**
 * The owner of the routing work table (`routing_work`) and of the routing state
 * (`routing_state`): every statement on them lives here, and so does the work key format.
 * Replays, dead letters, trigger firings and the outbox write call these functions.
 */

/**
 * Every (event, target) pair has one key: a retried or replayed routing cannot double it.
 * {@link replayWork} builds the same key in SQL (`kind:targetId:eventId`); a test holds the two
 * together.
 */
export const workKey = (target: Pick<RoutingTarget, 'kind' | 'id'>, eventId: string) =>
  `${target.kind}:${target.id}:${eventId}`;

/**
 * The key of an event's fan-out or firings row (its deliveries or trigger firings in one row;
 * routing/planner.ts): one of each per event. It never equals a {@link workKey} (those have
 * three parts). What the row holds keeps its own keys for the rows it gets once attempted.
 */
export const holdingKey = (kind: HoldingKind, eventId: string) => `${kind}:${eventId}`;

/**
 * The routing work insert as a CTE of a larger statement (the outbox write, ingest/outbox.ts),
 * its parameters numbered from `first`: only rows whose event_id is in `claimedEvents` (a CTE
 * of the same statement) are inserted.
 */
export function workInsertCte(first: number, claimedEvents: string): string {
  const p = (i: number) => `$${first + i}`;
  // The fan-out column is a jsonb[] of arrays, not a uuid[][]: unnest flattens 2-D arrays.
  return `INSERT INTO routing_work (id, kind, target_id, event_id, event_row_id, event_timestamp, sequence,
       idempotency_key, max_attempts, replay, fanout, next_attempt_at, created_at, updated_at)
     SELECT w.*, ${p(11)}::timestamp, ${p(11)}::timestamp, ${p(11)}::timestamp
       FROM unnest(${p(0)}::uuid[], ${p(1)}::varchar[], ${p(2)}::uuid[], ${p(3)}::varchar[],
         ${p(4)}::uuid[], ${p(5)}::timestamp[], ${p(6)}::int[], ${p(7)}::text[], ${p(8)}::int[],
         ${p(9)}::boolean[], ${p(10)}::jsonb[])
         AS w(id, kind, target_id, event_id, event_row_id, event_timestamp, sequence,
           idempotency_key, max_attempts, replay, fanout)
      WHERE w.event_id IN (SELECT event_id FROM ${claimedEvents})
     ON CONFLICT (idempotency_key) DO NOTHING
     RETURNING 1`;
}

/**
 * The channel on which a commit that added routing work notifies the workers of every
 * instance (PostgreSQL server; see routing/wiring.ts).
 */
export const WORK_CHANNEL = 'eps_routing_work';

/**
 * A CTE body sending one notification on {@link WORK_CHANNEL} when the CTE `work` (a
 * {@link workInsertCte}) inserted rows: PostgreSQL delivers it at commit, so once per commit,
 * not per event, and never for work that was rolled back. The statement must read this CTE
 * (a SELECT CTE that nothing reads is not run). Its payload is the parameter `instanceTag`
 * (e.g. `$25`) when the caller wakes its own workers in process after the commit (the outbox
 * write: `WorkWaker.instanceTag`), so that this instance's listener skips it; otherwise empty,
 * and every instance's workers, this one's too, are woken by it.
 */
export function workNotifyCte(work: string, instanceTag?: `$${number}`): string {
  const payload = instanceTag ? `${instanceTag}::text` : "''";
  return `SELECT pg_notify('${WORK_CHANNEL}', ${payload}) AS notified WHERE EXISTS (SELECT 1 FROM ${work})`;
}

/**
 * Queues work for stored events outside the outbox write (e.g. a wait's notification, once it
 * resolved), in the caller's transaction, with the work key of {@link workKey}: queued twice,
 * it is one row. Workers of every instance are notified at commit.
 */
export async function queueWork(
  tx: Queryable,
  work: Array<{ kind: TargetKind; targetId: string; eventId: string; maxAttempts: number }>,
  now: Date,
): Promise<void> {
  if (work.length === 0) return;
  await tx.query(
    `WITH work AS (
       INSERT INTO routing_work (id, kind, target_id, event_id, event_row_id, event_timestamp, sequence,
         idempotency_key, max_attempts, replay, next_attempt_at, created_at, updated_at)
       SELECT gen_random_uuid(), w.kind, w.target_id, w.event_id, e.id, e."timestamp", 0, w.key,
              w.max_attempts, false, $6, $6, $6
         FROM unnest($1::varchar[], $2::uuid[], $3::varchar[], $4::text[], $5::int[])
           AS w(kind, target_id, event_id, key, max_attempts)
         JOIN event_ids e ON e.event_id = w.event_id
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING 1),
     notify AS (${workNotifyCte('work')})
     SELECT EXISTS (SELECT 1 FROM notify) AS notified`,
    [
      work.map((w) => w.kind),
      work.map((w) => w.targetId),
      work.map((w) => w.eventId),
      work.map((w) => workKey({ kind: w.kind, id: w.targetId }, w.eventId)),
      work.map((w) => w.maxAttempts),
      now,
    ],
  );
}

/**
 * Queues work tied to no event (a wait's notice that it timed out or was cancelled: kind
 * `resume`, the only kind migration 0023 lets be event-less), in the caller's transaction. Its
 * key is {@link eventlessWorkKey}: queued twice for one reason, it is one row. Workers of every
 * instance are notified at commit.
 */
export async function queueEventlessWork(
  tx: Queryable,
  work: Array<{ kind: 'resume'; targetId: string; reason: string; maxAttempts: number }>,
  now: Date,
): Promise<void> {
  if (work.length === 0) return;
  await tx.query(
    `WITH work AS (
       INSERT INTO routing_work (id, kind, target_id, idempotency_key, max_attempts, replay,
         next_attempt_at, created_at, updated_at)
       SELECT gen_random_uuid(), w.kind, w.target_id, w.key, w.max_attempts, false, $5, $5, $5
         FROM unnest($1::varchar[], $2::uuid[], $3::text[], $4::int[])
           AS w(kind, target_id, key, max_attempts)
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING 1),
     notify AS (${workNotifyCte('work')})
     SELECT EXISTS (SELECT 1 FROM notify) AS notified`,
    [
      work.map((w) => w.kind),
      work.map((w) => w.targetId),
      work.map((w) => eventlessWorkKey({ kind: w.kind, id: w.targetId }, w.reason)),
      work.map((w) => w.maxAttempts),
      now,
    ],
  );
}

/**
 * The key of work tied to no event: its target and why it is queued. A target id is a uuid (no
 * `/`), so it never equals an event's {@link workKey}.
 */
export const eventlessWorkKey = (target: Pick<RoutingTarget, 'kind' | 'id'>, reason: string) =>
  `${target.kind}:${target.id}/${reason}`;

/**
 * The event id a work row of a kind has: every kind's work is tied to its event, but for a
 * wait's notice (`resume`) that it timed out or was cancelled.
 */
export type EventIdOf<K extends TargetKind> = K extends 'resume' ? string | null : string;

/** The newest work row of one target of a kind (e.g. a wait's notification), if any. */
export async function latestWorkOfTarget<K extends TargetKind>(
  db: Queryable,
  kind: K,
  targetId: string,
): Promise<WorkRecord<WorkOutcome, EventIdOf<K>> | undefined> {
  const { rows } = await db.query<WorkRecord<WorkOutcome, EventIdOf<K>>>(
    `SELECT ${WORK_RECORD_COLUMNS} FROM routing_work WHERE kind = $1 AND target_id = $2
      ORDER BY created_at DESC LIMIT 1`,
    [kind, targetId],
  );
  return rows[0];
}

/** The parameters of {@link workInsertCte}, in order. */
export function workInsertParams(work: NewWork[], now: Date): unknown[] {
  return [
    work.map((w) => w.id),
    work.map((w) => w.kind),
    work.map((w) => w.targetId),
    work.map((w) => w.eventId),
    work.map((w) => w.eventRowId),
    work.map((w) => w.eventTimestamp),
    work.map((w) => w.sequence),
    work.map((w) => w.idempotencyKey),
    work.map((w) => w.maxAttempts),
    work.map((w) => w.replay),
    work.map((w) => (w.fanout === null ? null : JSON.stringify(w.fanout))),
    now,
  ];
}

/**
 * A claimed row as the claim statement reads it: of one target, or a fan-out or firings row
 * (what it holds has its targets), which always has its event. The table checks both
 * (migrations 0023, 0027 and 0029).
 */
type ClaimRow = ClaimRowFields &
  (
    | { kind: TargetKind; target_id: string; fanout: null }
    | { kind: HoldingKind; target_id: null; fanout: HeldWork[]; event_id: string }
  );

interface ClaimRowFields {
  id: string;
  /** Null for work tied to no event (then so is `event_row_id`). */
  event_id: string | null;
  sequence: number;
  idempotency_key: string;
  attempts: number;
  max_attempts: number;
  replay: boolean;
  event_row_id: string | null;
  created_at: Date;
  /**
   * Null when the event is gone (retention), when there is none, or on every claimed row of the
   * event but its first; then the event columns are null too.
   */
  stored_id: string | null;
  receive_traceparent: string | null;
}

/**
 * Claims due rows — pending and due, running with an expired lease (its worker died), or a
 * fan-out or firings row an old release's worker recorded dead without attempting it (a rolling
 * upgrade; migrations 0028 and 0029) — for `leaseMs`, up to `deliveries` deliveries: a fan-out
 * row weighs its deliveries, any other row one (a firings row too, as a trigger head with its
 * followers does), and the first row is claimed whatever its weight. The claim
 * looks at up to `candidates` rows (locking each) and keeps them in claim order while their
 * deliveries fit; asking for about `deliveries` / deliveries per row (as the last claim found
 * them) keeps it from locking rows only to give them back. Trigger work fires in order within
 * an event: a trigger row waits while an earlier row of its event is unfinished, and the first
 * due row of an event (its head) is claimed together with the due rows that follow it with
 * nothing unfinished in between, so one round fires an event's triggers in order instead of one
 * round per trigger (an event's firings held in one row are claimed together anyway). Followers
 * come on top of `deliveries` (at most the number of triggers an event matched).
 */
export async function claimWork(
  db: Database,
  workerId: string,
  now: Date,
  leaseMs: number,
  deliveries: number,
  candidates = deliveries,
): Promise<ClaimedRow[]> {
  const { rows } = await db.transaction(async (tx) => {
    // The due rows must be read in next_attempt_at order from routing_work_due_idx, stopping
    // at `candidates`. A queue table's statistics rarely match its contents (a backlog builds
    // between autovacuum's analyses, and a new table has none), and with few rows estimated PostgreSQL
    // prefers a bitmap scan that fetches and sorts every due row: 8 ms instead of 0.1 ms per
    // claim behind a 20,000-row backlog. Bitmap scans are off for this statement only, at
    // the price of a transaction (three more round trips per round, not per row).
    await tx.query('SET LOCAL enable_bitmapscan = off');
    return claimStatement(tx, workerId, now, leaseMs, deliveries, candidates);
  });
  // Only the first claimed row of an event carries the event's columns (see claimStatement):
  // its other rows share that one instance (a delivery round also serialises each event once).
  const events = new Map<string, { event: EventInstance; traceparent: string | null }>();
  for (const r of rows)
    if (r.stored_id !== null && r.event_row_id !== null)
      events.set(r.event_row_id, {
        event: toInstance(r as EventRow),
        traceparent: r.receive_traceparent,
      });
  return rows.flatMap((r): ClaimedRow[] => {
    const stored = r.event_row_id === null ? undefined : events.get(r.event_row_id);
    const fields = {
      attempts: r.attempts,
      replay: r.replay,
      createdAt: r.created_at,
      ...(stored?.traceparent ? { receiveTraceparent: stored.traceparent } : {}),
    };
    if (r.fanout !== null) return heldWorkOf(r, { ...fields, event: stored?.event });
    const own = {
      ...fields,
      id: r.id,
      kind: r.kind,
      targetId: r.target_id,
      sequence: r.sequence,
      idempotencyKey: r.idempotency_key,
      maxAttempts: r.max_attempts,
    };
    if (r.event_id === null || r.event_row_id === null)
      return [{ ...own, eventId: null, event: null }];
    return [{ ...own, eventId: r.event_id, event: stored?.event }];
  });
}

/**
 * A claimed fan-out or firings row as the deliveries or firings it holds, each claimed as a row
 * of its own would be (handlers see no difference), sharing the row's attempts, lease and event.
 */
function heldWorkOf(
  row: { id: string; kind: HoldingKind; fanout: HeldWork[]; event_id: string },
  shared: Pick<ClaimedRow, 'attempts' | 'replay' | 'createdAt' | 'receiveTraceparent'> & {
    event: EventInstance | undefined;
  },
): ClaimedRow[] {
  const kind = HELD_KIND[row.kind];
  return row.fanout.map((held, sequence) => ({
    ...shared,
    id: held.id,
    kind,
    targetId: held.targetId,
    sequence,
    idempotencyKey: workKey({ kind, id: held.targetId }, row.event_id),
    maxAttempts: held.maxAttempts,
    eventId: row.event_id,
    fanoutId: row.id,
  }));
}

/** The kind of work the holding row `alias` holds ({@link HELD_KIND}), as SQL. */
const HELD_KIND_OF = (alias: string) =>
  `CASE ${alias}.kind ${Object.entries(HELD_KIND)
    .map(([holding, held]) => `WHEN '${holding}' THEN '${held}'`)
    .join(' ')} END`;

/** A row's weight in a claim's budget: a fan-out row's deliveries, 1 for any other row. */
const DELIVERIES = "CASE WHEN w.kind = 'fanout' THEN jsonb_array_length(w.fanout) ELSE 1 END";

function claimStatement(
  db: Queryable,
  workerId: string,
  now: Date,
  leaseMs: number,
  deliveries: number,
  candidates: number,
) {
  return db.query<ClaimRow & Partial<Omit<EventRow, 'event_id'>>>(CLAIM_SQL, [
    now,
    candidates,
    new Date(now.getTime() + leaseMs),
    workerId,
    deliveries,
  ]);
}

/**
 * The claim ({@link claimWork}): $1 now, $2 candidate rows, $3 lease end, $4 worker, $5
 * deliveries. Exported for its plan test.
 *
 * Index-friendly parts (an OR of them would scan every pending row): due pending rows in
 * next_attempt_at order, the followers of trigger heads, rows whose lease expired, and
 * fan-out or firings rows an old release's worker finished without attempting them. A follower
 * cannot be locked by another worker: while its head is pending, no claim takes it (the NOT
 * EXISTS below), and the head is locked by this statement.
 */
export const CLAIM_SQL = `WITH pending AS (
   SELECT w.id, w.kind, w.event_id, w.sequence, w.next_attempt_at,
          ${DELIVERIES} AS deliveries
     FROM routing_work w
    WHERE w.status = 'pending' AND w.next_attempt_at <= $1
      AND (w.kind <> 'trigger' OR NOT EXISTS (
            SELECT 1 FROM routing_work p
             WHERE p.event_id = w.event_id AND p.kind = 'trigger' AND p.sequence < w.sequence
               AND p.status IN ('pending', 'running')))
    ORDER BY w.next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED),
 abandoned AS (
   SELECT w.id, w.next_attempt_at, ${DELIVERIES} AS deliveries
     FROM routing_work w
    WHERE w.status = 'running' AND w.locked_until < $1
    LIMIT $2
    FOR UPDATE SKIP LOCKED),
 -- Fan-out or firings rows finished by a worker of a release before them (a rolling
 -- upgrade): it had no handler of them and recorded them dead, attempting nothing. This
 -- release never leaves one done or dead, so they are due work (the index of migrations
 -- 0028 and 0029, empty in steady state).
 orphaned AS (
   SELECT w.id, w.next_attempt_at, ${DELIVERIES} AS deliveries
     FROM routing_work w
    WHERE w.kind IN ('fanout', 'firings') AND w.status IN ('done', 'dead')
    LIMIT $2
    FOR UPDATE SKIP LOCKED),
 candidates AS (
   SELECT id, deliveries, 0 AS part, next_attempt_at FROM abandoned
   UNION ALL SELECT id, deliveries, 1, next_attempt_at FROM orphaned
   UNION ALL SELECT id, deliveries, 2, next_attempt_at FROM pending
   LIMIT $2),
 -- The candidates in claim order while their deliveries add up to the budget ($5), and the
 -- first one whatever its deliveries (a fan-out wider than the budget still runs). The
 -- candidates not kept stay pending; their row locks go when the transaction commits.
 first AS (
   SELECT id FROM (
     SELECT id, deliveries, sum(deliveries) OVER (
              ORDER BY part, next_attempt_at, id ROWS UNBOUNDED PRECEDING) AS so_far
       FROM candidates) c
    WHERE so_far <= $5 OR so_far = deliveries),
 -- The status test is written so that it does not match routing_work_due_idx's predicate:
 -- with stale statistics PostgreSQL otherwise walked every due row through that index for
 -- each head (30,000 rows and 170 heads: 339,000 rows read and dropped, 67 ms a claim)
 -- instead of the few rows of one event through routing_work_trigger_event_idx (2 ms).
 followers AS (
   SELECT f.id FROM pending h
     JOIN first ON first.id = h.id
     JOIN routing_work f ON f.event_id = h.event_id AND f.kind = 'trigger' AND f.sequence > h.sequence
    WHERE h.kind = 'trigger' AND (f.status = 'pending') IS TRUE AND f.next_attempt_at <= $1
      AND NOT EXISTS (
            SELECT 1 FROM routing_work b
             WHERE b.event_id = f.event_id AND b.kind = 'trigger'
               AND b.sequence > h.sequence AND b.sequence < f.sequence
               AND (b.status = 'running' OR (b.status = 'pending' AND b.next_attempt_at > $1)))
    FOR UPDATE OF f SKIP LOCKED),
 -- UNION, not UNION ALL: rows sharing a sequence (replays) could follow two heads.
 due AS (SELECT id FROM first UNION SELECT id FROM followers),
 -- By primary key, whatever the row estimates (as a join, fresh statistics made
 -- PostgreSQL hash a sequential scan of the whole table).
 -- An orphaned fan-out or firings row's attempts are not counted again: the old worker's claim counted
 -- one it never made (it sent nothing), and this claim's attempt takes its place.
 claimed AS (
   UPDATE routing_work w
      SET status = 'running', locked_until = $3, locked_by = $4, updated_at = $1,
          attempts = w.attempts + CASE WHEN w.status IN ('done', 'dead') THEN 0 ELSE 1 END
    WHERE w.id = ANY (ARRAY(SELECT id FROM due))
   RETURNING w.id, w.kind, w.target_id, w.fanout, w.event_id, w.sequence, w.idempotency_key,
     w.attempts, w.max_attempts, w.replay, w.created_at, w.event_row_id, w.event_timestamp),
 -- The first claimed row of each event: only it carries the event. A delivery round claims
 -- an event's rows together (10 per event in a common fan-out), and read with every row the
 -- event was sent, parsed (its JSON payload) and dropped 10 times over.
 firsts AS (
   SELECT DISTINCT ON (event_row_id) id FROM claimed
    WHERE event_row_id IS NOT NULL ORDER BY event_row_id, id)
 -- With its event (none when retention dropped it), in the same statement: no second read.
 -- One index lookup per event, its partition pruned at run time; OFFSET 0 keeps it so (as a
 -- join, a partition without statistics was scanned whole and hashed on every claim).
 SELECT c.id, c.kind, c.target_id, c.fanout, c.event_id, c.sequence, c.idempotency_key, c.attempts,
        c.max_attempts, c.replay, c.created_at, c.event_row_id, e.id AS stored_id,
        e.receive_traceparent, ${columnList(
          EVENT_COLUMNS.filter((column) => column !== 'event_id'),
          'e',
        )}
   FROM claimed c
   LEFT JOIN firsts f ON f.id = c.id
   LEFT JOIN LATERAL (
     SELECT * FROM events e
      WHERE f.id IS NOT NULL AND e.id = c.event_row_id AND e."timestamp" = c.event_timestamp
     OFFSET 0) e ON true`;

export interface Completion {
  status: Extract<WorkStatus, 'pending' | 'done' | 'dead'>;
  outcome: WorkOutcome;
  error: string | null;
  nextAttemptAt: Date;
  /** The claim's attempt did not happen (deferred): give it back. */
  uncount?: boolean;
  /** Done, and the handler logged the attempt itself (`WorkResult.logged`): delete the row. */
  forget?: boolean;
}

/**
 * One attempt to record: of a row of its own, or of a delivery or firing held in a fan-out or
 * firings row.
 */
export interface Recording {
  id: string;
  completion: Completion;
  /**
   * The delivery or firing is held in row `fanoutId`: what a row of its own needs, should it get
   * one (all a row holds must be recorded together; see {@link completeWork}).
   */
  fanout?: Pick<ClaimedRow, 'targetId' | 'sequence' | 'maxAttempts' | 'idempotencyKey'> & {
    fanoutId: string;
  };
}

/**
 * Records attempts in one statement; a row whose lease this worker lost to another is left
 * alone. Returns the ids recorded.
 *
 * Rows are found by primary key. `locked_by` alone says the row is still this worker's claim
 * (only a claim sets it, every completion clears it), so there is no `status = 'running'`
 * condition: with one, PostgreSQL chose a bitmap scan of the lease index, whose entries of
 * rows completed since the last vacuum it visits on every call (a bitmap scan never marks them
 * dead), and this statement grew from 11 µs to 138 µs per row under load.
 *
 * A fan-out row (an event's deliveries in one row; routing/planner.ts) is deleted once all its
 * deliveries are recorded — only when every one of them is in `done`, and still this
 * worker's claim — and in the same statement, for that deleted row alone, each delivery that
 * is not delivered-and-logged gets a row of its own, as if it had had one all along: pending
 * to retry (attempt counted) or deferred (not counted), dead, or done (skipped, filtered) as
 * the record of why. From then on retries, dead letters, redelivery and the pending list see
 * it as any delivery row. Its key is its own work key (ON CONFLICT: a replay that queued the
 * pair meanwhile keeps its row). A delivered one leaves no row, as a delivery row of its own
 * would not. A lost lease records none of the fan-out's deliveries: the worker that took it
 * over sends them again with the same ids. A firings row (an event's trigger firings) is
 * recorded the same way; a firing is never forgotten, so each gets its row (its history).
 */
export async function completeWork(
  db: Queryable,
  workerId: string,
  done: Recording[],
  now: Date,
): Promise<Set<string>> {
  if (done.length === 0) return new Set();
  const own = done.filter((d) => d.fanout === undefined);
  const forgotten = own.filter((d) => d.completion.forget);
  const kept = own.filter((d) => !d.completion.forget);
  const held = done.flatMap((d) => (d.fanout ? [{ ...d, fanout: d.fanout }] : []));
  const fanouts = new Map<string, number>();
  for (const d of held) fanouts.set(d.fanout.fanoutId, (fanouts.get(d.fanout.fanoutId) ?? 0) + 1);
  const materialised = held.filter((d) => !d.completion.forget);
  const { rows } = await db.query<{ id: string }>(
    `WITH forgotten AS (
       DELETE FROM routing_work WHERE id = ANY ($3::uuid[]) AND locked_by = $1 RETURNING id),
     kept AS (
       UPDATE routing_work w SET status = c.status, outcome = c.outcome, last_error = c.error,
         next_attempt_at = c.next_at, locked_until = NULL, locked_by = NULL, updated_at = $2,
         attempts = w.attempts - c.uncount
       FROM unnest($4::uuid[], $5::varchar[], $6::jsonb[], $7::text[], $8::timestamp[], $9::int[])
         AS c(id, status, outcome, error, next_at, uncount)
       WHERE w.id = c.id AND w.locked_by = $1
       RETURNING w.id),
     fanouts AS (
       DELETE FROM routing_work f USING unnest($10::uuid[], $11::int[]) AS g(id, deliveries)
        WHERE f.id = g.id AND f.locked_by = $1 AND jsonb_array_length(f.fanout) = g.deliveries
       RETURNING f.id, f.kind, f.event_id, f.event_row_id, f.event_timestamp, f.attempts, f.replay,
         f.created_at),
     materialised AS (
       INSERT INTO routing_work (id, kind, target_id, event_id, event_row_id, event_timestamp,
         sequence, idempotency_key, status, attempts, max_attempts, replay, outcome, last_error,
         next_attempt_at, created_at, updated_at)
       SELECT d.id, ${HELD_KIND_OF('f')}, d.target_id, f.event_id, f.event_row_id, f.event_timestamp,
              d.sequence, d.key, d.status, f.attempts - d.uncount, d.max_attempts, f.replay,
              d.outcome, d.error, d.next_at, f.created_at, $2
         FROM unnest($12::uuid[], $13::uuid[], $14::uuid[], $15::int[], $16::text[], $17::int[],
           $18::varchar[], $19::jsonb[], $20::text[], $21::timestamp[], $22::int[])
           AS d(fanout_id, id, target_id, sequence, key, max_attempts, status, outcome, error,
             next_at, uncount)
         JOIN fanouts f ON f.id = d.fanout_id
       ON CONFLICT (idempotency_key) DO NOTHING)
     SELECT id FROM forgotten UNION ALL SELECT id FROM kept UNION ALL SELECT id FROM fanouts`,
    [
      workerId,
      now,
      forgotten.map((d) => d.id),
      kept.map((d) => d.id),
      ...completionColumns(kept),
      [...fanouts.keys()],
      [...fanouts.values()],
      materialised.map((d) => d.fanout.fanoutId),
      materialised.map((d) => d.id),
      materialised.map((d) => d.fanout.targetId),
      materialised.map((d) => d.fanout.sequence),
      materialised.map((d) => d.fanout.idempotencyKey),
      materialised.map((d) => d.fanout.maxAttempts),
      ...completionColumns(materialised),
    ],
  );
  const recorded = new Set(rows.map((r) => r.id));
  return new Set(done.filter((d) => recorded.has(d.fanout?.fanoutId ?? d.id)).map((d) => d.id));
}

/** Status, outcome, error, next attempt and uncount of completions, as statement columns. */
function completionColumns(done: Recording[]): unknown[][] {
  return [
    done.map((d) => d.completion.status),
    done.map((d) => JSON.stringify(d.completion.outcome)),
    done.map((d) => d.completion.error),
    done.map((d) => d.completion.nextAttemptAt),
    done.map((d) => (d.completion.uncount ? 1 : 0)),
  ];
}

/**
 * Extends to `until` the leases this worker still holds on rows `ids` (a round running longer
 * than a third of its lease; routing/workers.ts). Rows recorded or taken over meanwhile are
 * left alone. Returns how many were renewed.
 */
export async function renewLeases(
  db: Queryable,
  workerId: string,
  ids: string[],
  until: Date,
): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE routing_work SET locked_until = $3
      WHERE id = ANY ($2::uuid[]) AND locked_by = $1 AND status = 'running'`,
    [workerId, ids, until],
  );
  return rowCount;
}

/**
 * A work row as the read routes show it; `O` is what its handler records as outcome, `E` its
 * event id (see {@link EventIdOf}).
 */
export interface WorkRecord<O extends WorkOutcome = WorkOutcome, E extends string | null = string> {
  id: string;
  kind: TargetKind;
  target_id: string;
  event_id: E;
  status: WorkStatus;
  attempts: number;
  max_attempts: number;
  replay: boolean;
  outcome: O | null;
  last_error: string | null;
  next_attempt_at: Date;
  created_at: Date;
  updated_at: Date;
}

const WORK_RECORD_COLUMNS = `id, kind, target_id, event_id, status, attempts, max_attempts, replay,
  outcome, last_error, next_attempt_at, created_at, updated_at`;

/**
 * The deliveries or firings held in fan-out or firings rows `f` (each `h.held` at position
 * `h.n`), as the work records their own rows would be: the holding row's status, attempts and
 * schedule, no outcome yet (what a row holds gets a row of its own at its first recorded
 * attempt). A row done or dead by an earlier release's worker is due work again (claimWork):
 * pending.
 */
const HELD_RECORD_COLUMNS = `(h.held->>'id')::uuid AS id,
  ${HELD_KIND_OF('f')} AS kind,
  (h.held->>'targetId')::uuid AS target_id, f.event_id,
  CASE WHEN f.status IN ('done', 'dead') THEN 'pending' ELSE f.status END AS status, f.attempts,
  (h.held->>'maxAttempts')::int AS max_attempts, f.replay, NULL::jsonb AS outcome,
  NULL::text AS last_error, f.next_attempt_at, f.created_at, f.updated_at`;
/**
 * Unfinished rows of `alias` (pending or running), written as an OR: PostgreSQL then reads them
 * through the due and lease indexes (partial on each status, combined in a bitmap), where with
 * `status IN ('pending', 'running')` it proves neither index usable and reads the whole table,
 * history included (EXPLAIN, 300,000 done rows: a sequential scan against two index scans).
 */
const UNFINISHED = (alias: string) =>
  `(${alias}.status = 'pending' OR ${alias}.status = 'running')`;
const HELD_BY_ROW =
  'routing_work f CROSS JOIN LATERAL jsonb_array_elements(f.fanout) WITH ORDINALITY AS h(held, n)';

/**
 * The trigger or processor work of one event, in firing order. The kind is a literal of each
 * statement: the trigger one has a partial index of its own. An event's firings still held in
 * its firings row are among them, in their order.
 */
const WORK_OF_EVENT = {
  trigger: `SELECT ${WORK_RECORD_COLUMNS} FROM (
      SELECT ${WORK_RECORD_COLUMNS}, sequence FROM routing_work WHERE event_id = $1 AND kind = 'trigger'
      UNION ALL
      SELECT ${HELD_RECORD_COLUMNS}, (h.n - 1)::int FROM ${HELD_BY_ROW} WHERE f.idempotency_key = $2) w
    ORDER BY sequence, created_at`,
  processor: `SELECT ${WORK_RECORD_COLUMNS} FROM routing_work WHERE event_id = $1 AND kind = 'processor' ORDER BY sequence, created_at`,
};

export async function workOfEvent<O extends WorkOutcome>(
  db: Queryable,
  kind: 'trigger' | 'processor',
  eventId: string,
): Promise<Array<WorkRecord<O>>> {
  const { rows } = await db.query<WorkRecord<O>>(
    WORK_OF_EVENT[kind],
    // The trigger statement also finds the event's firings row, by its key.
    kind === 'trigger' ? [eventId, holdingKey('firings', eventId)] : [eventId],
  );
  return rows;
}

/**
 * A trigger's or processor's work (its firings), newest first, optionally of one status. The
 * kind is a literal of each statement: each kind's history has a partial index of its own. A
 * trigger's firings still held in firings rows are among them (found by a containment test on
 * the unfinished rows, the queue, not the history).
 */
const FIRINGS_OF_TARGET = {
  trigger: `SELECT ${WORK_RECORD_COLUMNS}
       FROM routing_work WHERE target_id = $1 AND kind = 'trigger' AND ($2::text IS NULL OR status = $2)
     UNION ALL
     SELECT ${HELD_RECORD_COLUMNS} FROM ${HELD_BY_ROW}
      WHERE ${UNFINISHED('f')} AND f.kind = 'firings' AND ($2::text IS NULL OR f.status = $2)
        AND f.fanout @> jsonb_build_array(jsonb_build_object('targetId', $1::uuid))
        AND h.held->>'targetId' = $1::text
      ORDER BY created_at DESC, id LIMIT $3 OFFSET $4`,
  processor: `SELECT ${WORK_RECORD_COLUMNS}
       FROM routing_work WHERE target_id = $1 AND kind = 'processor' AND ($2::text IS NULL OR status = $2)
      ORDER BY created_at DESC, id LIMIT $3 OFFSET $4`,
};

export async function firingsOfTarget<O extends WorkOutcome>(
  db: Queryable,
  kind: 'trigger' | 'processor',
  targetId: string,
  query: { status?: WorkStatus; limit: number; offset: number },
): Promise<Array<WorkRecord<O>>> {
  const { rows } = await db.query<WorkRecord<O>>(FIRINGS_OF_TARGET[kind], [
    targetId,
    query.status ?? null,
    query.limit,
    query.offset,
  ]);
  return rows;
}

/**
 * One target's work not finished yet (pending, or running under a lease), next due first. Found
 * through the due and lease indexes, then by target: the unfinished rows are the queue, not
 * the history. A subscription's deliveries or a trigger's firings still held in fan-out or
 * firings rows are among them (HELD_RECORD_COLUMNS). A holding row is expanded only when it
 * holds the target (a containment test on the row's jsonb, cheaper than expanding every
 * unfinished row's deliveries to filter them).
 */
export async function unfinishedWorkOfTarget<O extends WorkOutcome>(
  db: Queryable,
  kind: TargetKind,
  targetId: string,
  limit: number,
  offset: number,
): Promise<Array<WorkRecord<O>>> {
  const { rows } = await db.query<WorkRecord<O>>(
    `SELECT ${WORK_RECORD_COLUMNS} FROM routing_work w
      WHERE ${UNFINISHED('w')} AND kind = $1 AND target_id = $2
     UNION ALL
     SELECT ${HELD_RECORD_COLUMNS} FROM ${HELD_BY_ROW}
      WHERE ${UNFINISHED('f')} AND f.kind = $5
        AND f.fanout @> jsonb_build_array(jsonb_build_object('targetId', $2::uuid))
        AND h.held->>'targetId' = $2::text
      ORDER BY next_attempt_at, id LIMIT $3 OFFSET $4`,
    [kind, targetId, limit, offset, holdingKindOf(kind)],
  );
  return rows;
}

/**
 * Puts dead work of a kind back in the queue with fresh attempts (dead-letter retry): one row,
 * or every dead row of a target; returns how many.
 */
export async function requeueDead(
  db: Queryable,
  which: { kind: TargetKind; id: string } | { kind: TargetKind; targetId: string },
  now: Date,
): Promise<number> {
  const [condition, params] =
    'id' in which
      ? ['kind = $2 AND id = $3', [which.kind, which.id]]
      : ['kind = $2 AND target_id = $3', [which.kind, which.targetId]];
  const { rowCount } = await db.query(
    `UPDATE routing_work SET status = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1, last_error = NULL
      WHERE status = 'dead' AND ${condition}`,
    [now, ...params],
  );
  return rowCount;
}

/**
 * What retention deletes of routing work: finished rows (done — fired, delivered, skipped,
 * filtered — and dead), by last change (index of migration 0015).
 */
export const FINISHED_WORK: AgedRows = {
  table: 'routing_work',
  time: 'updated_at',
  finished: "status IN ('done', 'dead')",
};

/**
 * The status of one work row of a kind, or of a delivery or firing still held in a fan-out or
 * firings row (the row's), or undefined when there is none.
 */
export async function workStatus(
  db: Queryable,
  kind: TargetKind,
  id: string,
): Promise<WorkStatus | undefined> {
  const { rows } = await db.query<{ status: WorkStatus }>(
    `SELECT status FROM routing_work WHERE id = $1 AND kind = $2
     UNION ALL
     SELECT f.status FROM routing_work f
      WHERE ${UNFINISHED('f')} AND f.kind = $3
        AND f.fanout @> jsonb_build_array(jsonb_build_object('id', $1::uuid))`,
    [id, kind, holdingKindOf(kind)],
  );
  return rows[0]?.status;
}

/** The kind of the rows that may hold work of `kind` (none: null). */
const holdingKindOf = (kind: TargetKind): HoldingKind | null =>
  isHeldKind(kind) ? HOLDING_KIND[kind] : null;

/**
 * Dead work of a kind (of one target when given), most recently dead first. `K` is the kind: a
 * wait's notifications (`resume`) may have no event.
 */
export async function deadWork<
  O extends WorkOutcome,
  K extends TargetKind = Exclude<TargetKind, 'resume'>,
>(
  db: Queryable,
  query: { kind: K; targetId?: string; limit: number; offset: number },
): Promise<Array<WorkRecord<O, EventIdOf<K>>>> {
  const { rows } = await db.query<WorkRecord<O, EventIdOf<K>>>(
    `SELECT ${WORK_RECORD_COLUMNS} FROM routing_work
      WHERE kind = $1 AND status = 'dead' AND ($2::uuid IS NULL OR target_id = $2::uuid)
      ORDER BY updated_at DESC, id LIMIT $3 OFFSET $4`,
    [query.kind, query.targetId ?? null, query.limit, query.offset],
  );
  return rows;
}

/** How many dead work rows of a kind each target has (the dead-letter gauge). */
export async function deadWorkCounts(
  db: Queryable,
  kind: TargetKind,
): Promise<Map<string, number>> {
  const { rows } = await db.query<{ target_id: string; n: number }>(
    `SELECT target_id, count(*)::int AS n FROM routing_work
      WHERE kind = $1 AND status = 'dead' GROUP BY target_id`,
    [kind],
  );
  return new Map(rows.map((r) => [r.target_id, r.n]));
}

/** Which stored events a replay routes to its target again. */
export interface ReplayScope {
  /** `timestamp(6)` text, inclusive. */
  start: string;
  /** `timestamp(6)` text, exclusive. */
  end: string;
  /** Route pairs that already have work again, as new work. */
  force: boolean;
  /** Narrows the target's own pattern (subscription replays); wildcards allowed. */
  pattern?: string;
}

/**
 * Queues routing work for `target` over the stored events of a time range, in one statement.
 * A pair that already has work keeps it (its idempotency key exists) unless `force`, which gives
 * the replay keys of its own.
 */
export async function replayWork(
  db: Queryable,
  target: Pick<RoutingTarget, 'kind' | 'id' | 'pattern' | 'maxAttempts'>,
  scope: ReplayScope,
  now: Date,
): Promise<{ matched: number; queued: number }> {
  const patterns = [target.pattern, scope.pattern ?? '**'].map(wildcardRegex);
  const { rows } = await db.query<{ matched: number; queued: number }>(
    // The key is workKey's format, with a suffix of its own when forced. Unforced, a delivery
    // or firing still held in its event's fan-out or firings row (holdingKey) is work the pair
    // has too.
    `WITH matched AS (
       SELECT id, event_id, "timestamp" FROM events
        WHERE "timestamp" >= $1::timestamp AND "timestamp" < $2::timestamp
          AND (pattern || '.') ~ $3 AND (pattern || '.') ~ $4),
     queued AS (
       INSERT INTO routing_work (id, kind, target_id, event_id, event_row_id, event_timestamp, sequence,
         idempotency_key, max_attempts, replay, next_attempt_at, created_at, updated_at)
       SELECT gen_random_uuid(), $5::varchar, $6::uuid, m.event_id, m.id, m."timestamp", 0,
              $5::varchar || ':' || $6::uuid || ':' || m.event_id
                || CASE WHEN $7 THEN ':replay:' || gen_random_uuid() ELSE '' END,
              $8, true, $9, $9, $9
         FROM matched m
        WHERE $7 OR $10::varchar IS NULL OR NOT EXISTS (
                SELECT 1 FROM routing_work f
                 WHERE f.idempotency_key = $10::varchar || ':' || m.event_id
                   AND f.fanout @> jsonb_build_array(jsonb_build_object('targetId', $6::uuid)))
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING 1)
     SELECT (SELECT count(*) FROM matched)::int AS matched, (SELECT count(*) FROM queued)::int AS queued`,
    [
      scope.start,
      scope.end,
      patterns[0],
      patterns[1],
      target.kind,
      target.id,
      scope.force,
      target.maxAttempts,
      now,
      holdingKindOf(target.kind),
    ],
  );
  return rows[0] ?? { matched: 0, queued: 0 };
}

/** Seconds the oldest due work has waited (0 when none is due): the routing lag. */
export async function routingLagSeconds(db: Queryable, now: Date): Promise<number> {
  const { rows } = await db.query<{ oldest: Date | null }>(
    `SELECT min(next_attempt_at) AS oldest FROM routing_work WHERE status = 'pending' AND next_attempt_at <= $1`,
    [now],
  );
  const oldest = rows[0]?.oldest;
  return oldest ? Math.max(0, (now.getTime() - oldest.getTime()) / 1000) : 0;
}

/** The version of the routing targets; every target change bumps it in its own transaction. */
export async function targetsVersion(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ v: number }>('SELECT targets_version AS v FROM routing_state');
  const version = rows[0]?.v;
  // The migration that creates routing_state inserts its one row.
  if (version === undefined) throw new Error('routing_state has no row');
  return version;
}

export async function bumpTargetsVersion(tx: Queryable): Promise<void> {
  await tx.query('UPDATE routing_state SET targets_version = targets_version + 1');
}
