import { randomUUID } from 'node:crypto';
import pino, { type Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { Tracing } from '../observability/tracing.ts';
import { testBackends, useMigratedDatabase } from '../testing/backends.ts';
import type { WorkHandler } from './work.ts';
import { claimWork } from './work-store.ts';
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

/** A pool's options: one round of one lane, and an hour between idle rounds. */
const OPTIONS = {
  batchSize: 10,
  roundDeliveries: 100,
  concurrency: 1,
  rounds: 1,
  pollIntervalMs: 3_600_000,
};

describe('WorkerPool wake-ups', () => {
  let pool: WorkerPool | undefined;
  afterEach(() => pool?.stop());

  const startPool = (db: Database) => {
    pool = new WorkerPool(
      db,
      systemClock,
      [],
      // An hour between idle rounds: any second claim within the test is a wake-up's.
      { ...OPTIONS, leaseMs: 60_000 },
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

describe.each(testBackends())('WorkerPool rounds on $name', (backend) => {
  const test = useMigratedDatabase(backend);
  const DELIVERIES = 3;
  beforeEach(() => test.db().exec('TRUNCATE routing_work, events'));

  /** A stored event with one fan-out row of DELIVERIES deliveries. */
  const storeFanout = () =>
    test.db().query(
      `WITH event AS (
         INSERT INTO events (id, event_id, pattern, version, "timestamp", payload, metadata, partition_key)
         VALUES (gen_random_uuid(), 'e1', 'orders.placed', '1.0.0', now(), '{}', '{"tags":{}}', 'e1')
         RETURNING id, "timestamp")
       INSERT INTO routing_work (id, kind, fanout, event_id, event_row_id, event_timestamp,
         idempotency_key, max_attempts, next_attempt_at, created_at, updated_at)
       SELECT gen_random_uuid(), 'fanout', $1, 'e1', id, "timestamp", 'fanout:e1', 3, now(), now(), now()
         FROM event`,
      [
        JSON.stringify(
          Array.from({ length: DELIVERIES }, () => ({
            id: randomUUID(),
            targetId: randomUUID(),
            maxAttempts: 3,
          })),
        ),
      ],
    );

  /** A pool whose deliveries all succeed once `sending` (what happens meanwhile) is done. */
  const deliveringPool = (leaseMs: number, logger: Logger, sending: () => Promise<void>) => {
    const handler: WorkHandler = {
      kind: 'delivery',
      async handle(works) {
        await sending();
        return works.map(() => ({ kind: 'done', outcome: { status: 'delivered' }, logged: true }));
      },
      deadOutcome: (outcome) => outcome,
    };
    return new WorkerPool(
      test.db(),
      systemClock,
      [handler],
      { ...OPTIONS, leaseMs },
      logger,
      new Tracing({ serviceName: 'test' }),
    );
  };

  it('asks a claim for as many firings rows as its round has room for: each weighs one', async () => {
    const FIRINGS = 5;
    // 30 events, each with its firings in one row.
    await test.db().query(
      `WITH event AS (
         INSERT INTO events (id, event_id, pattern, version, "timestamp", payload, metadata, partition_key)
         SELECT gen_random_uuid(), 'e' || n, 'orders.placed', '1.0.0', now(), '{}', '{"tags":{}}', 'e' || n
           FROM generate_series(1, 30) n
         RETURNING id, event_id, "timestamp")
       INSERT INTO routing_work (id, kind, fanout, event_id, event_row_id, event_timestamp,
         idempotency_key, max_attempts, next_attempt_at, created_at, updated_at)
       SELECT gen_random_uuid(), 'firings', (
                -- Correlated (event_id), so it runs per event: ids of its own.
                SELECT jsonb_agg(jsonb_build_object('id', gen_random_uuid(),
                  'targetId', gen_random_uuid(), 'maxAttempts', 3))
                  FROM generate_series(1, $1) WHERE event_id IS NOT NULL),
              event_id, id, "timestamp", 'firings:' || event_id, 3, now(), now(), now()
         FROM event`,
      [FIRINGS],
    );
    const handler: WorkHandler = {
      kind: 'trigger',
      handle: async (works) => works.map(() => ({ kind: 'done', outcome: { action: 'started' } })),
      deadOutcome: (outcome) => outcome,
    };
    // A round of 10 deliveries: 10 rows of weight one, whatever they hold.
    const pool = new WorkerPool(
      test.db(),
      systemClock,
      [handler],
      { ...OPTIONS, roundDeliveries: 10, leaseMs: 60_000 },
      pino({ level: 'silent' }),
      new Tracing({ serviceName: 'test' }),
    );
    expect(await pool.runOnce()).toBe(10 * FIRINGS);
    // Counting the firings as deliveries, the pool would ask the next claim for 10 / 5 rows.
    expect(await pool.runOnce()).toBe(10 * FIRINGS);
  });

  it('warns once for a fan-out whose lease was lost, not once per delivery', async () => {
    await storeFanout();
    const warnings: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => void warnings.push(JSON.parse(line)) },
    );
    // Another worker takes the row over while this one sends (it stalled past its lease).
    const pool = deliveringPool(60_000, logger, async () => {
      await test.db().query(`UPDATE routing_work SET locked_by = 'another worker'`);
    });
    expect(await pool.runOnce()).toBe(DELIVERIES);
    expect(warnings).toEqual([
      expect.objectContaining({
        msg: 'routing work lease was lost before its result was recorded',
        fanoutId: expect.any(String),
        deliveries: DELIVERIES,
      }),
    ]);
  });

  it('renews the leases of a round that outlasts them: no other worker takes its rows meanwhile', async () => {
    await storeFanout();
    const LEASE_MS = 600;
    let takenOver: number | undefined;
    const pool = deliveringPool(LEASE_MS, pino({ level: 'silent' }), async () => {
      // Sends for more than twice the lease; another worker looks for due work then.
      await new Promise((resolve) => setTimeout(resolve, LEASE_MS * 2.5));
      const claimed = await claimWork(test.db(), 'another worker', new Date(), LEASE_MS, 100);
      takenOver = claimed.length;
    });
    expect(await pool.runOnce()).toBe(DELIVERIES);
    expect(takenOver).toBe(0);
    // Recorded by the worker that kept its lease: delivered, so no row is left.
    const { rows } = await test.db().query('SELECT count(*)::int AS n FROM routing_work');
    expect(rows).toEqual([{ n: 0 }]);
  });
});
