import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { testBackends, useMigratedDatabase } from '../testing/backends.ts';
import type { HoldingKind } from './work.ts';
import {
  CLAIM_SQL,
  type Completion,
  claimWork,
  completeWork,
  firingsOfTarget,
  holdingKey,
  replayWork,
  unfinishedWorkOfTarget,
  workKey,
  workOfEvent,
  workStatus,
} from './work-store.ts';

const LEASE_MS = 1_000;
const start = new Date('2026-01-15T12:00:00.000Z');
const at = (ms: number) => new Date(start.getTime() + ms);

describe.each(testBackends())('routing work claims and completions on $name', (backend) => {
  const test = useMigratedDatabase(backend);
  const db = () => test.db();
  beforeEach(() => db().exec('TRUNCATE routing_work, events'));

  /**
   * A pending delivery row of event `name` due at `dueMs` after the start; of the stored event
   * row `eventRowId` (stored at the start), or of none (the event need not exist for a claim).
   */
  async function pending(name: string, dueMs: number, eventRowId?: string): Promise<string> {
    const { rows } = await db().query<{ id: string }>(
      `INSERT INTO routing_work (id, kind, target_id, event_id, event_row_id, event_timestamp,
         idempotency_key, max_attempts, next_attempt_at, created_at, updated_at)
       VALUES (gen_random_uuid(), 'delivery', gen_random_uuid(), $1, coalesce($4::uuid, gen_random_uuid()),
         $2, 'delivery:' || gen_random_uuid(), 5, $3, $2, $2)
       RETURNING id`,
      [name, start, at(dueMs), eventRowId ?? null],
    );
    return rows[0]!.id;
  }

  /** Stores event `name` at the start, with `{ name }` as its payload; its row id. */
  async function stored(name: string): Promise<string> {
    const { rows } = await db().query<{ id: string }>(
      `INSERT INTO events (id, event_id, pattern, version, "timestamp", payload, metadata, partition_key)
       VALUES (gen_random_uuid(), $1, 'orders.placed', '1.0.0', $2, $3, '{"tags":{}}', $1)
       RETURNING id`,
      [name, start, JSON.stringify({ name })],
    );
    return rows[0]!.id;
  }

  const claimedNames = async (workerId: string, nowMs: number, limit: number) =>
    (await claimWork(db(), workerId, at(nowMs), LEASE_MS, limit)).map((w) => w.eventId);

  const done = (id: string, forget: boolean) => ({
    id,
    completion: {
      status: 'done' as const,
      outcome: { status: 'delivered' },
      error: null,
      nextAttemptAt: start,
      ...(forget ? { forget } : {}),
    },
  });

  const statusOf = async (id: string) =>
    (await db().query<{ status: string }>('SELECT status FROM routing_work WHERE id = $1', [id]))
      .rows[0]?.status;

  it('claims due rows oldest first, up to the limit, and none that are not due yet', async () => {
    await pending('third', 300);
    await pending('first', 100);
    await pending('later', 5_000);
    await pending('second', 200);
    expect(await claimedNames('w', 1_000, 2)).toEqual(['first', 'second']);
    expect(await claimedNames('w', 1_000, 10)).toEqual(['third']);
    expect(await claimedNames('w', 1_000, 10)).toEqual([]);
  });

  it('deletes a logged done row, keeps an unlogged one as done', async () => {
    const logged = await pending('logged', 0);
    const unlogged = await pending('unlogged', 0);
    await claimWork(db(), 'w', at(0), LEASE_MS, 10);
    const recorded = await completeWork(
      db(),
      'w',
      [done(logged, true), done(unlogged, false)],
      at(1),
    );
    expect(recorded).toEqual(new Set([logged, unlogged]));
    expect(await statusOf(logged)).toBeUndefined();
    expect(await statusOf(unlogged)).toBe('done');
  });

  it('records nothing, not even a delete, for a worker whose lease was taken over', async () => {
    const id = await pending('contested', 0);
    expect(await claimedNames('a', 0, 10)).toEqual(['contested']);
    // a stalls past its lease; b takes the row over.
    expect(await claimedNames('b', LEASE_MS + 1, 10)).toEqual(['contested']);
    expect(await completeWork(db(), 'a', [done(id, true)], at(LEASE_MS + 2))).toEqual(new Set());
    expect(await statusOf(id)).toBe('running');
    expect(await completeWork(db(), 'b', [done(id, false)], at(LEASE_MS + 3))).toEqual(
      new Set([id]),
    );
    expect(await statusOf(id)).toBe('done');
  });

  it("hands every claimed row its event, however an event's rows are split across claims", async () => {
    // A claim reads each event once, with the first of its rows the claim took (7a7440e): the
    // others must get it too, in this claim and in later ones, and after a lease ran out.
    const events = ['e1', 'e2', 'e3'];
    const SUBSCRIPTIONS = 4;
    for (const name of events) {
      const rowId = await stored(name);
      for (let s = 0; s < SUBSCRIPTIONS; s++) await pending(name, 0, rowId);
    }
    const everyRowHasItsEvent = (claimed: Awaited<ReturnType<typeof claimWork>>) => {
      for (const work of claimed) {
        expect(work.event?.eventId, work.id).toBe(work.eventId);
        expect(work.event?.payload, work.id).toEqual({ name: work.eventId });
      }
    };
    const claimed: string[] = [];
    // 2 and 4 split the first events' rows across claims, 1 takes a single row, 100 the rest.
    for (const limit of [2, 4, 1, 100]) {
      const claim = await claimWork(db(), 'a', at(0), LEASE_MS, limit);
      expect(claim).toHaveLength(Math.min(limit, events.length * SUBSCRIPTIONS - claimed.length));
      everyRowHasItsEvent(claim);
      claimed.push(...claim.map((w) => w.id));
    }
    expect(new Set(claimed).size).toBe(events.length * SUBSCRIPTIONS);

    // a's leases run out unrecorded: b takes the rows over, split again.
    const takenOver: string[] = [];
    for (const limit of [3, 100]) {
      const claim = await claimWork(db(), 'b', at(LEASE_MS + 1), LEASE_MS, limit);
      everyRowHasItsEvent(claim);
      takenOver.push(...claim.map((w) => w.id));
    }
    expect(takenOver.sort()).toEqual(claimed.sort());
  });

  it("finds a trigger head's followers by its event, not through the due index", async () => {
    // A backlog of trigger rows, 5 per event, with whatever statistics the table has (none on
    // a new database). Reading followers through routing_work_due_idx walked every due row per
    // head: 67 ms a claim behind 30,000 rows instead of 2 (db7d5af).
    await db().query(
      `INSERT INTO routing_work (id, kind, target_id, event_id, event_row_id, event_timestamp,
         sequence, idempotency_key, max_attempts, next_attempt_at, created_at, updated_at)
       SELECT gen_random_uuid(), 'trigger', gen_random_uuid(), 'e' || e, gen_random_uuid(), $1,
              s, 'trigger:' || e || ':' || s, 5, $1, $1, $1
         FROM generate_series(1, 400) e, generate_series(0, 4) s`,
      [start],
    );
    const plan = await db().transaction(async (tx) => {
      await tx.query('SET LOCAL enable_bitmapscan = off');
      const { rows } = await tx.query<{ 'QUERY PLAN': unknown }>(
        `EXPLAIN (FORMAT JSON) ${CLAIM_SQL}`,
        [at(1), 200, at(LEASE_MS), 'w', 200],
      );
      return rows[0]!['QUERY PLAN'];
    });
    const followers = findNode(plan, (n) => n['Subplan Name'] === 'CTE followers');
    expect(followers).toBeDefined();
    const scans = (node: Record<string, unknown>): Record<string, unknown>[] => [
      ...(node['Relation Name'] === 'routing_work' ? [node] : []),
      ...((node.Plans as Record<string, unknown>[] | undefined) ?? []).flatMap(scans),
    ];
    // PostgreSQL renames the alias `f` (firsts is `f` too): f_1.
    const followerScans = scans(followers!).filter((n) => /^f(_\d+)?$/.test(String(n.Alias)));
    expect(followerScans).not.toEqual([]);
    for (const scan of followerScans) expect(scan['Index Name']).not.toBe('routing_work_due_idx');
  });

  describe("fan-out rows (an event's deliveries in one row)", () => {
    const TARGETS = ['a', 'b', 'c', 'd', 'e'].map((n) => `00000000-0000-4000-8000-00000000000${n}`);

    /**
     * A pending fan-out (or firings) row of stored event `name`, one delivery (or firing) per
     * target; their ids.
     */
    async function fanout(
      name: string,
      targets = TARGETS,
      kind: HoldingKind = 'fanout',
    ): Promise<string[]> {
      const rowId = await stored(name);
      const deliveries = targets.map((targetId) => ({
        id: randomUUID(),
        targetId,
        maxAttempts: 3,
      }));
      await db().query(
        `INSERT INTO routing_work (id, kind, target_id, fanout, event_id, event_row_id,
           event_timestamp, idempotency_key, max_attempts, next_attempt_at, created_at, updated_at)
         VALUES (gen_random_uuid(), $6, NULL, $1, $2, $3, $4, $5, 3, $4, $4, $4)`,
        [JSON.stringify(deliveries), name, rowId, start, holdingKey(kind, name), kind],
      );
      return deliveries.map((d) => d.id);
    }

    const rows = async () =>
      (
        await db().query<Record<string, unknown>>(
          `SELECT id, kind, target_id, status, attempts, max_attempts, idempotency_key,
                  outcome->>'status' AS outcome, last_error, next_attempt_at
             FROM routing_work ORDER BY kind, target_id`,
        )
      ).rows;

    const completion = (
      status: Completion['status'],
      outcome: string,
      more: Partial<Completion> = {},
    ): Completion => ({
      status,
      outcome: { status: outcome },
      error: null,
      nextAttemptAt: at(1),
      ...more,
    });

    /** What the worker pool records of a claimed delivery (see workers.ts). */
    const recording = (
      work: Awaited<ReturnType<typeof claimWork>>[number],
      completed: Completion,
    ) => ({
      id: work.id,
      completion: completed,
      fanout: {
        fanoutId: work.fanoutId!,
        targetId: work.targetId,
        sequence: work.sequence,
        maxAttempts: work.maxAttempts,
        idempotencyKey: work.idempotencyKey,
      },
    });

    /** Records every delivery of `claim` with one completion, `ms` after the start. */
    const recordAll = (
      workerId: string,
      claim: Awaited<ReturnType<typeof claimWork>>,
      completed: Completion,
      ms: number,
    ) =>
      completeWork(
        db(),
        workerId,
        claim.map((w) => recording(w, completed)),
        at(ms),
      );

    /** Records the deliveries of `claim` with a completion each, `ms` after the start. */
    const recordEach = (
      workerId: string,
      claim: Awaited<ReturnType<typeof claimWork>>,
      completions: Completion[],
      ms: number,
    ) =>
      completeWork(
        db(),
        workerId,
        claim.map((w, i) => recording(w, completions[i]!)),
        at(ms),
      );

    it('claims a fan-out row as its deliveries, each with its own id and key, sharing the event', async () => {
      const ids = await fanout('e1');
      const claimed = await claimWork(db(), 'w', at(0), LEASE_MS, 1);
      expect(claimed.map((w) => [w.id, w.kind, w.targetId, w.idempotencyKey])).toEqual(
        TARGETS.map((target, i) => [
          ids[i],
          'delivery',
          target,
          workKey({ kind: 'delivery', id: target }, 'e1'),
        ]),
      );
      for (const work of claimed) {
        expect(work).toMatchObject({ eventId: 'e1', attempts: 1, maxAttempts: 3 });
        expect(work.event?.payload).toEqual({ name: 'e1' });
      }
      expect(new Set(claimed.map((w) => w.fanoutId)).size).toBe(1);
      expect(await rows()).toEqual([
        expect.objectContaining({ kind: 'fanout', status: 'running' }),
      ]);
    });

    it('records a fan-out: no row for a delivered one, a row of its own for each other', async () => {
      const ids = await fanout('e1');
      const claimed = await claimWork(db(), 'w', at(0), LEASE_MS, 10);
      // In target order: delivered, retrying, paused, filtered, dead.
      const outcomes = [
        completion('done', 'delivered', { forget: true }),
        completion('pending', 'failed', { error: '500', nextAttemptAt: at(5_000) }),
        completion('pending', 'paused', { nextAttemptAt: at(9_000), uncount: true }),
        completion('done', 'filtered'),
        completion('dead', 'failed', { error: 'refused' }),
      ];
      const recorded = await recordEach('w', claimed, outcomes, 1);
      expect(recorded).toEqual(new Set(ids));
      const row = (i: number, more: Record<string, unknown>) => ({
        id: ids[i],
        kind: 'delivery',
        target_id: TARGETS[i],
        max_attempts: 3,
        idempotency_key: workKey({ kind: 'delivery', id: TARGETS[i]! }, 'e1'),
        last_error: null,
        next_attempt_at: at(1),
        ...more,
      });
      expect(await rows()).toEqual([
        row(1, {
          status: 'pending',
          attempts: 1,
          outcome: 'failed',
          last_error: '500',
          next_attempt_at: at(5_000),
        }),
        row(2, { status: 'pending', attempts: 0, outcome: 'paused', next_attempt_at: at(9_000) }),
        row(3, { status: 'done', attempts: 1, outcome: 'filtered' }),
        row(4, { status: 'dead', attempts: 1, outcome: 'failed', last_error: 'refused' }),
      ]);
      // The retrying delivery is claimed again as a row of its own, under the same id.
      expect(
        (await claimWork(db(), 'w', at(5_000), LEASE_MS, 10)).map((w) => [w.id, w.attempts]),
      ).toEqual([[ids[1], 2]]);
    });

    it('records nothing of a fan-out whose lease was taken over; the new claim has the same ids', async () => {
      const ids = await fanout('e1');
      const first = await claimWork(db(), 'a', at(0), LEASE_MS, 10);
      // a stalls (or dies) past its lease: b takes the row over, with the same deliveries.
      const second = await claimWork(db(), 'b', at(LEASE_MS + 1), LEASE_MS, 10);
      expect(second.map((w) => w.id)).toEqual(ids);
      expect(second.map((w) => w.attempts)).toEqual(ids.map(() => 2));
      const failed = completion('pending', 'failed', {
        error: '500',
        nextAttemptAt: at(LEASE_MS + 5_000),
      });
      expect(await recordAll('a', first, failed, LEASE_MS + 2)).toEqual(new Set());
      expect(await rows()).toEqual([
        expect.objectContaining({ kind: 'fanout', status: 'running' }),
      ]);
      const delivered = completion('done', 'delivered', { forget: true });
      expect(await recordAll('b', second, delivered, LEASE_MS + 3)).toEqual(new Set(ids));
      expect(await rows()).toEqual([]);
    });

    it.each(['fanout', 'firings'] as const)(
      "takes back a %s row an old release's worker recorded dead, its attempt not counted",
      async (kind) => {
        // A rolling upgrade: a worker of the release before such rows claims the row (its claim
        // takes any due row and counts an attempt), has no handler of it and records it dead.
        const ids = await fanout('e1', TARGETS, kind);
        await db().query(
          `UPDATE routing_work SET status = 'running', attempts = attempts + 1, locked_by = 'old',
           locked_until = $1`,
          [at(LEASE_MS)],
        );
        await db().query(
          `UPDATE routing_work SET status = 'dead', outcome = '{}', last_error = 'no handler for ' || kind || ' work',
           next_attempt_at = $1, locked_until = NULL, locked_by = NULL, updated_at = $1`,
          [at(1)],
        );
        const claimed = await claimWork(db(), 'w', at(2), LEASE_MS, 10);
        expect(claimed.map((w) => [w.id, w.attempts])).toEqual(ids.map((id) => [id, 1]));
        const finished = completion('done', 'delivered');
        expect(await recordAll('w', claimed, finished, 3)).toEqual(new Set(ids));
        expect((await rows()).map((r) => [r.id, r.status])).toEqual(ids.map((id) => [id, 'done']));
      },
    );

    it('claims deliveries up to the budget, the first row whatever its width, the rest left pending', async () => {
      const WIDTH = 10;
      const targets = Array.from({ length: WIDTH }, () => randomUUID());
      const eventsOf = (claim: Awaited<ReturnType<typeof claimWork>>) => [
        ...new Set(claim.map((w) => w.eventId)),
      ];
      for (const name of ['e1', 'e2', 'e3', 'e4']) await fanout(name, targets);
      // Budget 25 over up to 10 candidate rows: two rows (20 deliveries) fit, a third would not.
      const first = await claimWork(db(), 'a', at(0), LEASE_MS, 25, 10);
      expect(first).toHaveLength(2 * WIDTH);
      expect(eventsOf(first)).toHaveLength(2);
      // The rows not kept were not claimed: the next claim takes one, the first whatever its
      // width (wider than a budget of 5), and the one after it the last.
      const second = await claimWork(db(), 'b', at(0), LEASE_MS, 5, 10);
      expect(second).toHaveLength(WIDTH);
      expect(eventsOf(second)).toHaveLength(1);
      const third = await claimWork(db(), 'c', at(0), LEASE_MS, 25, 10);
      expect(third).toHaveLength(WIDTH);
      expect([...eventsOf(first), ...eventsOf(second), ...eventsOf(third)].sort()).toEqual([
        'e1',
        'e2',
        'e3',
        'e4',
      ]);
      expect(await claimWork(db(), 'd', at(0), LEASE_MS, 25, 10)).toEqual([]);
    });

    it('records nothing of a fan-out unless all its deliveries are recorded together', async () => {
      await fanout('e1');
      const claimed = await claimWork(db(), 'w', at(0), LEASE_MS, 10);
      const delivered = completion('done', 'delivered', { forget: true });
      expect(await recordAll('w', claimed.slice(1), delivered, 1)).toEqual(new Set());
      expect(await rows()).toEqual([
        expect.objectContaining({ kind: 'fanout', status: 'running' }),
      ]);
    });

    it.each([
      ['delivery', 'fanout'],
      ['trigger', 'firings'],
    ] as const)(
      'leaves a %s still held in a %s row to it on an unforced replay',
      async (kind, holding) => {
        await fanout('e1', [TARGETS[0]!, TARGETS[2]!], holding);
        const replay = (targetId: string, force: boolean) =>
          replayWork(
            db(),
            { kind, id: targetId, pattern: 'orders.placed', maxAttempts: 3 },
            { start: '2026-01-01 00:00:00', end: '2026-02-01 00:00:00', force },
            at(0),
          );
        expect(await replay(TARGETS[0]!, false)).toEqual({ matched: 1, queued: 0 });
        expect(await replay(TARGETS[1]!, false)).toEqual({ matched: 1, queued: 1 });
        expect(await replay(TARGETS[0]!, true)).toEqual({ matched: 1, queued: 1 });
      },
    );

    it("lists a target's deliveries still in fan-out rows among its unfinished work", async () => {
      const ids = await fanout('e1');
      await fanout('e2', [TARGETS[1]!, TARGETS[2]!]);
      const unfinished = async (target: string) =>
        (await unfinishedWorkOfTarget(db(), 'delivery', target, 10, 0)).map((w) => [
          w.id,
          w.kind,
          w.target_id,
          w.event_id,
          w.status,
          w.attempts,
        ]);
      expect(await unfinished(TARGETS[0]!)).toEqual([
        [ids[0], 'delivery', TARGETS[0], 'e1', 'pending', 0],
      ]);
      expect((await unfinished(TARGETS[2]!)).map((w) => w[3]).sort()).toEqual(['e1', 'e2']);
      expect(await unfinishedWorkOfTarget(db(), 'trigger', TARGETS[0]!, 10, 0)).toEqual([]);
      await claimWork(db(), 'w', at(0), LEASE_MS, 10);
      expect(await unfinished(TARGETS[0]!)).toEqual([
        [ids[0], 'delivery', TARGETS[0], 'e1', 'running', 1],
      ]);
    });

    describe("firings rows (an event's trigger firings in one row)", () => {
      const firings = (name: string, targets = TARGETS) => fanout(name, targets, 'firings');

      it('claims a firings row as its firings in order, weighing one row in the budget', async () => {
        const e1 = await firings('e1');
        const e2 = await firings('e2', TARGETS.slice(0, 2));
        const claimed = await claimWork(db(), 'w', at(0), LEASE_MS, 2);
        expect(claimed.map((w) => [w.id, w.kind, w.eventId, w.sequence, w.idempotencyKey])).toEqual(
          [
            ...TARGETS.map((target, i) => [
              e1[i],
              'trigger',
              'e1',
              i,
              workKey({ kind: 'trigger', id: target }, 'e1'),
            ]),
            ...e2.map((id, i) => [
              id,
              'trigger',
              'e2',
              i,
              workKey({ kind: 'trigger', id: TARGETS[i]! }, 'e2'),
            ]),
          ],
        );
        expect(claimed.every((w) => w.event?.payload !== undefined)).toBe(true);
      });

      it('gives each firing a row of its own when recorded; a retrying one holds back the later ones', async () => {
        const ids = await firings('e1', TARGETS.slice(0, 3));
        const claimed = await claimWork(db(), 'w', at(0), LEASE_MS, 10);
        // As the trigger handler answers when the second firing fails: the third waits for it.
        const outcomes = [
          completion('done', 'started'),
          completion('pending', 'failed', { error: 'down', nextAttemptAt: at(5_000) }),
          completion('pending', 'pending', { nextAttemptAt: at(1), uncount: true }),
        ];
        const recorded = await recordEach('w', claimed, outcomes, 1);
        expect(recorded).toEqual(new Set(ids));
        expect((await rows()).map((r) => [r.id, r.kind, r.status, r.attempts, r.outcome])).toEqual([
          [ids[0], 'trigger', 'done', 1, 'started'],
          [ids[1], 'trigger', 'pending', 1, 'failed'],
          [ids[2], 'trigger', 'pending', 0, 'pending'],
        ]);
        // The third is due, but waits behind the second; when that is due both are claimed, in order.
        expect(await claimWork(db(), 'w', at(2), LEASE_MS, 10)).toEqual([]);
        expect(
          (await claimWork(db(), 'w', at(5_000), LEASE_MS, 10)).map((w) => [w.id, w.sequence]),
        ).toEqual([
          [ids[1], 1],
          [ids[2], 2],
        ]);
      });

      it('hands a firings row whose worker died to another, with the same firings; the first records nothing', async () => {
        const ids = await firings('e1', TARGETS.slice(0, 2));
        const first = await claimWork(db(), 'a', at(0), LEASE_MS, 10);
        const second = await claimWork(db(), 'b', at(LEASE_MS + 1), LEASE_MS, 10);
        expect(second.map((w) => [w.id, w.kind, w.sequence, w.attempts])).toEqual([
          [ids[0], 'trigger', 0, 2],
          [ids[1], 'trigger', 1, 2],
        ]);
        const started = completion('done', 'started');
        expect(await recordAll('a', first, started, LEASE_MS + 2)).toEqual(new Set());
        expect(await recordAll('b', second, started, LEASE_MS + 3)).toEqual(new Set(ids));
        expect((await rows()).map((r) => [r.id, r.kind, r.status, r.attempts])).toEqual([
          [ids[0], 'trigger', 'done', 2],
          [ids[1], 'trigger', 'done', 2],
        ]);
      });

      it("lists an event's and a trigger's firings still held in a firings row, and their status", async () => {
        const ids = await firings('e1', TARGETS.slice(0, 3));
        const ofEvent = await workOfEvent(db(), 'trigger', 'e1');
        expect(ofEvent.map((w) => [w.id, w.kind, w.target_id, w.status, w.outcome])).toEqual(
          ids.map((id, i) => [id, 'trigger', TARGETS[i], 'pending', null]),
        );
        const ofTarget = await firingsOfTarget(db(), 'trigger', TARGETS[1]!, {
          limit: 10,
          offset: 0,
        });
        expect(ofTarget.map((w) => [w.id, w.event_id, w.status])).toEqual([
          [ids[1], 'e1', 'pending'],
        ]);
        expect(
          await firingsOfTarget(db(), 'trigger', TARGETS[1]!, {
            status: 'dead',
            limit: 10,
            offset: 0,
          }),
        ).toEqual([]);
        expect(await workStatus(db(), 'trigger', ids[2]!)).toBe('pending');
        expect(await workStatus(db(), 'processor', ids[2]!)).toBeUndefined();
        await claimWork(db(), 'w', at(0), LEASE_MS, 10);
        expect(await workStatus(db(), 'trigger', ids[2]!)).toBe('running');
      });
    });
  });
});

/** The first node of an EXPLAIN (FORMAT JSON) plan, depth first, that `match` accepts. */
function findNode(
  plan: unknown,
  match: (node: Record<string, unknown>) => boolean,
): Record<string, unknown> | undefined {
  if (Array.isArray(plan)) {
    for (const item of plan) {
      const found = findNode(item, match);
      if (found) return found;
    }
    return undefined;
  }
  if (plan === null || typeof plan !== 'object') return undefined;
  const node = plan as Record<string, unknown>;
  if (match(node)) return node;
  return findNode(node.Plan ?? node.Plans, match);
}
