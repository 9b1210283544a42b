import { beforeEach, describe, expect, it } from 'vitest';
import { useAppWithReceiver } from '../testing/app-and-receiver.ts';
import { testBackends } from '../testing/backends.ts';

const bookingSchema = {
  type: 'object',
  required: ['bookingId'],
  properties: { bookingId: { type: 'string' }, amount: { type: 'number' } },
};

describe.each(testBackends())('simulate and explain on $name', (backend) => {
  let workflowId: string;
  const t = useAppWithReceiver(backend, { definitionCacheTtlMs: 0 });
  beforeEach(async () => {
    for (const pattern of ['bookings.created', 'bookings.cancelled', 'orders.placed']) {
      const registered = await t.request('POST', '/v1/event-definitions', {
        payload: {
          event_id: pattern,
          name: pattern,
          pattern,
          version: '1.0.0',
          payload_schema: bookingSchema,
          examples: [{ bookingId: 'bk-ex', amount: 5 }],
        },
      });
      expect(registered.status).toBe(201);
    }
    const workflow = await t.request('POST', '/v1/workflow-definitions', {
      payload: {
        name: 'booking-flow',
        inputSchema: {
          type: 'object',
          required: ['bookingId'],
          properties: { bookingId: { type: 'string' }, amount: { type: 'number', minimum: 10 } },
        },
      },
    });
    workflowId = workflow.body.id;
  });

  const trigger = async (body: Record<string, unknown>) => {
    const response = await t.request('POST', '/v1/workflow-triggers', {
      payload: {
        workflowDefinitionId: workflowId,
        triggerType: 'START',
        inputMapping: { bookingId: 'payload.bookingId' },
        ...body,
      },
    });
    expect(response.status).toBe(201);
    return response.body.id as string;
  };
  const subscription = async (body: Record<string, unknown>) => {
    const response = await t.request('POST', '/v1/subscriptions', { payload: body });
    expect(response.status).toBe(201);
    return response.body.subscription_id as string;
  };
  const counts = async () =>
    (
      await t.db.query<{ events: number; work: number; instances: number; attempts: number }>(
        `SELECT (SELECT count(*)::int FROM events) AS events,
                (SELECT count(*)::int FROM routing_work) AS work,
                (SELECT count(*)::int FROM workflow_instances) AS instances,
                (SELECT count(*)::int FROM delivery_attempts) AS attempts`,
      )
    ).rows[0];
  const drain = async () => {
    while ((await t.app.workers.runOnce()) > 0) {}
  };

  it('answers for every trigger and subscription, and stores, starts and sends nothing', async () => {
    const starts = await trigger({
      eventPattern: 'bookings.created',
      inputMapping: { bookingId: 'payload.bookingId', amount: 'payload.amount' },
      correlationKey: 'payload.bookingId',
    });
    const unmatched = await trigger({ eventPattern: 'orders.placed' });
    const disabled = await trigger({ eventPattern: 'bookings.*', enabled: false });
    const conditional = await trigger({
      eventPattern: 'bookings.created',
      eventCondition: 'payload.amount > 100',
    });
    const webhook = await subscription({
      event_pattern: 'bookings.*',
      subscriber: {
        id: 'crm',
        type: 'webhook',
        endpoint: 'https://crm.example.com/hooks?x=1',
        headers: { 'x-team': 'crm' },
        authentication: { type: 'bearer', credentials: 'very-secret-token' },
      },
    });
    const queue = await subscription({
      event_pattern: 'bookings.created',
      format: 'cloudevents-binary',
      subscriber: { id: 'billing', type: 'queue', endpoint: 'billing.bookings' },
    });
    const filtered = await subscription({
      event_pattern: 'bookings.created',
      subscriber: { id: 'big', type: 'queue', endpoint: 'big.bookings' },
      filter: { expression: 'payload.amount > 100' },
    });
    const paused = await subscription({
      event_pattern: 'bookings.created',
      subscriber: { id: 'later', type: 'queue', endpoint: 'later.bookings' },
    });
    expect((await t.request('POST', `/v1/subscriptions/${paused}/pause`)).status).toBe(200);
    const before = await counts();

    const answer = await t.request('POST', '/v1/events/simulate', {
      payload: { pattern: 'bookings.created', payload: { bookingId: 'bk-1', amount: 5 } },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.simulated).toBe(true);
    const byTrigger = Object.fromEntries(answer.body.triggers.map((x: any) => [x.triggerId, x]));
    expect(byTrigger[starts]).toMatchObject({
      matched: true,
      conditionResult: true,
      correlationKey: 'bk-1',
      mappedInput: { bookingId: 'bk-1', amount: 5 },
      action: 'would_start',
      inputSchema: { valid: false, details: [expect.objectContaining({ field: 'input.amount' })] },
    });
    expect(byTrigger[unmatched]).toMatchObject({ matched: false, notMatched: 'pattern' });
    expect(byTrigger[disabled]).toMatchObject({ matched: false, notMatched: 'disabled' });
    expect(byTrigger[conditional]).toMatchObject({
      matched: true,
      conditionResult: false,
      action: 'skipped',
      reason: 'condition is false',
    });
    const bySubscription = Object.fromEntries(
      answer.body.subscriptions.map((x: any) => [x.subscriptionId, x]),
    );
    const sent = bySubscription[webhook];
    expect(sent).toMatchObject({
      matched: true,
      action: 'would_deliver',
      request: {
        method: 'POST',
        url: 'https://crm.example.com/hooks?x=1',
        headers: {
          'x-team': 'crm',
          authorization: '[redacted]',
          'content-type': 'application/json',
          'webhook-id': 'simulated',
          'webhook-signature': 'v1,[redacted]',
        },
      },
    });
    expect(JSON.parse(sent.request.body)).toMatchObject({
      pattern: 'bookings.created',
      payload: { bookingId: 'bk-1', amount: 5 },
    });
    expect(JSON.stringify(answer.body)).not.toContain('very-secret-token');
    expect(bySubscription[queue]).toMatchObject({
      action: 'would_deliver',
      message: {
        subject: 'billing.bookings',
        headers: { 'ce-type': 'bookings.created', 'content-type': 'application/json' },
      },
    });
    expect(JSON.parse(bySubscription[queue].message.body)).toEqual({
      bookingId: 'bk-1',
      amount: 5,
    });
    expect(bySubscription[filtered]).toMatchObject({ filterResult: false, action: 'filtered' });
    expect(bySubscription[paused]).toMatchObject({
      matched: false,
      notMatched: 'paused',
      action: 'held',
    });
    expect(await counts()).toEqual(before);
  });

  it('names the running instances a cancel would cancel; takes a definition example', async () => {
    await trigger({ eventPattern: 'bookings.created', correlationKey: 'payload.bookingId' });
    const cancels = await trigger({
      eventPattern: 'bookings.cancelled',
      triggerType: 'CANCEL',
      correlationKey: 'payload.bookingId',
    });
    const published = await t.request('POST', '/v1/events', {
      payload: { pattern: 'bookings.created', payload: { bookingId: 'bk-ex', amount: 50 } },
    });
    expect(published.status).toBe(202);
    await drain();
    const [running] = (
      await t.db.query<{ id: string }>(`SELECT id FROM workflow_instances WHERE status = 'running'`)
    ).rows;
    const answer = await t.request('POST', '/v1/events/simulate', {
      payload: { definition: 'bookings.cancelled', example: 0 },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.triggers.find((x: any) => x.triggerId === cancels)).toMatchObject({
      action: 'would_cancel',
      correlationKey: 'bk-ex',
      workflowInstanceIds: [running!.id],
    });
    expect(
      (await t.db.query(`SELECT 1 FROM workflow_instances WHERE status = 'running'`)).rows,
    ).toHaveLength(1);
  });

  it('takes CloudEvents, structured and binary, as POST /v1/events does', async () => {
    const starts = await trigger({
      eventPattern: 'bookings.created',
      correlationKey: 'payload.bookingId',
    });
    const before = await counts();
    const structured = await t.request('POST', '/v1/events/simulate', {
      headers: { 'content-type': 'application/cloudevents+json' },
      payload: JSON.stringify({
        specversion: '1.0',
        id: 'ce-sim-1',
        type: 'bookings.created',
        source: '/workflow/1',
        data: { bookingId: 'bk-ce' },
      }),
    });
    const binary = await t.request('POST', '/v1/events/simulate', {
      headers: {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': 'ce-sim-2',
        'ce-type': 'bookings.created',
        'ce-source': '/workflow/1',
      },
      payload: JSON.stringify({ bookingId: 'bk-bin' }),
    });
    for (const [answer, eventId, bookingId] of [
      [structured, 'ce-sim-1', 'bk-ce'],
      [binary, 'ce-sim-2', 'bk-bin'],
    ] as const) {
      expect(answer.status).toBe(200);
      expect(answer.body.event).toMatchObject({ eventId, payload: { bookingId } });
      expect(answer.body.triggers.find((x: any) => x.triggerId === starts)).toMatchObject({
        matched: true,
        correlationKey: bookingId,
        action: 'would_start',
      });
    }
    const invalid = await t.request('POST', '/v1/events/simulate', {
      headers: { 'content-type': 'application/cloudevents+json' },
      payload: JSON.stringify({ specversion: '0.3', id: 'x', type: 'bookings.created' }),
    });
    expect(invalid.status).toBe(400);
    const xml = await t.request('POST', '/v1/events/simulate', {
      headers: { 'content-type': 'application/xml' },
      payload: '<booking/>',
    });
    expect(xml.status).toBe(415);
    expect(await counts()).toEqual(before);
  });

  it('validates the event as POST /v1/events does', async () => {
    const invalid = await t.request('POST', '/v1/events/simulate', {
      payload: { pattern: 'bookings.created', payload: { amount: 'x' } },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.details.map((d: any) => d.field).sort()).toEqual([
      'payload.amount',
      'payload.bookingId',
    ]);
    const unknown = await t.request('POST', '/v1/events/simulate', {
      payload: { pattern: 'nothing.here', payload: {} },
    });
    expect(unknown.body.error.details[0].code).toBe('unknown_pattern');
    const noExample = await t.request('POST', '/v1/events/simulate', {
      payload: { definition: 'bookings.created', example: 7 },
    });
    expect(noExample.status).toBe(404);
  });

  it('explains a stored event next to what happened, and says which targets came later', async () => {
    const starts = await trigger({ eventPattern: 'bookings.created' });
    const queue = await subscription({
      event_pattern: 'bookings.created',
      subscriber: { id: 'billing', type: 'queue', endpoint: 'billing.bookings' },
      filter: { expression: 'payload.amount > 100' },
    });
    const published = await t.request('POST', '/v1/events', {
      payload: { pattern: 'bookings.created', payload: { bookingId: 'bk-2', amount: 50 } },
    });
    await drain();
    t.clock.advance(60_000);
    const later = await trigger({ eventPattern: 'bookings.*' });
    const explained = await t.request('GET', `/v1/events/${published.body.eventId}/explain`);
    expect(explained.status).toBe(200);
    expect(explained.body.event.eventId).toBe(published.body.eventId);
    const byTrigger = Object.fromEntries(explained.body.triggers.map((x: any) => [x.triggerId, x]));
    expect(byTrigger[starts]).toMatchObject({
      action: 'would_start',
      happened: [expect.objectContaining({ action: 'started', status: 'done' })],
    });
    expect(byTrigger[later]).toMatchObject({
      action: 'would_start',
      happened: [],
      note: expect.stringContaining('created after the event'),
    });
    expect(explained.body.subscriptions).toEqual([
      expect.objectContaining({ subscriptionId: queue, action: 'filtered', happened: [] }),
    ]);
    expect((await t.request('GET', '/v1/events/nope/explain')).status).toBe(404);
  });

  const publish = async (payload: Record<string, unknown>) => {
    const published = await t.request('POST', '/v1/events', {
      payload: { pattern: 'bookings.created', payload },
    });
    expect(published.status).toBe(202);
    return published.body.eventId as string;
  };
  const webhookTo = (extra: Record<string, unknown> = {}) =>
    subscription({
      event_pattern: 'bookings.created',
      subscriber: { id: 'crm', type: 'webhook', endpoint: `${t.receiver.url}/hook` },
      retry_policy: { max_attempts: 10, initial_delay_ms: 10, max_delay_ms: 10 },
      ...extra,
    });

  it('shows a subscription whose circuit is open as held (circuit_open), and due again once it may probe', async () => {
    const webhook = await webhookTo({
      circuit_breaker: { failure_threshold: 2, reset_timeout_ms: 60_000 },
    });
    t.receiver.script.push(500, 500);
    await publish({ bookingId: 'bk-1' });
    await publish({ bookingId: 'bk-2' });
    await drain();
    expect(
      (await t.request('GET', `/v1/subscriptions/${webhook}`)).body.circuit_breaker.state,
    ).toBe('open');
    const simulate = async () =>
      (
        await t.request('POST', '/v1/events/simulate', {
          payload: { pattern: 'bookings.created', payload: { bookingId: 'bk-3' } },
        })
      ).body.subscriptions.find((x: any) => x.subscriptionId === webhook);
    const held = await simulate();
    expect(held).toMatchObject({
      status: 'active',
      matched: false,
      notMatched: 'circuit_open',
      action: 'held',
      // Held, not dropped: the request it will get once the circuit lets it through.
      request: { method: 'POST', url: `${t.receiver.url}/hook` },
    });
    expect(JSON.parse(held.request.body)).toMatchObject({ payload: { bookingId: 'bk-3' } });
    const sentBefore = t.receiver.received.length;
    t.clock.advance(60_000);
    expect(await simulate()).toMatchObject({ matched: true, action: 'would_deliver' });
    expect(t.receiver.received).toHaveLength(sentBefore);
  });

  it('explains a trigger disabled after the event: it fired then, it would not now', async () => {
    const fired = await trigger({ eventPattern: 'bookings.created' });
    const disabledBefore = await trigger({ eventPattern: 'bookings.created', enabled: false });
    const eventId = await publish({ bookingId: 'bk-4' });
    await drain();
    t.clock.advance(60_000);
    const disabled = await t.request('PATCH', `/v1/workflow-triggers/${fired}`, {
      payload: { enabled: false },
      headers: { 'if-match': '"1"' },
    });
    expect(disabled.status).toBe(200);
    const explained = await t.request('GET', `/v1/events/${eventId}/explain`);
    const byTrigger = Object.fromEntries(explained.body.triggers.map((x: any) => [x.triggerId, x]));
    expect(byTrigger[fired]).toMatchObject({
      enabled: false,
      matched: false,
      notMatched: 'disabled',
      action: 'would_start',
      happened: [expect.objectContaining({ action: 'started', status: 'done' })],
      note: expect.stringContaining('disabled after the event'),
    });
    expect(byTrigger[disabledBefore]).toMatchObject({
      matched: false,
      notMatched: 'disabled',
      happened: [],
      note: 'disabled: events are not routed to it',
    });
  });

  it('explains a webhook delivery that happened next to the request it would get now', async () => {
    const webhook = await webhookTo();
    const eventId = await publish({ bookingId: 'bk-5', amount: 12 });
    await drain();
    expect(t.receiver.received).toHaveLength(1);
    const explained = await t.request('GET', `/v1/events/${eventId}/explain`);
    expect(explained.status).toBe(200);
    const [entry] = explained.body.subscriptions;
    expect(entry).toMatchObject({
      subscriptionId: webhook,
      matched: true,
      action: 'would_deliver',
      request: { method: 'POST', url: `${t.receiver.url}/hook` },
      happened: [
        expect.objectContaining({
          subscription_id: webhook,
          event_id: eventId,
          attempt: 1,
          outcome: 'delivered',
          status_code: 200,
        }),
      ],
    });
    expect(entry.note).toBeUndefined();
    // The simulated request is the one the receiver got, but for its id and signature.
    const [actual] = t.receiver.received;
    expect(entry.request.body).toBe(actual!.body);
    expect(entry.request.headers['content-type']).toBe(actual!.headers['content-type']);
    expect(entry.request.headers['webhook-signature']).toBe('v1,[redacted]');
    expect(actual!.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/=]{20,}$/);
    expect(explained.body.orphans).toEqual({ firings: [], deliveries: [], processorFirings: [] });
  });

  it('includes enabled event processors: condition, the derived event and its verdict; explain shows what they derived', async () => {
    const processor = async (body: Record<string, unknown>, query = '') => {
      const response = await t.request('POST', `/v1/event-processors${query}`, { payload: body });
      expect(response.status).toBe(201);
      return response.body.id as string;
    };
    const derives = await processor({
      name: 'to-orders',
      eventPattern: 'bookings.created',
      eventCondition: 'payload.amount > 10',
      output: {
        pattern: 'orders.placed',
        payload: { bookingId: 'payload.bookingId', amount: 'payload.amount' },
      },
    });
    // Its output lacks the required bookingId: accepted only with ?check=warn.
    const refused = await processor(
      {
        name: 'broken',
        eventPattern: 'bookings.created',
        output: { pattern: 'orders.placed', payload: { amount: 'payload.amount' } },
      },
      '?check=warn',
    );
    const elsewhere = await processor({
      name: 'elsewhere',
      eventPattern: 'orders.placed',
      output: { pattern: 'bookings.cancelled', payload: { bookingId: 'payload.bookingId' } },
    });
    const disabled = await processor({
      name: 'off',
      eventPattern: 'bookings.created',
      enabled: false,
      output: { pattern: 'bookings.cancelled', payload: { bookingId: 'payload.bookingId' } },
    });
    const before = await counts();
    const simulate = async (amount: number) => {
      const answer = await t.request('POST', '/v1/events/simulate', {
        payload: { pattern: 'bookings.created', payload: { bookingId: 'bk-p', amount } },
      });
      expect(answer.status).toBe(200);
      return Object.fromEntries(answer.body.processors.map((x: any) => [x.processorId, x]));
    };
    const big = await simulate(50);
    expect(big[disabled]).toBeUndefined();
    expect(big[derives]).toMatchObject({
      name: 'to-orders',
      matched: true,
      conditionResult: true,
      action: 'would_derive',
      derivedEvent: {
        pattern: 'orders.placed',
        payload: { bookingId: 'bk-p', amount: 50 },
        metadata: { derivedBy: { processorId: derives, depth: 1 } },
      },
      derivedEventCheck: { valid: true, details: [] },
    });
    expect(big[refused]).toMatchObject({
      matched: true,
      action: 'failed',
      derivedEvent: { pattern: 'orders.placed', payload: { amount: 50 } },
      derivedEventCheck: {
        valid: false,
        details: [expect.objectContaining({ field: 'payload.bookingId' })],
      },
    });
    expect(big[elsewhere]).toMatchObject({ matched: false, notMatched: 'pattern' });
    const small = await simulate(5);
    expect(small[derives]).toMatchObject({
      matched: true,
      conditionResult: false,
      action: 'skipped',
      reason: 'condition is false',
    });
    expect(small[derives].derivedEvent).toBeUndefined();
    expect(await counts()).toEqual(before);

    const eventId = await publish({ bookingId: 'bk-q', amount: 20 });
    await drain();
    const explained = await t.request('GET', `/v1/events/${eventId}/explain`);
    const byProcessor = Object.fromEntries(
      explained.body.processors.map((x: any) => [x.processorId, x]),
    );
    expect(byProcessor[derives]).toMatchObject({
      action: 'would_derive',
      happened: [
        expect.objectContaining({
          processorId: derives,
          status: 'done',
          action: 'derived',
          conditionResult: true,
        }),
      ],
    });
    const [derived] = (await t.request('GET', '/v1/events?pattern=orders.placed')).body.events;
    expect(byProcessor[derives].happened[0].derivedEventId).toBe(derived.eventId);
    expect(byProcessor[refused].happened).toEqual([
      expect.objectContaining({ status: 'pending', action: 'failed' }),
    ]);
    expect(explained.body.orphans.processorFirings).toEqual([]);
  });
});
