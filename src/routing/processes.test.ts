import { describe, expect, it } from 'vitest';
import { testBackends, useMigratedDatabase } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { startReceiver } from '../testing/receiver.ts';
import { type ServiceProcess, startService } from '../testing/service-process.ts';

/**
 * The routing engine across real service processes on one PostgreSQL: a SIGKILL in the middle
 * of routing loses no firing and doubles none, and two processes share the work.
 */
const TRIGGERS = 5;

// Several processes need a server; PGlite belongs to one process. CI always sets DATABASE_URL.
const postgres = testBackends().find((b) => b.name === 'postgres');

describe.runIf(postgres)('routing across processes on PostgreSQL', () => {
  const test = useMigratedDatabase(postgres!);
  const env = () => ({
    DATABASE_URL: test.database().location.databaseUrl!,
    DELIVERY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
    EGRESS_ALLOWLIST: '127.0.0.1',
    ROUTING_LEASE_MS: '1500',
    ROUTING_POLL_INTERVAL_MS: '20',
    // Small rounds: more of them to kill in the middle of, and time to do it.
    ROUTING_BATCH_SIZE: '20',
    LOG_LEVEL: 'info',
  });

  const post = async (service: ServiceProcess, path: string, body: unknown) => {
    const response = await fetch(`${service.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (response.status >= 300)
      throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<any>;
  };

  async function setUp(service: ServiceProcess, pattern: string): Promise<void> {
    await post(service, '/v1/event-definitions', openDefinition(pattern));
    const workflow = await post(service, '/v1/workflow-definitions', { name: pattern });
    for (let i = 0; i < TRIGGERS; i++) {
      await post(service, '/v1/workflow-triggers', {
        workflowDefinitionId: workflow.id,
        eventPattern: pattern,
        triggerType: 'START',
        priority: i,
      });
    }
  }

  async function publishMany(
    service: ServiceProcess,
    pattern: string,
    count: number,
    prefix: string,
  ): Promise<void> {
    for (let offset = 0; offset < count; offset += 100) {
      const events = Array.from({ length: Math.min(100, count - offset) }, (_, i) => ({
        eventId: `${prefix}-${offset + i}`,
        pattern,
        payload: { n: offset + i },
      }));
      await post(service, '/v1/events/batch', { events });
    }
  }

  async function waitForRouting(pattern: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const { rows } = await test
        .db()
        .query<{ open: number }>(
          `SELECT count(*)::int AS open FROM routing_work WHERE status IN ('pending', 'running') AND event_id IN (SELECT event_id FROM events WHERE pattern = $1)`,
          [pattern],
        );
      if (rows[0]!.open === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('routing did not finish in time');
  }

  /** Per (event, trigger) pair of `pattern`, how many workflow instances exist. */
  async function startsPerPair(
    pattern: string,
  ): Promise<{ pairs: number; instances: number; maxPerPair: number }> {
    const { rows } = await test
      .db()
      .query<{ pairs: number; instances: number; max_per_pair: number }>(
        `SELECT count(*)::int AS pairs, coalesce(sum(n), 0)::int AS instances, coalesce(max(n), 0)::int AS max_per_pair FROM (
         SELECT count(*) AS n FROM workflow_instances i JOIN workflow_definitions d ON d.id = i.workflow_definition_id
          WHERE d.name = $1 GROUP BY i.trigger_event_id, i.trigger_id) per_pair`,
        [pattern],
      );
    return {
      pairs: rows[0]!.pairs,
      instances: rows[0]!.instances,
      maxPerPair: rows[0]!.max_per_pair,
    };
  }

  /**
   * Resolves once `condition` holds, checked every `everyMs`: 5 ms to catch the moment to kill a
   * busy service; conditions that scan the processes' whole output, less often.
   */
  async function until(condition: () => Promise<boolean> | boolean, everyMs = 5): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error('the condition never held');
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }

  /**
   * How many 'routing outcome' lines `service` has written so far. A process logs an outcome
   * before it records it, and its output reaches this process through a pipe this (busy)
   * process reads when it gets to it: the lines may lag the table, so wait for them with
   * {@link untilRouted} before counting.
   */
  const routed = (service: ServiceProcess) =>
    service
      .output()
      .split('\n')
      .filter((line) => line.includes('"msg":"routing outcome"')).length;

  /** Resolves once `services` have logged `count` outcomes between them (scanned every 100 ms). */
  const untilRouted = (count: number, ...services: ServiceProcess[]) =>
    until(() => services.reduce((sum, service) => sum + routed(service), 0) >= count, 100);

  /** This database's connections listening for routing work (their LISTEN done, not under way). */
  const LISTENERS = `FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN eps_routing_work'`;
  const listeners = async () =>
    (
      await test
        .db()
        .query<{ n: number }>(`SELECT count(*)::int AS n ${LISTENERS} AND state = 'idle'`)
    ).rows[0]!.n;

  it('fires every (event, trigger) pair exactly once after a SIGKILL mid-routing', async () => {
    const events = 1000;
    let service = await startService(env());
    await setUp(service, 'crash.test');
    await publishMany(service, 'crash.test', events, 'crash');
    // Kill as soon as the workers have started on the 5,000 firings.
    await until(async () => (await startsPerPair('crash.test')).instances > 0);
    expect(await service.stop('SIGKILL')).toBeNull();
    const before = await startsPerPair('crash.test');
    expect(before.instances).toBeLessThan(events * TRIGGERS);

    service = await startService(env());
    try {
      await waitForRouting('crash.test');
      expect(await startsPerPair('crash.test')).toEqual({
        pairs: events * TRIGGERS,
        instances: events * TRIGGERS,
        maxPerPair: 1,
      });
      const { rows } = await test
        .db()
        .query<{ status: string; n: number }>(
          `SELECT status, count(*)::int AS n FROM routing_work WHERE kind = 'trigger' GROUP BY status`,
        );
      expect(rows).toEqual([{ status: 'done', n: events * TRIGGERS }]);
    } finally {
      await service.stop();
    }
  }, 120_000);

  it('delivers every event at least once after a SIGKILL mid-delivery', async () => {
    const receiver = await startReceiver();
    let service = await startService(env());
    try {
      await post(service, '/v1/event-definitions', openDefinition('delivery.test'));
      await post(service, '/v1/subscriptions', {
        event_pattern: 'delivery.test',
        subscriber: { id: 'sink', type: 'webhook', endpoint: receiver.url },
      });
      await publishMany(service, 'delivery.test', 300, 'dlv');
      await until(() => receiver.received.length > 0);
      expect(await service.stop('SIGKILL')).toBeNull();
      const before = new Set(receiver.received.map((r) => JSON.parse(r.body).eventId)).size;
      expect(before).toBeLessThan(300);

      service = await startService(env());
      await waitForRouting('delivery.test');
      const delivered = new Set(receiver.received.map((r) => JSON.parse(r.body).eventId));
      expect(delivered.size).toBe(300);
    } finally {
      await service.stop();
      await receiver.close();
    }
  }, 120_000);

  it('delivers every event to each of its subscriptions after a SIGKILL mid-delivery, each under one webhook-id', async () => {
    // Two subscriptions: each event's deliveries are held in one fan-out row, claimed and
    // recorded together. The rows the killed process claimed are taken over once their lease
    // ran out, and sent again under the ids they were planned with.
    const webhookIds = new Map<string, Set<string>>();
    const receiver = await startReceiver((request, path) => {
      const key = `${path} ${JSON.parse(request.body).eventId}`;
      webhookIds.set(
        key,
        (webhookIds.get(key) ?? new Set()).add(String(request.headers['webhook-id'])),
      );
    });
    let service = await startService(env());
    try {
      await post(service, '/v1/event-definitions', openDefinition('fanout.test'));
      for (const sink of ['a', 'b'])
        await post(service, '/v1/subscriptions', {
          event_pattern: 'fanout.test',
          subscriber: { id: sink, type: 'webhook', endpoint: `${receiver.url}/${sink}` },
        });
      await publishMany(service, 'fanout.test', 300, 'fan');
      await until(() => webhookIds.size > 0);
      expect(await service.stop('SIGKILL')).toBeNull();
      expect(webhookIds.size).toBeLessThan(600);

      service = await startService(env());
      await waitForRouting('fanout.test');
      expect(webhookIds.size).toBe(600);
      const underSeveralIds = [...webhookIds].filter(([, ids]) => ids.size > 1);
      expect(underSeveralIds).toEqual([]);
      // Every delivery had an id of its own.
      const ids = [...webhookIds.values()].flatMap((set) => [...set]);
      expect(new Set(ids).size).toBe(600);
    } finally {
      await service.stop();
      await receiver.close();
    }
  }, 120_000);

  it('shares the work of one database between two processes without double firing', async () => {
    const [a, b] = await Promise.all([startService(env()), startService(env())]);
    try {
      await setUp(a, 'shared.test');
      await Promise.all([
        publishMany(a, 'shared.test', 200, 'via-a'),
        publishMany(b, 'shared.test', 200, 'via-b'),
      ]);
      await waitForRouting('shared.test');
      expect(await startsPerPair('shared.test')).toEqual({
        pairs: 400 * TRIGGERS,
        instances: 400 * TRIGGERS,
        maxPerPair: 1,
      });
      await untilRouted(400 * TRIGGERS, a, b);
      expect(routed(a)).toBeGreaterThan(0);
      expect(routed(b)).toBeGreaterThan(0);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 120_000);

  it('wakes the workers of another process at once, also after their listening connection was cut', async () => {
    // B polls once a minute: only the notification of A's commit can wake it within the test.
    // A minute's lease too: a round slower than a short lease could be claimed twice and log
    // its outcomes twice. No wait for B to be idle first: a wake-up that comes while B is in
    // the middle of a round (its first, or the catch-up round after reconnecting) is kept.
    const slow = { ...env(), ROUTING_LEASE_MS: '60000' };
    const [a, b] = await Promise.all([
      startService({ ...slow, ROUTING_WORKERS: 'off' }),
      startService({ ...slow, ROUTING_POLL_INTERVAL_MS: '60000' }),
    ]);
    try {
      await setUp(a, 'wake.test');
      await publishMany(a, 'wake.test', 1, 'wake-1');
      await waitForRouting('wake.test', 30_000);
      await untilRouted(TRIGGERS, b);
      expect(routed(b)).toBe(TRIGGERS);

      // Cut B's listening connection: it reconnects by itself and keeps waking.
      await until(async () => (await listeners()) === 1, 100);
      await test.db().query(`SELECT pg_terminate_backend(pid) ${LISTENERS}`);
      await until(() => b.output().includes('listening connection lost'), 100);
      await until(async () => (await listeners()) === 1, 100);
      await publishMany(a, 'wake.test', 1, 'wake-2');
      await waitForRouting('wake.test', 30_000);
      await untilRouted(2 * TRIGGERS, b);
      expect(routed(b)).toBe(2 * TRIGGERS);
      expect(routed(a)).toBe(0);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 120_000);
});
