import { beforeEach, describe, expect, it } from 'vitest';
import { testBackends, useMigratedDatabase } from '../testing/backends.ts';
import { claimWork, completeWork } from './work-store.ts';

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
});
