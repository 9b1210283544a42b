import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import type { Database } from '../db/database.ts';
import { DatabaseUnavailable } from '../db/pg-errors.ts';
import { bodyHash, type NormalizedEvent } from '../events/event.ts';
import { RoutingPlanner } from '../routing/planner.ts';
import { RoutingIndex } from '../routing/routing-index.ts';
import { periodOf } from '../store/partitions.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { type EventQueueConfig, EventWriter } from './writer.ts';

describe.each(testBackends())('group commit on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend);
  });
  afterAll(() => t.close());
  beforeEach(() => t.reset());

  /** A writer over the test database, counting the statements that store events, and commits. */
  async function writer(queue: Partial<EventQueueConfig>) {
    const commits: number[] = [];
    let writes = 0;
    const db: Database = {
      ...t.db,
      query: (sql, params) => {
        if (sql.includes('INSERT INTO events')) writes += 1;
        return t.db.query(sql, params);
      },
      exec: (sql) => t.db.exec(sql),
      transaction: (fn) => t.db.transaction(fn),
    };
    // Loaded before, so the counts below hold no re-plan after a first look at the targets.
    const planner = new RoutingPlanner(new RoutingIndex([]));
    await planner.refresh(t.db);
    const w = new EventWriter(
      db,
      t.clock,
      { ...loadConfig({}).ingest.queue, ...queue },
      pino({ level: 'silent' }),
      planner,
      { committed: (events) => commits.push(events.length), depthChanged: () => {} },
    );
    return { w, commits, writes: () => writes };
  }

  const event = (eventId: string): NormalizedEvent => {
    const timestamp = t.clock.now().toISOString();
    const input = { eventId, pattern: 'group.test', payload: { eventId } };
    return {
      id: crypto.randomUUID(),
      instance: {
        ...input,
        version: '1.0.0',
        timestamp,
        metadata: { correlationId: eventId, tags: {} },
      },
      storedTimestamp: timestamp.replace('T', ' ').replace('Z', ''),
      partitionKey: periodOf(t.clock.now(), 'month').label,
      bodyHash: bodyHash(input),
      definitionId: crypto.randomUUID(),
      deprecated: false,
    };
  };

  it('lets requests that arrive while its commit is being prepared share it', async () => {
    const { w, commits, writes } = await writer({ concurrentCommits: 1 });
    // The second request arrives after the first has claimed the only commit slot.
    const outcomes = await Promise.all([w.write([event('a')]), w.write([event('b')])]);
    expect(outcomes.flat().map((o) => o.status)).toEqual(['accepted', 'accepted']);
    expect(writes()).toBe(1);
    expect(commits).toEqual([2]);
    const { rows } = await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events');
    expect(rows[0]!.n).toBe(2);
  });

  it("wakes this instance's workers once its statement stored work, even if a later query fails", async () => {
    // The commit's notification skips this instance (routing/wiring.ts), so only this wake-up
    // tells its workers; the lookup of earlier claims after the statement may fail.
    let wakes = 0;
    const subscription = {
      kind: 'delivery',
      id: crypto.randomUUID(),
      pattern: 'group.test',
      maxAttempts: 5,
      order: [0, 0],
    } as const;
    const planner = new RoutingPlanner(
      new RoutingIndex([{ kind: 'delivery', load: async () => [subscription] }]),
      { wake: () => wakes++, instanceTag: 'this-instance' },
    );
    await planner.refresh(t.db);
    let lookupFails = false;
    const db: Database = {
      ...t.db,
      query: (sql, params, options) => {
        if (lookupFails && sql.includes('FROM event_ids WHERE event_id = ANY'))
          return Promise.reject(new DatabaseUnavailable(new Error('connection lost')));
        return t.db.query(sql, params, options);
      },
      exec: (sql) => t.db.exec(sql),
      transaction: (fn) => t.db.transaction(fn),
    };
    const w = new EventWriter(
      db,
      t.clock,
      loadConfig({}).ingest.queue,
      pino({ level: 'silent' }),
      planner,
      {
        committed: () => {},
        depthChanged: () => {},
      },
    );
    await w.write([event('stored-before')]);
    expect(wakes).toBe(1);

    lookupFails = true;
    // 'stored-before' is a duplicate: its first claim is looked up after the statement.
    await expect(w.write([event('stored-before'), event('new-one')])).rejects.toMatchObject({
      code: 'unavailable',
    });
    const { rows } = await t.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM routing_work WHERE event_id = 'new-one'`,
    );
    expect(rows[0]!.n).toBe(1);
    expect(wakes).toBe(2);
  });

  it('opens no more commits than there are queued requests', async () => {
    const { w, writes } = await writer({ concurrentCommits: 4 });
    await w.write([event('only')]);
    expect(writes()).toBe(1);
  });
});
