import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateSecret, verifySignature } from '../delivery/signature.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { type ReceivedRequest, startReceiver, type TestReceiver } from '../testing/receiver.ts';
import { resolveCommitted } from '../testing/waits.ts';
import { startBuiltinInstance } from '../testing/workflows.ts';

/**
 * A wait that times out or is cancelled notifies as a resolved one does: one signed POST with
 * `status` and `event: null`, retried and dead-lettered alike; a builtin instance shows how each
 * of its waits ended; and a wait ends once, whichever of its event, its timeout and a cancel
 * comes first.
 */

const PATTERN = 'payment.failed';
const ENGINE_SECRET = generateSecret();
const HOUR = 3_600_000;

describe.each(testBackends())('waits that end without an event on $name', (backend) => {
  let t: TestApp;
  let receiver: TestReceiver;
  beforeAll(async () => {
    t = await startTestApp(backend, {
      definitionCacheTtlMs: 0,
      workflowEngineSigningSecret: ENGINE_SECRET,
    });
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    await t.reset();
    receiver = await startReceiver();
    for (const pattern of [PATTERN, 'order.placed']) {
      const created = await t.request('POST', '/v1/event-definitions', {
        payload: openDefinition(pattern),
      });
      expect(created.status).toBe(201);
    }
  });
  afterEach(() => receiver.close());

  const register = async (body: Record<string, unknown>) => {
    const response = await t.request('POST', '/v1/waits', {
      payload: {
        pattern: PATTERN,
        correlationKey: 'order-1',
        timeout: 'PT1H',
        notify: { url: `${receiver.url}/resume` },
        ...body,
      },
    });
    expect(response.status).toBe(201);
    return response.body;
  };
  const publish = async (key: string) => {
    const response = await t.request('POST', '/v1/events', {
      payload: { pattern: PATTERN, payload: {}, metadata: { correlationId: key } },
    });
    expect(response.status).toBe(202);
    return response.body.eventId as string;
  };
  /** Routing rounds, the clock moved past every backoff between them. */
  const runWorkers = async (rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      await t.app.workers.runOnce();
      t.clock.advance(HOUR);
    }
  };
  const bodyOf = (request: ReceivedRequest) => JSON.parse(request.body);
  /** Whether a notification's body is as /openapi.json describes it (`waitEnded` callback). */
  const asDocumented = async (request: ReceivedRequest) => {
    const doc = (await t.request('GET', '/openapi.json')).body;
    const callback = doc.paths['/v1/waits'].post.callbacks.waitEnded['{$request.body#/notify/url}'];
    const ajv = new Ajv({ strict: false });
    addFormats.default(ajv);
    const validate = ajv.compile(callback.post.requestBody.content['application/json'].schema);
    return validate(bodyOf(request)) || validate.errors;
  };
  const signedWith = (request: ReceivedRequest, secret: string) =>
    verifySignature({
      headers: request.headers,
      body: request.body,
      secret,
      now: new Date(Number(request.headers['webhook-timestamp']) * 1000),
    });
  const getWait = async (id: string) => (await t.request('GET', `/v1/waits/${id}`)).body;
  const timeOutAll = async () => {
    t.clock.advance(HOUR + 1);
    await resolveCommitted(t);
  };

  it('POSTs a signed timed_out notification with event null, retrying a failing receiver', async () => {
    receiver.script.push(503);
    const wait = await register({});
    await timeOutAll();
    expect(await getWait(wait.id)).toMatchObject({
      status: 'timed_out',
      notification: { status: 'pending', attempts: 0 },
    });
    await runWorkers(3);
    expect(receiver.received).toHaveLength(2);
    const [first, second] = receiver.received;
    expect(second!.body).toBe(first!.body);
    expect(second!.headers['webhook-id']).toBe(`wait_${wait.id}`);
    expect(bodyOf(second!)).toEqual({
      waitId: wait.id,
      status: 'timed_out',
      correlationKey: 'order-1',
      event: null,
    });
    expect(signedWith(second!, wait.notify.secret)).toEqual({ valid: true });
    expect(await asDocumented(second!)).toBe(true);
    expect((await getWait(wait.id)).notification).toMatchObject({ status: 'done', attempts: 2 });
    // An event of the key after the timeout changes nothing.
    await publish('order-1');
    await resolveCommitted(t);
    await runWorkers(2);
    expect(receiver.received).toHaveLength(2);
    expect((await getWait(wait.id)).status).toBe('timed_out');
  });

  it('dead-letters a timed_out notification after the delivery policy, lists it and sends it again', async () => {
    receiver.status = 500;
    const wait = await register({});
    await timeOutAll();
    await runWorkers(7);
    expect(receiver.received).toHaveLength(5);
    const notification = (await getWait(wait.id)).notification;
    expect(notification).toMatchObject({ status: 'dead', attempts: 5 });
    expect(notification.lastError).toContain('500');
    const dead = await t.request('GET', '/v1/wait-notifications?status=dead');
    expect(dead.body.notifications).toEqual([
      { waitId: wait.id, eventId: null, ...notification, updatedAt: expect.any(String) },
    ]);
    receiver.status = 200;
    const retried = await t.request('POST', `/v1/waits/${wait.id}/notification/retry`);
    expect(retried.status).toBe(202);
    await runWorkers(1);
    expect(receiver.received).toHaveLength(6);
    expect(bodyOf(receiver.received[5]!)).toMatchObject({ status: 'timed_out', event: null });
    expect((await getWait(wait.id)).notification).toMatchObject({ status: 'done', attempts: 1 });
  });

  it('notifies a cancellation once', async () => {
    const wait = await register({});
    const cancelled = await t.request('DELETE', `/v1/waits/${wait.id}`);
    expect(cancelled.status).toBe(200);
    expect((await t.request('DELETE', `/v1/waits/${wait.id}`)).status).toBe(409);
    await publish('order-1');
    await timeOutAll();
    await runWorkers(3);
    expect(receiver.received.map(bodyOf)).toEqual([
      { waitId: wait.id, status: 'cancelled', correlationKey: 'order-1', event: null },
    ]);
    expect(signedWith(receiver.received[0]!, wait.notify.secret)).toEqual({ valid: true });
    expect(await getWait(wait.id)).toMatchObject({
      status: 'cancelled',
      notification: { status: 'done', attempts: 1 },
    });
  });

  it("POSTs an http engine instance's timeout and cancellation to {executorUrl}/resume", async () => {
    const definition = await t.request('POST', '/v1/workflow-definitions', {
      payload: { name: 'engine-flow', executor: 'http', executorUrl: receiver.url },
    });
    const notify = (run: string) => ({
      workflowInstanceId: run,
      workflowDefinitionId: definition.body.id,
    });
    const timesOut = await register({ notify: notify('run-1') });
    const cancelled = await register({ notify: notify('run-2') });
    expect((await t.request('DELETE', `/v1/waits/${cancelled.id}`)).status).toBe(200);
    await timeOutAll();
    await runWorkers(2);
    expect(receiver.received).toHaveLength(2);
    const byWait = new Map(receiver.received.map((r) => [bodyOf(r).waitId, r]));
    for (const [wait, status, run] of [
      [timesOut, 'timed_out', 'run-1'],
      [cancelled, 'cancelled', 'run-2'],
    ] as const) {
      const request = byWait.get(wait.id);
      expect(request?.headers['idempotency-key']).toBe(`resume:${wait.id}`);
      expect(bodyOf(request!)).toEqual({
        waitId: wait.id,
        status,
        correlationKey: 'order-1',
        ...notify(run),
        event: null,
      });
      expect(signedWith(request!, ENGINE_SECRET)).toEqual({ valid: true });
      expect(await asDocumented(request!)).toBe(true);
    }
  });

  it('shows on a builtin instance how each of its waits ended, and sends nothing', async () => {
    const instanceId = await startBuiltinInstance(t, 'order-1');
    const timesOut = await register({ notify: { workflowInstanceId: instanceId } });
    const cancelled = await register({ notify: { workflowInstanceId: instanceId } });
    await t.request('DELETE', `/v1/waits/${cancelled.id}`);
    const cancelledAt = t.clock.now().toISOString();
    await timeOutAll();
    const instance = await t.request('GET', `/v1/workflow-instances/${instanceId}`);
    const ended = new Map(
      instance.body.waits.map((w: { id: string; status: string; finishedAt: string }) => [
        w.id,
        { status: w.status, finishedAt: w.finishedAt },
      ]),
    );
    expect(ended).toEqual(
      new Map([
        [timesOut.id, { status: 'timed_out', finishedAt: t.clock.now().toISOString() }],
        [cancelled.id, { status: 'cancelled', finishedAt: cancelledAt }],
      ]),
    );
    await runWorkers(2);
    expect(receiver.received).toEqual([]);
    expect((await getWait(timesOut.id)).notification).toBeUndefined();
  });

  it('ends a wait once when its event, its timeout and a cancel race: one state, one notification', async () => {
    const WAITS = 8;
    for (let repetition = 0; repetition < 6; repetition++) {
      await t.reset();
      await t.request('POST', '/v1/event-definitions', { payload: openDefinition(PATTERN) });
      receiver.received.length = 0;
      const keys = Array.from({ length: WAITS }, (_, i) => `r${repetition}-k${i}`);
      const waits = await Promise.all(keys.map((key) => register({ correlationKey: key })));
      // Every wait's event is committed and its timeout passed; nothing has ended it yet.
      await Promise.all(keys.map(publish));
      t.clock.advance(HOUR + 1);
      const now = t.clock.now();
      // Each contender leads in turn; the others follow a few milliseconds later.
      const inTurn = <T>(order: number, run: () => Promise<T>) =>
        new Promise((resolve) => setTimeout(resolve, ((order + repetition) % 3) * 10)).then(run);
      const [cancels] = await Promise.all([
        inTurn(0, () => Promise.all(waits.map((w) => t.request('DELETE', `/v1/waits/${w.id}`)))),
        inTurn(1, () => resolveCommitted(t)),
        inTurn(2, () => Promise.all([t.app.waits.timeOut(now), t.app.waits.timeOut(now)])),
      ]);
      const { rows } = await t.db.query<{
        id: string;
        status: string;
        event_id: string | null;
        notices: number;
        notice_event: string | null;
      }>(
        `SELECT w.id, w.status, w.event_id,
                (SELECT count(*)::int FROM routing_work r WHERE r.kind = 'resume' AND r.target_id = w.id) AS notices,
                (SELECT r.event_id FROM routing_work r WHERE r.kind = 'resume' AND r.target_id = w.id) AS notice_event
           FROM waits w`,
      );
      expect(rows).toHaveLength(WAITS);
      for (const [i, wait] of waits.entries()) {
        const row = rows.find((r) => r.id === wait.id);
        expect(['resolved', 'timed_out', 'cancelled']).toContain(row?.status);
        expect(row?.notices).toBe(1);
        expect(row?.notice_event).toBe(row?.event_id);
        expect(row?.event_id === null).toBe(row?.status !== 'resolved');
        expect(cancels[i]?.status).toBe(row?.status === 'cancelled' ? 200 : 409);
      }
      await runWorkers(2);
      expect(receiver.received).toHaveLength(WAITS);
      const sent = new Map(receiver.received.map((r) => [bodyOf(r).waitId, bodyOf(r)]));
      for (const row of rows) {
        const body = sent.get(row.id);
        expect(body?.status).toBe(row.status);
        expect(body?.event?.eventId ?? null).toBe(row.event_id);
      }
      for (const request of receiver.received) expect(await asDocumented(request)).toBe(true);
    }
  }, 120_000);
});
