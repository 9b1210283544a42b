import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateSecret, verifySignature } from '../delivery/signature.ts';
import { localConfig, startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { resolveCommitted } from '../testing/waits.ts';
import { startBuiltinInstance } from '../testing/workflows.ts';

const PATTERN = 'payment.failed';
/** WAITS_LOOKBACK_MAX_EVENTS here: small, so a test can go past it. */
const LOOKBACK_MAX_EVENTS = 10;
/** What the service signs its POSTs to http workflow engines with. */
const ENGINE_SECRET = generateSecret();

describe.each(testBackends())('waits on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    const { ingest } = localConfig();
    // Many commits in flight at once, one event each: concurrent publishes use many connections.
    t = await startTestApp(backend, {
      definitionCacheTtlMs: 0,
      workflowEngineSigningSecret: ENGINE_SECRET,
      waitsLookbackMaxEvents: LOOKBACK_MAX_EVENTS,
      ingest: { ...ingest, queue: { ...ingest.queue, concurrentCommits: 6, batchSize: 1 } },
    });
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    await t.reset();
    for (const pattern of [PATTERN, 'order.placed']) {
      const created = await t.request('POST', '/v1/event-definitions', {
        payload: openDefinition(pattern),
      });
      expect(created.status).toBe(201);
    }
  });

  const publish = async (key: string, payload: Record<string, unknown> = {}) => {
    const response = await t.request('POST', '/v1/events', {
      payload: { pattern: PATTERN, payload, metadata: { correlationId: key } },
    });
    expect(response.status).toBe(202);
    return response.body.eventId as string;
  };
  const register = (body: Record<string, unknown>) =>
    t.request('POST', '/v1/waits', {
      payload: {
        pattern: PATTERN,
        correlationKey: 'order-1',
        timeout: 'PT24H',
        notify: { url: 'http://127.0.0.1:9/resume' },
        ...body,
      },
    });
  const resolveAll = () => resolveCommitted(t);

  it('refuses what is not a wait, naming each field', async () => {
    const response = await register({
      pattern: 'payment.*',
      condition: 'payload.x ==',
      timeout: 'P31D',
      lookback: 'P1M',
    });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('validation_error');
    expect(response.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
      'condition',
      'lookback',
      'pattern',
      'timeout',
    ]);
    const bad = await register({ notify: { url: 'http://169.254.169.254/latest' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('notify.url');
  });

  it('with a lookback, resolves at once with the first matching event from the past', async () => {
    await publish('order-1', { ok: false });
    const first = await publish('order-1', { ok: true });
    await publish('order-1', { ok: true });
    await publish('order-2', { ok: true });
    // Until no older transaction runs on the server a lookback cannot see them (the resolver
    // resolves the wait instead); past that point it must.
    await resolveAll();
    const response = await register({ lookback: 'PT1H', condition: 'payload.ok == true' });
    expect(response.status).toBe(201);
    expect(response.headers.location).toBe(`/v1/waits/${response.body.id}`);
    expect(response.body).toMatchObject({
      status: 'resolved',
      event: { eventId: first, pattern: PATTERN, payload: { ok: true } },
      notify: { url: 'http://127.0.0.1:9/resume' },
    });
    expect(response.body.notify.secret).toMatch(/^whsec_/);
    expect(response.body.warnings).toBeUndefined();
  });

  it('with a key path, looks back over the newest WAITS_LOOKBACK_MAX_EVENTS events of the window only, and says so', async () => {
    // More events of the pattern than the cap, committed a minute apart (n = 0 the oldest).
    const total = LOOKBACK_MAX_EVENTS + 3;
    const ids: string[] = [];
    for (let n = 0; n < total; n++) ids.push(await publish(`c-${n}`, { orderId: `o-${n}`, n }));
    await t.db.query(
      `UPDATE events SET created_at = now()::timestamp - make_interval(mins => $1 - (payload->>'n')::int)
        WHERE pattern = $2`,
      [total, PATTERN],
    );
    // A lookback sees only what no older transaction on the server still holds back.
    await resolveAll();
    const byKey = (n: number) =>
      register({
        correlationKeyPath: 'payload.orderId',
        correlationKey: `o-${n}`,
        lookback: 'PT1H',
      });
    // The newest LOOKBACK_MAX_EVENTS are n = 3 … total − 1; the window starts just after n = 2.
    const { rows } = await t.db.query<{ created_at: Date }>(
      `SELECT created_at FROM events WHERE pattern = $1 AND payload->>'n' = '2'`,
      [PATTERN],
    );
    const from = new Date(rows[0]!.created_at.getTime() + 1).toISOString();
    const warning = {
      field: 'lookback',
      code: 'lookback_truncated',
      message: expect.stringContaining(`committed from ${from}`),
    };
    const oldestExamined = await byKey(3);
    expect(oldestExamined.body).toMatchObject({
      status: 'resolved',
      event: { eventId: ids[3] },
      warnings: [warning],
    });
    const leftOut = await byKey(2);
    expect(leftOut.status).toBe(201);
    expect(leftOut.body).toMatchObject({ status: 'waiting', warnings: [warning] });
    // The wait shows the window start the lookback searched from; an untruncated one shows none.
    expect((await t.request('GET', `/v1/waits/${leftOut.body.id}`)).body.lookbackFrom).toBe(from);
    expect((await register({ lookback: 'PT1H' })).body.lookbackFrom).toBeUndefined();
    expect(leftOut.body.event).toBeUndefined();
    // The resolver counts from the narrowed window on: a later event of the key resolves it.
    const later = await publish('c-later', { orderId: 'o-2' });
    await resolveAll();
    expect((await t.request('GET', `/v1/waits/${leftOut.body.id}`)).body).toMatchObject({
      status: 'resolved',
      event: { eventId: later },
    });
  });

  it('without a lookback, or past it, waits for an event to come', async () => {
    await publish('order-1');
    const plain = await register({});
    expect(plain.body.status).toBe('waiting');
    // An event committed two hours ago is outside a one-hour lookback.
    await t.db.query(`UPDATE events SET created_at = created_at - interval '2 hours'`);
    const past = await register({ lookback: 'PT1H' });
    expect(past.body.status).toBe('waiting');
    await publish('order-2');
    await resolveAll();
    expect((await t.request('GET', `/v1/waits/${plain.body.id}`)).body.status).toBe('waiting');
    const eventId = await publish('order-1');
    await resolveAll();
    for (const id of [plain.body.id, past.body.id]) {
      const read = await t.request('GET', `/v1/waits/${id}`);
      expect(read.body).toMatchObject({ status: 'resolved', event: { eventId } });
    }
  });

  it('resolves with the first event whose condition holds, and lists by key and status', async () => {
    const wait = await register({ condition: 'payload.amount > 100' });
    await publish('order-1', { amount: 50 });
    const second = await publish('order-1', { amount: 150 });
    await publish('order-1', { amount: 200 });
    await resolveAll();
    const read = await t.request('GET', `/v1/waits/${wait.body.id}`);
    expect(read.body).toMatchObject({ status: 'resolved', event: { eventId: second } });
    await register({ correlationKey: 'order-9' });
    const resolved = await t.request('GET', '/v1/waits?correlationKey=order-1&status=resolved');
    expect(resolved.body.waits.map((w: { id: string }) => w.id)).toEqual([wait.body.id]);
    expect(resolved.body.pagination).toMatchObject({ total: 1 });
    const waiting = await t.request('GET', '/v1/waits?status=waiting');
    expect(waiting.body.waits.map((w: { correlationKey: string }) => w.correlationKey)).toEqual([
      'order-9',
    ]);
  });

  it('resolves by a key path, as a trigger correlationKey', async () => {
    const wait = await register({ correlationKeyPath: 'payload.orderId', correlationKey: 'o-7' });
    await publish('other', { orderId: 'o-6' });
    const eventId = await publish('other', { orderId: 'o-7' });
    await resolveAll();
    expect((await t.request('GET', `/v1/waits/${wait.body.id}`)).body).toMatchObject({
      status: 'resolved',
      correlationKeyPath: 'payload.orderId',
      event: { eventId },
    });
  });

  it('cancels a waiting wait; an ended one is a 409; a cancelled one is not resolved', async () => {
    const wait = await register({});
    const cancelled = await t.request('DELETE', `/v1/waits/${wait.body.id}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect((await t.request('DELETE', `/v1/waits/${wait.body.id}`)).status).toBe(409);
    await publish('order-1');
    await resolveAll();
    expect((await t.request('GET', `/v1/waits/${wait.body.id}`)).body.status).toBe('cancelled');
    expect((await t.request('GET', '/v1/waits/nope')).status).toBe(404);
  });

  it('times out on the injected clock', async () => {
    const wait = await register({ timeout: 'PT1H' });
    expect(wait.body.expiresAt).toBe(new Date(t.clock.now().getTime() + 3_600_000).toISOString());
    t.clock.advance(59 * 60_000);
    await resolveAll();
    expect((await t.request('GET', `/v1/waits/${wait.body.id}`)).body.status).toBe('waiting');
    t.clock.advance(2 * 60_000);
    await resolveAll();
    const read = await t.request('GET', `/v1/waits/${wait.body.id}`);
    expect(read.body).toMatchObject({ status: 'timed_out' });
    expect(read.body).not.toHaveProperty('event');
    await publish('order-1');
    await resolveAll();
    expect((await t.request('GET', `/v1/waits/${wait.body.id}`)).body.status).toBe('timed_out');
  });

  it('records on a builtin workflow instance which event resolved its waits', async () => {
    const instanceId = await startBuiltinInstance(t, 'order-1');
    const wait = await register({ notify: { workflowInstanceId: instanceId } });
    expect(wait.body).toMatchObject({
      status: 'waiting',
      notify: { workflowInstanceId: instanceId },
    });
    const eventId = await publish('order-1');
    await resolveAll();
    const instance = await t.request('GET', `/v1/workflow-instances/${instanceId}`);
    expect(instance.body.waits).toEqual([
      expect.objectContaining({
        id: wait.body.id,
        status: 'resolved',
        event: expect.objectContaining({ eventId }),
      }),
    ]);
    const unknown = await register({
      notify: { workflowInstanceId: '00000000-0000-4000-8000-000000000000' },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.details[0].field).toBe('notify.workflowInstanceId');
  });

  /** A receiver on loopback answering each request with the next status (the last repeats). */
  async function receiver(statuses: number[]) {
    const received: Array<{ path: string; headers: IncomingHttpHeaders; body: string }> = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => {
        body += chunk;
      });
      request.on('end', () => {
        received.push({ path: request.url ?? '', headers: request.headers, body });
        response.statusCode = statuses[Math.min(received.length, statuses.length) - 1]!;
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      base: `http://127.0.0.1:${port}`,
      url: `http://127.0.0.1:${port}/resume`,
      received,
      close: () => new Promise((resolve) => server.close(resolve)),
    };
  }
  /** Routing rounds, the clock moved past every backoff between them. */
  const runWorkers = async (rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      await t.app.workers.runOnce();
      t.clock.advance(3_600_000);
    }
  };

  it('POSTs a signed resolution to the URL, retrying failed attempts', async () => {
    const engine = await receiver([503, 200]);
    try {
      const wait = await register({ notify: { url: engine.url } });
      const secret = wait.body.notify.secret;
      expect(secret).toMatch(/^whsec_/);
      expect((await t.request('GET', `/v1/waits/${wait.body.id}`)).body.notify).toEqual({
        url: engine.url,
      });
      const eventId = await publish('order-1', { amount: 3 });
      await resolveAll();
      await runWorkers(3);
      expect(engine.received).toHaveLength(2);
      const [first, second] = engine.received;
      expect(second!.body).toBe(first!.body);
      expect(second!.headers['webhook-id']).toBe(`wait_${wait.body.id}`);
      expect(JSON.parse(second!.body)).toMatchObject({
        waitId: wait.body.id,
        status: 'resolved',
        correlationKey: 'order-1',
        event: { eventId, payload: { amount: 3 } },
      });
      const valid = verifySignature({
        headers: second!.headers,
        body: second!.body,
        secret,
        now: new Date(Number(second!.headers['webhook-timestamp']) * 1000),
      });
      expect(valid).toEqual({ valid: true });
      const read = await t.request('GET', `/v1/waits/${wait.body.id}`);
      expect(read.body.notification).toMatchObject({ status: 'done', attempts: 2 });
    } finally {
      await engine.close();
    }
  });

  it("POSTs an http engine instance's resolution to {executorUrl}/resume, signed with the engine secret, retrying failures", async () => {
    const engine = await receiver([503, 500, 200]);
    try {
      const definition = await t.request('POST', '/v1/workflow-definitions', {
        payload: { name: 'engine-flow', executor: 'http', executorUrl: engine.base },
      });
      const notify = { workflowInstanceId: 'run-7', workflowDefinitionId: definition.body.id };
      const wait = await register({ notify });
      expect(wait.body).toMatchObject({ status: 'waiting', notify });
      const eventId = await publish('order-1', { amount: 9 });
      await resolveAll();
      await runWorkers(4);
      expect(engine.received).toHaveLength(3);
      for (const request of engine.received) {
        expect(request.path).toBe('/resume');
        expect(request.headers['idempotency-key']).toBe(`resume:${wait.body.id}`);
        expect(request.headers['webhook-id']).toBe(`wait_${wait.body.id}`);
      }
      const last = engine.received[2]!;
      expect(JSON.parse(last.body)).toEqual({
        waitId: wait.body.id,
        status: 'resolved',
        correlationKey: 'order-1',
        workflowInstanceId: 'run-7',
        workflowDefinitionId: definition.body.id,
        event: expect.objectContaining({ eventId, payload: { amount: 9 } }),
      });
      const valid = verifySignature({
        headers: last.headers,
        body: last.body,
        secret: ENGINE_SECRET,
        now: new Date(Number(last.headers['webhook-timestamp']) * 1000),
      });
      expect(valid).toEqual({ valid: true });
      const read = await t.request('GET', `/v1/waits/${wait.body.id}`);
      expect(read.body).toMatchObject({ notify, notification: { status: 'done', attempts: 3 } });
    } finally {
      await engine.close();
    }
  });

  it('names the field of an unknown workflow definition or an instance not of it', async () => {
    const unknown = await register({
      notify: { workflowInstanceId: 'run-1', workflowDefinitionId: 'wf-missing' },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.details[0].field).toBe('notify.workflowDefinitionId');
    const builtin = await t.request('POST', '/v1/workflow-definitions', {
      payload: { name: 'builtin-flow' },
    });
    // A builtin definition's instances are this service's: the id must be one of them.
    const notOurs = await register({
      notify: { workflowInstanceId: 'run-1', workflowDefinitionId: builtin.body.id },
    });
    expect(notOurs.status).toBe(404);
    expect(notOurs.body.error.details[0].field).toBe('notify.workflowInstanceId');
  });

  it('dead-letters a notification after the delivery policy, and sends it again on retry', async () => {
    const engine = await receiver([500]);
    try {
      const wait = await register({ notify: { url: engine.url } });
      const eventId = await publish('order-1');
      await resolveAll();
      await runWorkers(7);
      expect(engine.received).toHaveLength(5);
      const read = await t.request('GET', `/v1/waits/${wait.body.id}`);
      expect(read.body.notification).toMatchObject({ status: 'dead', attempts: 5 });
      expect(read.body.notification.lastError).toContain('500');
      const everyDead = await t.request('GET', '/v1/wait-notifications?status=dead');
      expect(everyDead.body.notifications).toEqual([
        { waitId: wait.body.id, ...read.body.notification, eventId, updatedAt: expect.any(String) },
      ]);
      const retried = await t.request('POST', `/v1/waits/${wait.body.id}/notification/retry`);
      expect(retried.status).toBe(202);
      await runWorkers(1);
      expect(engine.received).toHaveLength(6);
      const again = await t.request('POST', `/v1/waits/${wait.body.id}/notification/retry`);
      expect(again.status).toBe(409);
      const none = await t.request('GET', '/v1/wait-notifications?status=dead');
      expect(none.body.notifications).toEqual([]);
    } finally {
      await engine.close();
    }
  });

  it('resolves each wait exactly once, with its first matching event, while publishes race registrations', async () => {
    const KEYS = 12;
    const EVENTS = 48;
    for (let repetition = 0; repetition < 8; repetition++) {
      await t.db.query('DELETE FROM waits');
      const keys = Array.from({ length: KEYS }, (_, i) => `r${repetition}-k${i}`);
      const registrations = keys.map((key, i) =>
        register({
          correlationKey: key,
          condition: 'payload.ok == true',
          // Half look back, half only wait forwards.
          ...(i % 2 === 0 ? { lookback: 'PT1H' } : {}),
        }),
      );
      const publishes = Array.from({ length: EVENTS }, (_, i) =>
        publish(keys[i % KEYS]!, { ok: i % 3 !== 0, i }),
      );
      const rounds = Array.from({ length: 4 }, () => resolveAll());
      const [registered] = await Promise.all([
        Promise.all(registrations),
        Promise.all(publishes),
        Promise.all(rounds),
      ]);
      for (const r of registered) expect(r.status).toBe(201);
      // One more matching event per key: every wait must end resolved.
      for (const key of keys) await publish(key, { ok: true, last: true });
      await resolveAll();
      const { rows } = await t.db.query<{
        id: string;
        status: string;
        event_id: string | null;
        expected: string | null;
      }>(
        `SELECT w.id, w.status, w.event_id,
                (SELECT e.event_id FROM events e
                  WHERE e.pattern = w.pattern AND e.metadata->>'correlationId' = w.correlation_key
                    AND e.created_at >= w.window_start AND (e.payload->>'ok')::boolean
                  ORDER BY e.commit_xid, e.commit_seq LIMIT 1) AS expected
           FROM waits w`,
      );
      expect(rows).toHaveLength(KEYS);
      for (const row of rows) {
        expect(row.status).toBe('resolved');
        expect(row.event_id).toBe(row.expected);
      }
      // Each registration answered the wait as stored then: resolved only by its lookback.
      for (const r of registered)
        if (r.body.status === 'resolved')
          expect(rows.find((row) => row.id === r.body.id)?.event_id).toBe(r.body.event.eventId);
    }
  }, 120_000);
});
