import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { FlowRates } from './flow-rates.ts';

const at = (minute: number, second = 0) => new Date(Date.UTC(2026, 0, 1, 12, minute, second));
const trigger = { kind: 'trigger' as const, pattern: 'orders.paid', targetId: 't-1' };
const delivery = { kind: 'delivery' as const, pattern: 'orders.paid', targetId: 's-1' };
const ok = { failed: false, fired: true };
const failed = { failed: true, fired: false };

describe('flow rates', () => {
  it('counts attempts, failures and firings per edge over the asked minutes', () => {
    const rates = new FlowRates();
    rates.record(trigger, ok, at(0, 5));
    rates.record(trigger, failed, at(1, 10));
    rates.record(delivery, { failed: false, fired: false }, at(1, 20));
    rates.record(delivery, failed, at(2, 0));
    expect(rates.window(5, at(2, 30))).toEqual([
      { ...trigger, attempts: 2, failures: 1, fired: 1 },
      { ...delivery, attempts: 2, failures: 1, fired: 0 },
    ]);
    // The last minute only: the current minute (2) and nothing before it.
    expect(rates.window(1, at(2, 30))).toEqual([
      { ...delivery, attempts: 1, failures: 1, fired: 0 },
    ]);
  });

  it('forgets minutes older than it keeps, and edges that went quiet', () => {
    const rates = new FlowRates({ minutes: 3 });
    rates.record(trigger, ok, at(0));
    rates.record(trigger, ok, at(4));
    expect(rates.window(60, at(4))).toEqual([{ ...trigger, attempts: 1, failures: 0, fired: 1 }]);
    expect(rates.window(3, at(10))).toEqual([]);
  });

  it('counts no more distinct edges than its bound, making room from quiet ones', () => {
    const rates = new FlowRates({ minutes: 2, maxEdges: 2 });
    rates.record({ ...trigger, targetId: 'a' }, ok, at(0));
    rates.record({ ...trigger, targetId: 'b' }, ok, at(0));
    rates.record({ ...trigger, targetId: 'c' }, ok, at(0));
    expect(rates.window(2, at(0)).map((r) => r.targetId)).toEqual(['a', 'b']);
    rates.record({ ...trigger, targetId: 'c' }, ok, at(5));
    expect(rates.window(2, at(5)).map((r) => r.targetId)).toEqual(['c']);
  });
});

describe.each(testBackends())('GET /v1/flow/rates on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend);
  });
  afterAll(() => t.close());

  it("counts the routing engine's attempts per edge: fired triggers, skipped ones, derivations", async () => {
    for (const pattern of ['orders.paid', 'orders.audited']) {
      await t.request('POST', '/v1/event-definitions', { payload: openDefinition(pattern) });
    }
    const processor = await t.request('POST', '/v1/event-processors', {
      payload: {
        name: 'audit-payments',
        eventPattern: 'orders.paid',
        output: { pattern: 'orders.audited', payload: { total: 'payload.total' } },
      },
    });
    expect(processor.status).toBe(201);
    const workflow = await t.request('POST', '/v1/workflow-definitions', {
      payload: { name: 'ship' },
    });
    const trigger = async (eventCondition: string | null) =>
      (
        await t.request('POST', '/v1/workflow-triggers', {
          payload: {
            workflowDefinitionId: workflow.body.id,
            eventPattern: 'orders.*',
            triggerType: 'START',
            eventCondition,
          },
        })
      ).body.id as string;
    const fires = await trigger(null);
    const skips = await trigger('payload.total > 100');
    for (let i = 0; i < 2; i++) {
      const published = await t.request('POST', '/v1/events', {
        payload: { pattern: 'orders.paid', payload: { total: 5 } },
      });
      expect(published.status).toBe(202);
    }
    while ((await t.app.workers.runOnce()) > 0) {}
    const rates = await t.request('GET', '/v1/flow/rates?minutes=5');
    expect(rates.status).toBe(200);
    expect(rates.body.minutes).toBe(5);
    const edge = (id: string) =>
      rates.body.edges.find((e: { targetId: string }) => e.targetId === id);
    expect(edge(fires)).toEqual({
      kind: 'trigger',
      pattern: 'orders.paid',
      targetId: fires,
      attempts: 2,
      failures: 0,
      fired: 2,
    });
    expect(edge(skips)).toMatchObject({ attempts: 2, failures: 0, fired: 0 });
    expect(edge(processor.body.id)).toEqual({
      kind: 'processor',
      pattern: 'orders.paid',
      targetId: processor.body.id,
      attempts: 2,
      failures: 0,
      fired: 2,
    });
    expect((await t.request('GET', '/v1/flow/rates?minutes=0')).status).toBe(400);
  });
});
