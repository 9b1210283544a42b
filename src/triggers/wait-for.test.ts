import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateSecret, verifySignature } from '../delivery/signature.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { resolveCommitted } from '../testing/waits.ts';

/** Declarative waits: a START trigger's `waitFor`, registered for every instance it starts. */

const ENGINE_SECRET = generateSecret();
const PAYMENT_FAILED = {
  ...openDefinition('payment.failed'),
  payload_schema: {
    type: 'object',
    additionalProperties: false,
    properties: { orderId: { type: 'string' }, amount: { type: 'number' } },
  },
};

/** WAITS_LOOKBACK_MAX_EVENTS here: small, so a test can go past it. */
const LOOKBACK_MAX_EVENTS = 3;

describe.each(testBackends())('START triggers with waitFor on $name', (backend) => {
  let t: TestApp;
  let workflowId: string;
  beforeAll(async () => {
    t = await startTestApp(backend, {
      definitionCacheTtlMs: 0,
      workflowEngineSigningSecret: ENGINE_SECRET,
      waitsLookbackMaxEvents: LOOKBACK_MAX_EVENTS,
    });
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    await t.reset();
    for (const definition of [openDefinition('order.placed'), PAYMENT_FAILED]) {
      const created = await t.request('POST', '/v1/event-definitions', { payload: definition });
      expect(created.status).toBe(201);
    }
    workflowId = (
      await t.request('POST', '/v1/workflow-definitions', { payload: { name: 'order-flow' } })
    ).body.id;
  });

  const createTrigger = (body: Record<string, unknown>, query = '') =>
    t.request('POST', `/v1/workflow-triggers${query}`, {
      payload: {
        workflowDefinitionId: workflowId,
        eventPattern: 'order.placed',
        triggerType: 'START',
        ...body,
      },
    });
  const publish = async (pattern: string, key: string, payload: Record<string, unknown> = {}) => {
    const response = await t.request('POST', '/v1/events', {
      payload: { pattern, payload, metadata: { correlationId: key } },
    });
    expect(response.status).toBe(202);
    return response.body.eventId as string;
  };
  const drain = async () => {
    while ((await t.app.workers.runOnce()) > 0) {}
  };
  /** The instance the order's START created, with its waits. */
  const instanceOf = async (key: string) => {
    const list = await t.request('GET', `/v1/workflow-instances?correlationKey=${key}`);
    expect(list.body.workflowInstances).toHaveLength(1);
    return (await t.request('GET', `/v1/workflow-instances/${list.body.workflowInstances[0].id}`))
      .body;
  };
  const paymentFailed = { pattern: 'payment.failed', timeout: 'PT24H' };

  it('shows waitFor on reads and refuses what POST /v1/waits would refuse, naming each item', async () => {
    const created = await createTrigger({
      waitFor: [{ ...paymentFailed, condition: 'payload.amount > 100', lookback: 'PT1H' }],
    });
    expect(created.status).toBe(201);
    const read = await t.request('GET', `/v1/workflow-triggers/${created.body.id}`);
    expect(read.body.waitFor).toEqual([
      { ...paymentFailed, condition: 'payload.amount > 100', lookback: 'PT1H' },
    ]);
    const plain = await createTrigger({ name: 'plain' });
    expect(plain.body.waitFor).toEqual([]);

    const bad = await createTrigger({
      waitFor: [paymentFailed, { pattern: 'payment.*', timeout: 'P31D', condition: 'payload ==' }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
      'waitFor[1].condition',
      'waitFor[1].pattern',
      'waitFor[1].timeout',
    ]);
    const cancel = await createTrigger({ triggerType: 'CANCEL', waitFor: [paymentFailed] });
    expect(cancel.status).toBe(400);
    expect(cancel.body.error.details[0]).toMatchObject({
      field: 'waitFor',
      code: 'trigger_type_mismatch',
    });
    const tooMany = await createTrigger({ waitFor: Array(11).fill(paymentFailed) });
    expect(tooMany.status).toBe(400);
  });

  it("type-checks a wait's condition against the awaited event's schema", async () => {
    const waitFor = [{ ...paymentFailed, condition: 'payload.reason == "card"' }];
    const refused = await createTrigger({ waitFor });
    expect(refused.status).toBe(400);
    expect(refused.body.error.details[0].field).toBe('waitFor[0].condition');
    const warned = await createTrigger({ waitFor }, '?check=warn');
    expect(warned.status).toBe(201);
    expect(warned.body.warnings[0].field).toBe('waitFor[0].condition');
  });

  it('registers the waits for the started instance; a later event with its key resolves them', async () => {
    await createTrigger({
      waitFor: [{ ...paymentFailed, condition: 'payload.amount > 100' }],
    });
    await publish('order.placed', 'order-1');
    await drain();
    const started = await instanceOf('order-1');
    expect(started.waits).toEqual([
      expect.objectContaining({
        status: 'waiting',
        pattern: 'payment.failed',
        correlationKey: 'order-1',
        condition: 'payload.amount > 100',
        notify: { workflowInstanceId: started.id },
      }),
    ]);
    await publish('payment.failed', 'order-2', { amount: 500 });
    await publish('payment.failed', 'order-1', { amount: 50 });
    const eventId = await publish('payment.failed', 'order-1', { amount: 150 });
    await resolveCommitted(t);
    const after = await instanceOf('order-1');
    expect(after.waits).toEqual([
      expect.objectContaining({ status: 'resolved', event: expect.objectContaining({ eventId }) }),
    ]);
    const firings = await t.request('GET', `/v1/events/${started.triggerEventId}/triggers`);
    expect(firings.body.firings[0]).toMatchObject({
      action: 'started',
      waitIds: [after.waits[0].id],
    });
  });

  it('with a lookback, an event from before the start resolves the wait', async () => {
    await createTrigger({ waitFor: [{ ...paymentFailed, lookback: 'PT1H' }] });
    const early = await publish('payment.failed', 'order-7', { amount: 1 });
    await publish('payment.failed', 'order-7', { amount: 2 });
    await publish('order.placed', 'order-7');
    await drain();
    await resolveCommitted(t);
    expect((await instanceOf('order-7')).waits).toEqual([
      expect.objectContaining({
        status: 'resolved',
        event: expect.objectContaining({ eventId: early }),
      }),
    ]);
  });

  it('records a truncated lookback on the firing and on the wait, with the narrowed window start', async () => {
    await createTrigger({ waitFor: [{ ...paymentFailed, lookback: 'PT1H' }] });
    // More events of the pattern than the cap, committed a minute apart (amount 0 the oldest).
    const total = LOOKBACK_MAX_EVENTS + 2;
    const ids: string[] = [];
    for (let n = 0; n < total; n++)
      ids.push(await publish('payment.failed', 'order-7', { amount: n }));
    await t.db.query(
      `UPDATE events SET created_at = now()::timestamp - make_interval(mins => $1 - (payload->>'amount')::int)
        WHERE pattern = 'payment.failed'`,
      [total],
    );
    // A lookback sees only what no older transaction on the server still holds back.
    await resolveCommitted(t);
    const placed = await publish('order.placed', 'order-7');
    await drain();
    // The newest LOOKBACK_MAX_EVENTS are amount 2 … total − 1: the window starts just after 1.
    const { rows } = await t.db.query<{ created_at: Date }>(
      `SELECT created_at FROM events WHERE pattern = 'payment.failed' AND payload->>'amount' = '1'`,
    );
    const from = new Date(rows[0]!.created_at.getTime() + 1).toISOString();
    const firing = (await t.request('GET', `/v1/events/${placed}/triggers`)).body.firings[0];
    expect(firing.warnings).toEqual([
      {
        field: 'waitFor[0].lookback',
        code: 'lookback_truncated',
        message: expect.stringContaining(`committed from ${from}`),
      },
    ]);
    const wait = await t.request('GET', `/v1/waits/${firing.waitIds[0]}`);
    expect(wait.body).toMatchObject({
      status: 'resolved',
      lookbackFrom: from,
      event: { eventId: ids[2] },
    });
  });

  it('times out on the service clock', async () => {
    await createTrigger({ waitFor: [{ ...paymentFailed, timeout: 'PT1H' }] });
    await publish('order.placed', 'order-3');
    await drain();
    t.clock.advance(61 * 60_000);
    await resolveCommitted(t);
    await publish('payment.failed', 'order-3');
    await resolveCommitted(t);
    const [wait] = (await instanceOf('order-3')).waits;
    expect(wait).toMatchObject({ status: 'timed_out' });
    expect(wait).not.toHaveProperty('event');
  });

  it('registers once per firing when the firing is attempted again after a crash', async () => {
    await createTrigger({ waitFor: [paymentFailed, { pattern: 'order.shipped', timeout: 'P7D' }] });
    await publish('order.placed', 'order-4');
    await drain();
    // The worker started the instance and registered its waits, then died before recording the
    // firing: the row is still running under a lease that runs out, and is attempted again.
    await t.db.query(
      `UPDATE routing_work SET status = 'running', locked_by = 'dead-worker', locked_until = $1
        WHERE kind = 'trigger'`,
      [t.clock.now()],
    );
    t.clock.advance(1);
    await drain();
    const instance = await instanceOf('order-4');
    expect(instance.waits.map((w: { pattern: string }) => w.pattern).sort()).toEqual([
      'order.shipped',
      'payment.failed',
    ]);
    const firings = await t.request('GET', `/v1/events/${instance.triggerEventId}/triggers`);
    expect(firings.body.firings[0]).toMatchObject({ action: 'started', attempts: 2 });
    expect([...firings.body.firings[0].waitIds].sort()).toEqual(
      instance.waits.map((w: { id: string }) => w.id).sort(),
    );
  });

  it("keys the waits by the trigger's correlationKey path; none resolved, none registered", async () => {
    await createTrigger({ correlationKey: 'payload.orderId', waitFor: [paymentFailed] });
    const keyless = await publish('order.placed', 'any', {});
    await publish('order.placed', 'any', { orderId: 'o-9' });
    await drain();
    const firings = await t.request('GET', `/v1/events/${keyless}/triggers`);
    expect(firings.body.firings[0]).toMatchObject({
      action: 'started',
      reason: 'no correlation key resolved; waitFor registered no wait',
    });
    const { waits } = (await t.request('GET', '/v1/waits')).body;
    expect(waits).toEqual([
      expect.objectContaining({ correlationKey: 'o-9', correlationKeyPath: 'payload.orderId' }),
    ]);
    const eventId = await publish('payment.failed', 'unrelated', { orderId: 'o-9' });
    await resolveCommitted(t);
    expect((await t.request('GET', `/v1/waits/${waits[0].id}`)).body).toMatchObject({
      status: 'resolved',
      event: { eventId },
    });
  });

  it('resumes an http engine instance it started: a signed POST to {executorUrl}/resume', async () => {
    const received: Array<{ path: string; body: string; headers: Record<string, unknown> }> = [];
    const engine = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => {
        body += chunk;
      });
      request.on('end', () => {
        received.push({ path: request.url ?? '', body, headers: request.headers });
        response.setHeader('content-type', 'application/json');
        response.end(request.url === '/start' ? JSON.stringify({ instanceId: 'run-42' }) : '{}');
      });
    });
    await new Promise<void>((resolve) => engine.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = engine.address() as AddressInfo;
      const definition = await t.request('POST', '/v1/workflow-definitions', {
        payload: {
          name: 'engine-flow',
          executor: 'http',
          executorUrl: `http://127.0.0.1:${port}`,
        },
      });
      await createTrigger({ workflowDefinitionId: definition.body.id, waitFor: [paymentFailed] });
      await publish('order.placed', 'order-5');
      await drain();
      const [wait] = (await t.request('GET', '/v1/waits?correlationKey=order-5')).body.waits;
      expect(wait).toMatchObject({
        status: 'waiting',
        notify: { workflowInstanceId: 'run-42', workflowDefinitionId: definition.body.id },
      });
      const eventId = await publish('payment.failed', 'order-5', { amount: 7 });
      await resolveCommitted(t);
      await drain();
      expect(received.map((r) => r.path)).toEqual(['/start', '/resume']);
      const resume = received[1]!;
      expect(JSON.parse(resume.body)).toMatchObject({
        waitId: wait.id,
        workflowInstanceId: 'run-42',
        event: { eventId },
      });
      expect(
        verifySignature({
          headers: resume.headers as Record<string, string>,
          body: resume.body,
          secret: ENGINE_SECRET,
          now: new Date(Number(resume.headers['webhook-timestamp']) * 1000),
        }),
      ).toEqual({ valid: true });
    } finally {
      await new Promise((resolve) => engine.close(resolve));
    }
  });
});
