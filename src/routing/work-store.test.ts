import { beforeEach, describe, expect, it } from 'vitest';
import { testBackends, useMigratedDatabase } from '../testing/backends.ts';
import { claimWork, completeWork } from './work-store.ts';

const LEASE_MS = 1_000;
const start = new Date('2026-01-15T12:00:00.000Z');
const at = (ms: number) => new Date(start.getTime() + ms);

describe.each(testBackends())('routing work claims and completions on $name', (backend) => {
  const test = useMigratedDatabase(backend);
  const db = () => test.db();
  beforeEach(() => db().exec('TRUNCATE routing_work'));

  /** A pending delivery row due at `dueMs` after the start (its event need not exist here). */
  async function pending(name: string, dueMs: number): Promise<string> {
    const { rows } = await db().query<{ id: string }>(
      `INSERT INTO routing_work (id, kind, target_id, event_id, event_row_id, event_timestamp,
         idempotency_key, max_attempts, next_attempt_at, created_at, updated_at)
       VALUES (gen_random_uuid(), 'delivery', gen_random_uuid(), $1, gen_random_uuid(), $2, $4, 5, $3, $2, $2)
       RETURNING id`,
      [name, start, at(dueMs), `delivery:${name}`],
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
});
