import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type TestResponse } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { bookingDefinition, bookingEvent, openDefinition } from '../testing/fixtures.ts';
import { answerValidator, type Operation, operationsOf } from '../testing/fuzz.ts';
import { startReceiver, type TestReceiver } from '../testing/receiver.ts';
import { resolveCommitted } from '../testing/waits.ts';

/**
 * Real answers of the api-keys, waits, event-processor, validate, batch, simulate and explain
 * routes, each checked against the schema /openapi.json gives for its status. Those schemas list
 * their fields exactly (serialisation drops what they do not list), so each answer is also
 * checked for the fields a user reads: a field the schema forgot would be missing here.
 */
describe.each(testBackends())('answers as /openapi.json describes them on $name', (backend) => {
  let t: TestApp;
  let receiver: TestReceiver;
  let operations: Operation[];
  let check: ReturnType<typeof answerValidator>;

  beforeAll(async () => {
    t = await startTestApp(backend);
    receiver = await startReceiver();
    const doc = (await t.request('GET', '/openapi.json')).body;
    operations = operationsOf(doc);
    check = answerValidator(doc);
    await t.request('POST', '/v1/event-definitions', { payload: bookingDefinition() });
    for (const pattern of ['orders.placed', 'orders.audited', 'payment.failed']) {
      await t.request('POST', '/v1/event-definitions', {
        payload: openDefinition(pattern, [{ orderId: 'o-ex' }]),
      });
    }
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  /** The answer to a request of the operation at `path`, checked against its description. */
  async function described(
    method: string,
    path: string,
    url: string,
    payload?: unknown,
    headers?: Record<string, string>,
  ): Promise<TestResponse> {
    const response = await t.request(method, url, { payload, headers });
    const operation = operations.find((o) => o.method === method && o.path === path);
    if (!operation) throw new Error(`${method} ${path} is not described`);
    expect(check(operation, response.status, response.body), `${method} ${url}`).toBeUndefined();
    return response;
  }
  const drain = async () => {
    while ((await t.app.workers.runOnce()) > 0) {}
  };

  it('api keys: created (with the key once), listed and revoked', async () => {
    const created = await described('POST', '/v1/api-keys', '/v1/api-keys', {
      kind: 'service',
      name: 'billing',
      scopes: ['events:read'],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      kind: 'service',
      name: 'billing',
      scopes: ['events:read'],
      revoked_at: null,
      key: expect.any(String),
    });
    const revoked = await t.request('DELETE', `/v1/api-keys/${created.body.id}`);
    expect(revoked.status).toBe(204);
    const listed = await described('GET', '/v1/api-keys', '/v1/api-keys?kind=service');
    expect(listed.body.api_keys).toEqual([
      expect.objectContaining({
        id: created.body.id,
        prefix: created.body.prefix,
        revoked_at: expect.any(String),
      }),
    ]);
    expect(listed.body.api_keys[0]).not.toHaveProperty('key');
    const me = await described('GET', '/v1/me', '/v1/me');
    expect(me.body).toMatchObject({ auth: 'off', key: null, token: null });
  });

  it('event processors: written, read, listed, dry-run, fired and dead-lettered', async () => {
    // A mapping the output's definition refuses once published: accepted with ?check=warn.
    const body = {
      name: 'audit-orders',
      eventPattern: 'orders.placed',
      eventCondition: "payload.orderId != 'skip'",
      output: {
        pattern: 'orders.audited',
        version: '1.0.0',
        source: { type: 'auditor', id: 'a-1' },
        payload: { orderId: 'payload.orderId' },
      },
      labels: { team: 'audit' },
    };
    const created = await described('POST', '/v1/event-processors', '/v1/event-processors', body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ ...body, enabled: true, description: null, revision: 1 });
    const id: string = created.body.id;
    const read = await described('GET', '/v1/event-processors/{id}', `/v1/event-processors/${id}`);
    expect(read.body).toEqual(created.body);
    const listed = await described('GET', '/v1/event-processors', '/v1/event-processors');
    expect(listed.body.processors).toEqual([created.body]);
    const patched = await described(
      'PATCH',
      '/v1/event-processors/{id}',
      `/v1/event-processors/${id}`,
      { description: 'audit trail' },
      { 'if-match': '"1"' },
    );
    expect(patched.body).toMatchObject({ description: 'audit trail', revision: 2 });
    const upserted = await described(
      'PUT',
      '/v1/by-name/event-processors/{name}',
      '/v1/by-name/event-processors/audit-orders',
      { eventPattern: body.eventPattern, output: body.output },
    );
    expect(upserted.body).toMatchObject({ id, eventCondition: null, revision: 3 });

    const dryRun = await described(
      'POST',
      '/v1/event-processors/{id}/test',
      `/v1/event-processors/${id}/test`,
      { pattern: 'orders.placed', payload: { orderId: 'o-1' } },
    );
    expect(dryRun.body).toMatchObject({
      dryRun: true,
      event: { pattern: 'orders.placed', payload: { orderId: 'o-1' } },
      processorId: id,
      action: 'would_derive',
      derivedEvent: { pattern: 'orders.audited', payload: { orderId: 'o-1' } },
    });

    // A condition the source event cannot satisfy is recorded with its result.
    await described(
      'PATCH',
      '/v1/event-processors/{id}',
      `/v1/event-processors/${id}`,
      { eventCondition: "payload.orderId != 'skip'" },
      { 'if-match': '"3"' },
    );
    await t.request('POST', '/v1/events', {
      payload: { pattern: 'orders.placed', payload: { orderId: 'skip' } },
    });
    await drain();
    const firings = await described(
      'GET',
      '/v1/event-processors/{id}/firings',
      `/v1/event-processors/${id}/firings`,
    );
    expect(firings.body.firings).toEqual([
      expect.objectContaining({ processorId: id, action: 'skipped', conditionResult: false }),
    ]);
    const dead = await described(
      'GET',
      '/v1/processor-firings',
      '/v1/processor-firings?status=dead',
    );
    expect(dead.body.firings).toEqual([]);
  });

  it('waits: registered, listed, read, resolved with their event and notification, cancelled', async () => {
    const registered = await described('POST', '/v1/waits', '/v1/waits', {
      pattern: 'payment.failed',
      correlationKey: 'order-1',
      timeout: 'PT1H',
      notify: { url: `${receiver.url}/resume` },
    });
    expect(registered.status).toBe(201);
    expect(registered.body).toMatchObject({
      status: 'waiting',
      condition: null,
      correlationKeyPath: null,
      lookback: null,
      finishedAt: null,
      notify: { url: `${receiver.url}/resume`, secret: expect.stringMatching(/^whsec_/) },
    });
    const id: string = registered.body.id;
    const unknownInstance = await described('POST', '/v1/waits', '/v1/waits', {
      pattern: 'payment.failed',
      correlationKey: 'order-2',
      timeout: 'PT1H',
      notify: { workflowInstanceId: 'wi-2' },
    });
    expect(unknownInstance.status).toBe(404);
    const engine = await t.request('POST', '/v1/workflow-definitions', {
      payload: { name: 'engine', version: '1.0.0', executor: 'http', executorUrl: receiver.url },
    });
    expect(engine.status).toBe(201);
    const forInstance = await described('POST', '/v1/waits', '/v1/waits', {
      pattern: 'payment.failed',
      correlationKey: 'order-2',
      timeout: 'PT1H',
      notify: { workflowInstanceId: 'wi-2', workflowDefinitionId: engine.body.id },
    });
    expect(forInstance.body.notify).toEqual({
      workflowInstanceId: 'wi-2',
      workflowDefinitionId: engine.body.id,
    });

    await t.request('POST', '/v1/events', {
      payload: { pattern: 'payment.failed', payload: {}, metadata: { correlationId: 'order-1' } },
    });
    await resolveCommitted(t);
    await drain();
    const resolved = await described('GET', '/v1/waits/{id}', `/v1/waits/${id}`);
    expect(resolved.body).toMatchObject({
      status: 'resolved',
      notify: { url: `${receiver.url}/resume` },
      event: { pattern: 'payment.failed', metadata: { correlationId: 'order-1' } },
      notification: { status: 'done', attempts: 1, lastError: null, nextAttemptAt: null },
      finishedAt: expect.any(String),
    });
    expect(resolved.body.notify).not.toHaveProperty('secret');

    const listed = await described('GET', '/v1/waits', '/v1/waits?status=resolved');
    expect(listed.body.waits.map((w: { id: string }) => w.id)).toEqual([id]);
    const cancelled = await described(
      'DELETE',
      '/v1/waits/{id}',
      `/v1/waits/${forInstance.body.id}`,
    );
    expect(cancelled.body).toMatchObject({ status: 'cancelled', finishedAt: expect.any(String) });
    const dead = await described(
      'GET',
      '/v1/wait-notifications',
      '/v1/wait-notifications?status=dead',
    );
    expect(dead.body.notifications).toEqual([]);
  });

  it('simulation and explanation: a verdict per trigger, subscription and processor, and what happened', async () => {
    const workflow = await t.request('POST', '/v1/workflow-definitions', {
      payload: { name: 'booking-flow', version: '1.0.0' },
    });
    const trigger = await t.request('POST', '/v1/workflow-triggers', {
      payload: {
        name: 'start-booking',
        eventPattern: 'bookings.created',
        workflowDefinitionId: workflow.body.id,
        triggerType: 'START',
        inputMapping: { bookingId: 'payload.bookingId' },
      },
    });
    const subscription = await t.request('POST', '/v1/subscriptions', {
      payload: {
        event_pattern: 'bookings.created',
        subscriber: { id: 'crm', type: 'webhook', endpoint: `${receiver.url}/bookings` },
      },
    });
    const processor = await t.request('POST', '/v1/event-processors', {
      payload: {
        name: 'audit-bookings',
        eventPattern: 'bookings.created',
        output: { pattern: 'orders.audited', payload: { orderId: 'payload.bookingId' } },
      },
    });
    expect([trigger.status, subscription.status, processor.status]).toEqual([201, 201, 201]);
    const ids = {
      triggerId: trigger.body.id,
      subscriptionId: subscription.body.subscription_id,
      processorId: processor.body.id,
    };

    const simulated = await described(
      'POST',
      '/v1/events/simulate',
      '/v1/events/simulate',
      bookingEvent({ eventId: 'ev-explained' }),
    );
    expect(simulated.body).toMatchObject({
      simulated: true,
      event: { eventId: 'ev-explained', pattern: 'bookings.created', version: '1.0.0' },
    });
    const verdictOf = (list: Array<Record<string, unknown>>, field: keyof typeof ids) =>
      list.find((v) => v[field] === ids[field]);
    expect(verdictOf(simulated.body.triggers, 'triggerId')).toMatchObject({
      name: 'start-booking',
      enabled: true,
      matched: true,
      action: 'would_start',
      triggerType: 'START',
      workflowDefinitionId: workflow.body.id,
      mappedInput: { bookingId: 'bk_1' },
      inputSchema: { valid: true, details: [] },
      createdAt: expect.any(String),
    });
    expect(verdictOf(simulated.body.subscriptions, 'subscriptionId')).toMatchObject({
      status: 'active',
      matched: true,
      action: 'would_deliver',
      request: {
        method: 'POST',
        url: `${receiver.url}/bookings`,
        headers: expect.objectContaining({ 'content-type': expect.any(String) }),
        body: expect.stringContaining('ev-explained'),
      },
    });
    expect(verdictOf(simulated.body.processors, 'processorId')).toMatchObject({
      name: 'audit-bookings',
      matched: true,
      action: 'would_derive',
      depth: 1,
      derivedEvent: { pattern: 'orders.audited', payload: { orderId: 'bk_1' } },
      derivedEventCheck: { valid: true, details: [] },
    });
    expect(simulated.body.triggers[0]).not.toHaveProperty('happened');

    await t.request('POST', '/v1/events', { payload: bookingEvent({ eventId: 'ev-explained' }) });
    await drain();
    const explained = await described(
      'GET',
      '/v1/events/{eventId}/explain',
      '/v1/events/ev-explained/explain',
    );
    expect(explained.body.event).toMatchObject({ eventId: 'ev-explained' });
    expect(explained.body).not.toHaveProperty('simulated');
    expect(verdictOf(explained.body.triggers, 'triggerId')).toMatchObject({
      action: 'would_start',
      happened: [expect.objectContaining({ triggerId: ids.triggerId, action: 'started' })],
    });
    expect(verdictOf(explained.body.subscriptions, 'subscriptionId')).toMatchObject({
      action: 'would_deliver',
      happened: [
        expect.objectContaining({ subscription_id: ids.subscriptionId, outcome: 'delivered' }),
      ],
    });
    expect(verdictOf(explained.body.processors, 'processorId')).toMatchObject({
      action: 'would_derive',
      happened: [
        expect.objectContaining({
          processorId: ids.processorId,
          derivedEventId: expect.any(String),
        }),
      ],
    });
    expect(explained.body.orphans).toEqual({ firings: [], deliveries: [], processorFirings: [] });
  });

  it('validation and batches: the event as it would be stored, one result per event', async () => {
    const validated = await described(
      'POST',
      '/v1/events/validate',
      '/v1/events/validate',
      bookingEvent(),
    );
    expect(validated.body).toMatchObject({
      valid: true,
      event: { pattern: 'bookings.created', version: '1.0.0', source: bookingEvent().source },
    });
    const batch = await described('POST', '/v1/events/batch', '/v1/events/batch', {
      events: [
        bookingEvent({ eventId: 'ev-batch-1' }),
        bookingEvent({ eventId: 'ev-batch-1' }),
        bookingEvent({ eventId: 'ev-batch-2', payload: {} }),
        { pattern: 'bookings.created' },
      ],
    });
    expect(batch.body).toMatchObject({ accepted: 1, duplicates: 1, rejected: 2 });
    expect(batch.body.results).toEqual([
      { index: 0, eventId: 'ev-batch-1', status: 'accepted' },
      { index: 1, eventId: 'ev-batch-1', status: 'duplicate' },
      {
        index: 2,
        eventId: 'ev-batch-2',
        status: 'rejected',
        error: expect.objectContaining({ code: 'validation_error' }),
      },
      {
        index: 3,
        status: 'rejected',
        error: expect.objectContaining({ code: 'validation_error' }),
      },
    ]);
  });
});
