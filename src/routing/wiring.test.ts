import { randomUUID } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { Listening } from '../db/listener.ts';
import { Metrics } from '../observability/metrics.ts';
import { Tracing } from '../observability/tracing.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { RoutingIndex } from './routing-index.ts';
import { wireRouting } from './wiring.ts';
import { queueEventlessWork, WORK_CHANNEL } from './work-store.ts';

/**
 * Cross-instance wake-ups without the echo: an instance's outbox commit wakes its own workers
 * in process and notifies every instance; its own listener skips that notification, which
 * would only make the same workers claim a second time.
 */
describe('routing wake-ups from notifications', () => {
  it("skip the echo of this instance's own commits, and wake for any other notification", async () => {
    let onNotify: ((payload?: string) => void) | undefined;
    // Claims find nothing; an hour between polls, so only wake() calls count below.
    const db = {
      kind: 'postgres',
      query: async () => ({ rows: [], rowCount: 0 }),
      exec: async () => {},
      transaction: async <T>() => ({ rows: [], rowCount: 0 }) as T,
      listen(channel: string, notify: (payload?: string) => void): Listening {
        expect(channel).toBe(WORK_CHANNEL);
        onNotify = notify;
        return { close: async () => {} };
      },
      close: async () => {},
    } satisfies Database;
    const routing = wireRouting({
      db,
      clock: systemClock,
      logger: pino({ level: 'silent' }),
      tracing: new Tracing({ serviceName: 'test' }),
      metrics: new Metrics({ processMetrics: false }),
      options: {
        workers: true,
        batchSize: 10,
        roundDeliveries: 100,
        concurrency: 1,
        rounds: 1,
        pollIntervalMs: 3_600_000,
        leaseMs: 60_000,
      },
      index: new RoutingIndex([]),
      handlers: [],
    });
    const wake = vi.spyOn(routing.workers, 'wake');
    routing.start();
    try {
      const own = routing.handOff.plan([]).instanceTag;
      expect(own).toBe(routing.workers.instanceTag);
      expect(own).not.toBe('');

      onNotify?.(own);
      expect(wake).not.toHaveBeenCalled();
      onNotify?.(randomUUID()); // another instance's commit
      onNotify?.(''); // work queued outside the outbox (e.g. a wait's notification)
      onNotify?.(); // the listening connection came back: notifications may have been missed
      expect(wake).toHaveBeenCalledTimes(3);
    } finally {
      await routing.close();
    }
  });
});

const postgres = testBackends().find((b) => b.name === 'postgres');

// Notifications exist on a PostgreSQL server only; PGlite's one process wakes itself.
describe.runIf(postgres)('work notifications on PostgreSQL', () => {
  let t: TestApp;
  let listener: pg.Client;
  const payloads: string[] = [];
  beforeAll(async () => {
    t = await startTestApp(postgres!);
    listener = new pg.Client({ connectionString: t.database.location.databaseUrl });
    await listener.connect();
    listener.on('notification', (message) => payloads.push(message.payload ?? '<none>'));
    await listener.query(`LISTEN ${WORK_CHANNEL}`);
  });
  afterAll(async () => {
    await listener.end();
    await t.close();
  });

  const nextPayload = async () => {
    const deadline = Date.now() + 10_000;
    while (payloads.length === 0) {
      if (Date.now() > deadline) throw new Error('no notification within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return payloads.shift();
  };

  it("carry the writing instance's tag from an outbox commit, and none from other work", async () => {
    expect(
      (await t.request('POST', '/v1/event-definitions', { payload: openDefinition('echo.test') }))
        .status,
    ).toBe(201);
    const subscription = await t.request('POST', '/v1/subscriptions', {
      payload: {
        event_pattern: 'echo.test',
        subscriber: { id: 'echo', type: 'webhook', endpoint: 'http://127.0.0.1:9/hook' },
      },
    });
    expect(subscription.status).toBe(201);

    const published = await t.request('POST', '/v1/events', {
      payload: { eventId: 'echo-1', pattern: 'echo.test', payload: {} },
    });
    expect(published.status).toBe(202);
    expect(await nextPayload()).toBe(t.app.workers.instanceTag);

    await queueEventlessWork(
      t.db,
      [{ kind: 'resume', targetId: randomUUID(), reason: 'timed_out', maxAttempts: 5 }],
      new Date(),
    );
    expect(await nextPayload()).toBe('');
    // Notifications arrive in commit order: one more from the writes above would come first.
    await t.db.query(`SELECT pg_notify('${WORK_CHANNEL}', 'marker')`);
    expect(await nextPayload()).toBe('marker');
  });
});
