import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { bookingDefinition } from '../testing/fixtures.ts';

/**
 * The example requests of the API reference that accompanies the data model, sent exactly as
 * written there (raw JSON text, not rebuilt from objects), with the answers the reference gives.
 */
describe.each(testBackends())('reference examples on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend, { definitionCacheTtlMs: 0 });
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    await t.reset();
    const registered = await t.request('POST', '/v1/event-definitions', {
      payload: bookingDefinition(),
    });
    expect(registered.status).toBe(201);
  });

  const send = (method: string, url: string, body?: string) =>
    t.request(method, url, {
      ...(body === undefined
        ? {}
        : { payload: body, headers: { 'content-type': 'application/json' } }),
    });

  it('POST /v1/subscriptions: a "service" subscriber with a jsonpath filter → 201', async () => {
    const body = `{"event_pattern":"bookings.*","subscriber":{"id":"notification-service","type":"service","endpoint":"https://notification-service.example.com/events","headers":{"X-Custom-Header":"custom-value"}},"filter":{"type":"jsonpath","expression":"$.payload.status == 'confirmed'"},"retry_policy":{"max_attempts":5,"backoff_factor":2,"initial_delay_ms":1000},"description":"Subscription for confirmed bookings"}`;
    const created = await send('POST', '/v1/subscriptions', body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      event_pattern: 'bookings.*',
      // An HTTP endpoint subscriber is a webhook.
      subscriber: {
        id: 'notification-service',
        type: 'webhook',
        endpoint: 'https://notification-service.example.com/events',
        headers: { 'X-Custom-Header': 'custom-value' },
      },
      filter: { type: 'jsonpath', expression: "$.payload.status == 'confirmed'" },
      retry_policy: { max_attempts: 5, backoff_factor: 2, initial_delay_ms: 1000 },
      description: 'Subscription for confirmed bookings',
      status: 'active',
    });
  });

  it('GET /v1/subscriptions?status=suspended → 200 with the paused and disabled ones', async () => {
    const ids: string[] = [];
    for (const id of ['a', 'b', 'c']) {
      const created = await t.request('POST', '/v1/subscriptions', {
        payload: {
          event_pattern: 'bookings.*',
          subscriber: { id, type: 'webhook', endpoint: 'https://hooks.example.com/x' },
        },
      });
      ids.push(created.body.subscription_id);
    }
    await t.request('POST', `/v1/subscriptions/${ids[1]}/pause`);
    // As the service disables one (a 410, or failing for days).
    await t.db.query(`UPDATE subscriptions SET status = 'disabled' WHERE id = $1`, [ids[2]]);

    const suspended = await send('GET', '/v1/subscriptions?status=suspended');
    expect(suspended.status).toBe(200);
    expect(
      suspended.body.subscriptions
        .map((s: { subscription_id: string }) => s.subscription_id)
        .sort(),
    ).toEqual([ids[1], ids[2]].sort());
    expect(suspended.body.pagination.total).toBe(2);
    const active = await send('GET', '/v1/subscriptions?status=active');
    expect(active.body.subscriptions).toHaveLength(1);
  });

  it('POST /v1/workflow-triggers for workflowDefinitionId "wf-12345678" → 404 not_found', async () => {
    const body = `{"workflowDefinitionId":"wf-12345678","eventPattern":"bookings.created","triggerType":"START","eventCondition":"payload.status == 'confirmed'","inputMapping":{"bookingId":"$.payload.bookingId"},"correlationKey":"$.payload.bookingId","enabled":true,"priority":1,"description":"Start the booking workflow"}`;
    const response = await send('POST', '/v1/workflow-triggers', body);
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('not_found');
    expect(response.body.error.message).toContain('wf-12345678');
  });

  it('POST /v1/events with the source in metadata.source → 202; GET /v1/events items carry id', async () => {
    const body = `{"pattern":"bookings.created","version":"1.0.0","payload":{"bookingId":"bk_12345","customerId":"cu_67890","amount":120,"status":"confirmed"},"metadata":{"source":{"type":"workflow","id":"wf-12345678","name":"Booking Workflow"},"correlationId":"corr-12345","userId":"user-42","context":{"type":"client","id":"client-7"},"tags":{"channel":"web"}}}`;
    const accepted = await send('POST', '/v1/events', body);
    expect(accepted.status).toBe(202);
    expect(accepted.body.status).toBe('accepted');

    const listed = await send('GET', '/v1/events');
    expect(listed.status).toBe(200);
    expect(listed.body.events).toHaveLength(1);
    const [event] = listed.body.events;
    expect(event).toMatchObject({
      id: accepted.body.eventId,
      eventId: accepted.body.eventId,
      source: { type: 'workflow', id: 'wf-12345678', name: 'Booking Workflow' },
      metadata: { correlationId: 'corr-12345', userId: 'user-42' },
    });
    // The reference's id finds the event again.
    const one = await send('GET', `/v1/events/${event.id}`);
    expect(one.body).toMatchObject({ id: event.id, eventId: event.id });
  });
});
