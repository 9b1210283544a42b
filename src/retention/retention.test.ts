import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { parseExposition } from '../testing/prometheus.ts';
import { startReceiver, type TestReceiver } from '../testing/receiver.ts';
import { builtinWorkflowStartedBy } from '../testing/workflows.ts';
import { applyRetention } from './retention.ts';

const HOUR = 3_600_000;
const EVENTS_PER_CYCLE = 5;

describe.each(testBackends())('retention of routing records on $name', (backend) => {
  let t: TestApp;
  let receiver: TestReceiver;
  beforeAll(async () => {
    t = await startTestApp(backend, {
      retention: { routingDays: 1, deliveryLogDays: 1, workflowInstanceDays: 1 },
    });
    receiver = await startReceiver();
    await t.request('POST', '/v1/event-definitions', { payload: openDefinition('orders.created') });
    await builtinWorkflowStartedBy(t, 'orders.created', 'fulfil');
    await t.request('POST', '/v1/subscriptions', {
      payload: {
        event_pattern: 'orders.*',
        subscriber: { id: 'shop', type: 'webhook', endpoint: `${receiver.url}/hook` },
      },
    });
  });
  afterAll(async () => {
    await receiver.close();
    await t.close();
  });

  const count = async (table: string, where = 'true') =>
    (await t.db.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM ${table} WHERE ${where}`))
      .rows[0]!.n;
  const counts = async () => ({
    routing_work: await count('routing_work'),
    delivery_attempts: await count('delivery_attempts'),
    workflow_instances: await count('workflow_instances'),
    waits: await count('waits'),
  });

  /** An instance left running by the first cycle: no retention may delete it. */
  let running: string | undefined;
  let cycles = 0;

  const registerWait = async (correlationKey: string, timeout: string, lookback?: string) => {
    const response = await t.request('POST', '/v1/waits', {
      payload: {
        pattern: 'orders.created',
        correlationKey,
        timeout,
        ...(lookback ? { lookback } : {}),
        notify: { workflowInstanceId: running },
      },
    });
    expect(response.status).toBe(201);
    return response.body as { id: string; status: string };
  };

  /**
   * The waits of one cycle, notifying the running instance: one per event, which its lookback
   * finds; one whose event never comes (timed out by the next cycle's resolver round); one
   * cancelled; and in the first cycle one that outlives the test (P30D), which no retention may
   * delete.
   */
  async function waits(keys: string[]) {
    for (const key of keys) await registerWait(key, 'PT1H', 'PT1H');
    // The lookback sees events committed before every transaction still open on the server
    // began (any database's: other test files share it); one it could not see yet is the
    // resolver's, in a later round.
    const waiting = () => count('waits', `status = 'waiting' AND correlation_key LIKE 'order-%'`);
    for (let round = 0; round < 100 && (await waiting()) > 0; round++) {
      await t.app.waits.resolveRounds();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await waiting()).toBe(0);
    await registerWait(`never-${cycles}`, 'PT1H');
    const cancelled = await registerWait(`cancelled-${cycles}`, 'PT1H');
    expect((await t.request('DELETE', `/v1/waits/${cancelled.id}`)).status).toBe(200);
    if (cycles === 0) await registerWait('open', 'P30D');
  }

  /**
   * Traffic of one cycle: every event fires the trigger and is delivered, and resolves a wait;
   * instances finish.
   */
  async function traffic() {
    const keys: string[] = [];
    for (let i = 0; i < EVENTS_PER_CYCLE; i++) {
      keys.push(`order-${cycles}-${i}`);
      const published = await t.request('POST', '/v1/events', {
        payload: {
          pattern: 'orders.created',
          payload: { i },
          metadata: { correlationId: keys.at(-1) },
        },
      });
      expect(published.status).toBe(202);
    }
    while ((await t.app.workers.runOnce()) > 0) {}
    const listed = await t.request('GET', '/v1/workflow-instances?status=running&limit=100');
    const ids: string[] = listed.body.workflowInstances.map((i: { id: string }) => i.id);
    running ??= ids[0];
    for (const id of ids.filter((id) => id !== running)) {
      expect(
        (await t.request('POST', `/v1/workflow-instances/${id}/complete`, { payload: {} })).status,
      ).toBe(200);
    }
    await waits(keys);
    cycles++;
  }

  it('keeps every table bounded over many maintenance cycles of a controlled clock', async () => {
    const history: Array<Record<string, number>> = [];
    // 10 cycles of 12 h: 5 days of traffic against a retention of 1 day.
    for (let cycle = 0; cycle < 10; cycle++) {
      await traffic();
      t.clock.advance(12 * HOUR);
      await t.app.waits.resolveRounds(); // times out the cycle's wait whose event never came
      await t.app.applyRetention();
      history.push(await counts());
    }
    // Records of the last 24 h are kept: the 2 latest cycles (the one 24 h old is on the
    // cutoff, kept), plus the instance left running, which no retention deletes. Per event:
    // one firing row (a delivered webhook's work row is dropped at once; its attempt is the
    // record), one attempt, one instance. Waits by when they ended: of the 2 latest cycles
    // the resolved and the cancelled ones (ended when registered), the timed-out ones of the
    // 3 latest (each ended one cycle after its registration), and the open one.
    const kept = 2 * EVENTS_PER_CYCLE;
    const bound = {
      routing_work: kept,
      delivery_attempts: kept,
      workflow_instances: kept + 1,
      waits: 2 * (EVENTS_PER_CYCLE + 1) + 3 + 1,
    };
    for (const sample of history) {
      for (const table of Object.keys(bound) as Array<keyof typeof bound>) {
        expect(sample[table]).toBeLessThanOrEqual(bound[table]);
      }
    }
    expect(history.at(-1)).toEqual(bound);
    expect(await count('workflow_instances', "status = 'running'")).toBe(1);
    expect(await count('waits', "status = 'waiting'")).toBe(1);
    expect(await count('waits', "status = 'timed_out'")).toBe(3);
    expect(receiver.received).toHaveLength(10 * EVENTS_PER_CYCLE);

    // /metrics shows each table's size.
    const metrics = await t.request('GET', '/metrics');
    const rows = parseExposition(metrics.body).samples.filter((s) => s.name === 'eps_table_rows');
    expect(Object.fromEntries(rows.map((s) => [s.labels.table, s.value]))).toMatchObject({
      routing_work: expect.any(Number),
      delivery_attempts: expect.any(Number),
      workflow_instances: expect.any(Number),
      waits: expect.any(Number),
      events: expect.any(Number),
    });
  });

  it('deletes in batches of the given size, never pending work, running instances or open waits', async () => {
    await traffic();
    await t.request('POST', '/v1/events', { payload: { pattern: 'orders.created', payload: {} } });
    t.clock.advance(48 * HOUR);
    const report = await applyRetention(
      t.db,
      { routingDays: 1, deliveryLogDays: 1, workflowInstanceDays: 1 },
      t.clock.now(),
      { batchSize: 3, maxBatches: 2 },
    );
    // At most 2 batches of 3 per table in one pass; the rest waits for the next pass.
    expect(Object.values(report).every((n) => n <= 6)).toBe(true);
    while (
      Object.values(
        await applyRetention(
          t.db,
          { routingDays: 1, deliveryLogDays: 1, workflowInstanceDays: 1 },
          t.clock.now(),
          { batchSize: 3 },
        ),
      ).some((n) => n > 0)
    ) {}
    // The unrouted event's work is pending, and the first cycle's instance is still running.
    expect(await count('routing_work', "status = 'done' OR status = 'dead'")).toBe(0);
    expect(await count('routing_work', "status = 'pending'")).toBe(2); // firing and delivery
    expect(await counts()).toMatchObject({ delivery_attempts: 0, workflow_instances: 1 });
    // Waits still waiting stay, however old: the first test's P30D one, and this cycle's whose
    // timeout passed but that no resolver round has ended yet.
    expect(await count('waits', "status <> 'waiting'")).toBe(0);
    expect(await count('waits', "status = 'waiting'")).toBe(2);
  });
});
