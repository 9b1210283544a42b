import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { Tracing } from '../observability/tracing.ts';
import { WorkerPool } from './workers.ts';

/**
 * A database whose every claim finds nothing, and whose claims can be held: a round is then
 * "in the middle" for as long as the test wants, with no timing involved.
 */
function claimsDatabase() {
  let claims = 0;
  let held: Promise<void> | undefined;
  const db = {
    kind: 'pglite',
    query: async () => ({ rows: [], rowCount: 0 }),
    exec: async () => {},
    async transaction<T>(): Promise<T> {
      claims++;
      await held;
      return { rows: [], rowCount: 0 } as T;
    },
    close: async () => {},
  } satisfies Database;
  return {
    db,
    claims: () => claims,
    /** Holds the claims from now on; the returned function lets them (and later ones) through. */
    hold(): () => void {
      let release!: () => void;
      held = new Promise<void>((resolve) => (release = resolve));
      return () => {
        held = undefined;
        release();
      };
    },
  };
}

/**
 * Everything the loops do without I/O has happened: the fake database answers in promise
 * callbacks, which all run before the event loop reaches setImmediate's phase.
 */
const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('WorkerPool wake-ups', () => {
  let pool: WorkerPool | undefined;
  afterEach(() => pool?.stop());

  const startPool = (db: Database) => {
    pool = new WorkerPool(
      db,
      systemClock,
      [],
      // An hour between idle rounds: any second claim within the test is a wake-up's.
      { batchSize: 10, concurrency: 1, rounds: 1, pollIntervalMs: 3_600_000, leaseMs: 60_000 },
      pino({ level: 'silent' }),
      new Tracing({ serviceName: 'test' }),
    );
    pool.start();
    return pool;
  };

  it('wakes a pausing loop at once', async () => {
    const fake = claimsDatabase();
    const workers = startPool(fake.db);
    await settled();
    expect(fake.claims()).toBe(1);
    workers.wake();
    await settled();
    expect(fake.claims()).toBe(2);
  });

  it('keeps a wake-up that came while no loop was pausing for the next pause', async () => {
    const fake = claimsDatabase();
    const release = fake.hold();
    const workers = startPool(fake.db);
    await settled();
    // The loop's claim is in flight (it may have read the table before the new work was
    // committed) when the wake-up comes.
    expect(fake.claims()).toBe(1);
    workers.wake();
    release();
    await settled();
    expect(fake.claims()).toBe(2);
    // Kept once: the round after it pauses for the poll interval again, not in a busy loop.
    await settled();
    expect(fake.claims()).toBe(2);
  });
});
