import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { sampleValue } from '../testing/prometheus.ts';

/** The deepest derivation chain these tests allow (PROCESSOR_MAX_DEPTH). */
const MAX_DEPTH = 2;

describe.each(testBackends())('event processors on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend, { definitionCacheTtlMs: 0, processorMaxDepth: MAX_DEPTH });
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    await t.reset();
    const order = {
      type: 'object',
      required: ['orderId', 'amount'],
      properties: { orderId: { type: 'string' }, amount: { type: 'number' } },
    };
    for (const pattern of ['orders.audited', 'orders.archived']) {
      await t.request('POST', '/v1/event-definitions', { payload: openDefinition(pattern) });
    }
    // The source's definition, and the derived event's: what a processor's output is checked against.
    for (const pattern of ['orders.placed', 'orders.enriched']) {
      await t.request('POST', '/v1/event-definitions', {
        payload: {
          ...openDefinition(pattern, [{ orderId: 'o-ex', amount: 5 }]),
          payload_schema: order,
        },
      });
    }
  });

  const enrich = {
    name: 'enrich-orders',
    eventPattern: 'orders.placed',
    output: {
      pattern: 'orders.enriched',
      payload: { orderId: 'payload.orderId', amount: 'payload.amount', kind: { const: 'rich' } },
    },
  };
  const create = (body: Record<string, unknown>) =>
    t.request('POST', '/v1/event-processors', { payload: body });
  const processor = (name: string, eventPattern: string, outputPattern: string) =>
    create({ name, eventPattern, output: { pattern: outputPattern, payload: {} } });
  const publish = async (event: Record<string, unknown>) => {
    const response = await t.request('POST', '/v1/events', { payload: event });
    expect(response.status).toBe(202);
    return response.body.eventId as string;
  };
  const drain = async () => {
    while ((await t.app.workers.runOnce()) > 0) {}
  };
  const eventsOf = async (pattern: string) =>
    (await t.request('GET', `/v1/events?pattern=${pattern}`)).body.events as any[];
  /** eps_event_processor_firings_total by outcome, as GET /metrics shows it. */
  const processorFiringsMetric = async () => {
    const text = (await t.request('GET', '/metrics')).body as string;
    return {
      derived: sampleValue(text, 'eps_event_processor_firings_total', { outcome: 'derived' }),
      failed: sampleValue(text, 'eps_event_processor_firings_total', { outcome: 'failed' }),
    };
  };
  const firings = async (id: string) =>
    (await t.request('GET', `/v1/event-processors/${id}/firings`)).body.firings as any[];

  describe('managing', () => {
    it('creates, reads, lists, patches with If-Match, disables and deletes', async () => {
      const created = await create({ ...enrich, eventCondition: 'payload.amount > 10' });
      expect(created.status).toBe(201);
      expect(created.headers.location).toBe(`/v1/event-processors/${created.body.id}`);
      expect(created.body).toMatchObject({
        ...enrich,
        eventCondition: 'payload.amount > 10',
        enabled: true,
        revision: 1,
      });
      const read = await t.request('GET', `/v1/event-processors/${created.body.id}`);
      expect(read.body).toEqual(created.body);
      expect(read.headers.etag).toBe('"1"');
      const list = await t.request('GET', '/v1/event-processors?enabled=true');
      expect(list.body.processors.map((p: any) => p.name)).toEqual(['enrich-orders']);
      const path = `/v1/event-processors/${created.body.id}`;
      expect((await t.request('PATCH', path, { payload: { enabled: false } })).status).toBe(428);
      const disabled = await t.request('PATCH', path, {
        payload: { enabled: false },
        headers: { 'if-match': '"1"' },
      });
      expect(disabled.body).toMatchObject({ enabled: false, revision: 2 });
      expect(disabled.headers.etag).toBe('"2"');
      const stale = await t.request('PATCH', path, {
        payload: { enabled: true },
        headers: { 'if-match': '"1"' },
      });
      expect(stale.status).toBe(412);
      // Disabled, it derives nothing.
      await publish({ pattern: 'orders.placed', payload: { orderId: 'o-1', amount: 20 } });
      await drain();
      expect(await eventsOf('orders.enriched')).toEqual([]);
      expect((await t.request('DELETE', path)).status).toBe(204);
      expect((await t.request('GET', path)).status).toBe(404);
    });

    it('creates or replaces by name: unchanged keeps the revision, If-Match honoured, loops refused', async () => {
      const { name, ...body } = enrich;
      const path = `/v1/event-processors/by-name/${name}`;
      const created = await t.request('PUT', path, { payload: body });
      expect(created.status).toBe(201);
      expect(created.headers.location).toBe(`/v1/event-processors/${created.body.id}`);
      expect(created.body).toMatchObject({ name, revision: 1 });
      const same = await t.request('PUT', `/v1/by-name/event-processors/${name}`, {
        payload: body,
      });
      expect(same.status).toBe(200);
      expect(same.body).toMatchObject({ id: created.body.id, revision: 1 });
      expect(same.headers.etag).toBe(created.headers.etag);
      const changed = { ...body, eventCondition: 'payload.amount > 10' };
      const stale = await t.request('PUT', path, {
        payload: changed,
        headers: { 'if-match': '"7"' },
      });
      expect(stale.status).toBe(412);
      const replaced = await t.request('PUT', path, {
        payload: changed,
        headers: { 'if-match': '"1"' },
      });
      expect(replaced.status).toBe(200);
      expect(replaced.body).toMatchObject({
        id: created.body.id,
        revision: 2,
        eventCondition: 'payload.amount > 10',
      });
      // The replacement is what routes: an event the new condition refuses derives nothing.
      await publish({ pattern: 'orders.placed', payload: { orderId: 'o-1', amount: 5 } });
      await drain();
      expect(await eventsOf('orders.enriched')).toEqual([]);
      expect(
        (await t.request('PUT', '/v1/event-processors/by-name/Bad Name', { payload: body })).status,
      ).toBe(400);
      const loop = await t.request('PUT', '/v1/event-processors/by-name/back-again', {
        payload: {
          eventPattern: 'orders.enriched',
          output: { pattern: 'orders.placed', payload: {} },
        },
      });
      expect(loop.status).toBe(409);
      expect(
        (await t.request('GET', '/v1/event-processors?name=back-again')).body.processors,
      ).toEqual([]);
    });

    it('refuses expressions that do not parse and outputs that are not registered events', async () => {
      const refused = await create({
        ...enrich,
        eventCondition: 'payload.amount >',
        output: { pattern: 'orders.*', payload: { orderId: 'payload.[' } },
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error.details.map((d: any) => d.field).sort()).toEqual([
        'eventCondition',
        'output.pattern',
        'output.payload.orderId',
      ]);
      const mistyped = await create({
        ...enrich,
        output: {
          pattern: 'orders.enriched',
          payload: { orderId: { const: 'o' }, amount: { const: 'many' } },
        },
      });
      expect(mistyped.status).toBe(400);
      expect(mistyped.body.error.details[0]).toMatchObject({
        field: 'output.payload.amount',
        code: 'input_mismatch',
      });
      const taken = await create(enrich);
      expect(taken.status).toBe(201);
      expect((await create(enrich)).status).toBe(409);
    });
  });

  describe('output.version', () => {
    it('must be a registered version of output.pattern that is not a draft', async () => {
      const versioned = (version: string) =>
        create({ ...enrich, output: { ...enrich.output, version } });
      const unknown = await versioned('9.9.9');
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.details).toEqual([
        {
          field: 'output.version',
          code: 'unknown_version',
          message: expect.stringContaining('registered: 1.0.0'),
        },
      ]);
      const draft = await t.request('POST', '/v1/event-definitions', {
        payload: {
          ...openDefinition('orders.enriched'),
          event_id: 'orders.enriched.event',
          version: '1.1.0',
          status: 'draft',
        },
      });
      expect(draft.status).toBe(201);
      expect((await versioned('1.1.0')).body.error.details).toEqual([
        expect.objectContaining({ field: 'output.version', code: 'draft_version' }),
      ]);
      const pinned = await versioned('1.0.0');
      expect(pinned.status).toBe(201);
      const patched = await t.request('PATCH', `/v1/event-processors/${pinned.body.id}`, {
        payload: { output: { ...enrich.output, version: '2.0.0' } },
        headers: { 'if-match': '"1"' },
      });
      expect(patched.status).toBe(400);
      expect(patched.body.error.details).toEqual([
        expect.objectContaining({ field: 'output.version', code: 'unknown_version' }),
      ]);
      // The pinned version is the one its derived events are published as.
      await publish({ pattern: 'orders.placed', payload: { orderId: 'o-v', amount: 3 } });
      await drain();
      expect(await eventsOf('orders.enriched')).toEqual([
        expect.objectContaining({
          version: '1.0.0',
          payload: expect.objectContaining({ orderId: 'o-v' }),
        }),
      ]);
    });
  });

  describe('deriving', () => {
    it('publishes the mapped event with the cause and correlation of its source, shown in /trace', async () => {
      const { body: created } = await create(enrich);
      const sourceId = await publish({
        pattern: 'orders.placed',
        payload: { orderId: 'o-1', amount: 20 },
        metadata: { correlationId: 'checkout-7' },
      });
      await drain();
      const [derived, ...more] = await eventsOf('orders.enriched');
      expect(more).toEqual([]);
      expect(derived).toMatchObject({
        pattern: 'orders.enriched',
        version: '1.0.0',
        source: { type: 'processor', id: created.id, name: 'enrich-orders' },
        payload: { orderId: 'o-1', amount: 20, kind: 'rich' },
        metadata: {
          correlationId: 'checkout-7',
          causationId: sourceId,
          derivedBy: { processorId: created.id, depth: 1 },
        },
      });
      const trace = await t.request('GET', `/v1/events/${derived.eventId}/trace`);
      expect(trace.body.correlationId).toBe('checkout-7');
      expect(trace.body.events).toEqual([
        expect.objectContaining({
          eventId: sourceId,
          children: [expect.objectContaining({ eventId: derived.eventId, children: [] })],
        }),
      ]);
      expect(await firings(created.id)).toEqual([
        expect.objectContaining({
          eventId: sourceId,
          status: 'done',
          action: 'derived',
          derivedEventId: derived.eventId,
          depth: 1,
        }),
      ]);
    });

    it('derives only from events its condition accepts', async () => {
      const { body: created } = await create({ ...enrich, eventCondition: 'payload.amount > 10' });
      await publish({ pattern: 'orders.placed', payload: { orderId: 'o-1', amount: 5 } });
      await drain();
      expect(await eventsOf('orders.enriched')).toEqual([]);
      expect(await firings(created.id)).toEqual([
        expect.objectContaining({ action: 'skipped', reason: 'condition is false' }),
      ]);
    });

    it('records an output its definition refuses, retries it and dead-letters it', async () => {
      // The type check refuses the mapping at creation; ?check=warn accepts it with a warning.
      const partial = {
        ...enrich,
        output: { pattern: 'orders.enriched', payload: { orderId: 'payload.orderId' } },
      };
      const refused = await create(partial);
      expect(refused.status).toBe(400);
      expect(refused.body.error.details).toEqual([
        expect.objectContaining({ field: 'output.payload.amount', code: 'input_mismatch' }),
      ]);
      const accepted = await t.request('POST', '/v1/event-processors?check=warn', {
        payload: partial,
      });
      expect(accepted.status).toBe(201);
      expect(accepted.body.warnings).toEqual([
        expect.objectContaining({ field: 'output.payload.amount', code: 'input_mismatch' }),
      ]);
      const created = accepted.body;
      const metricBefore = await processorFiringsMetric();
      await publish({ pattern: 'orders.placed', payload: { orderId: 'o-1', amount: 20 } });
      await drain();
      const [first] = await firings(created.id);
      expect(first).toMatchObject({ status: 'pending', action: 'failed', attempts: 1 });
      expect(first.errorDetails).toEqual([
        expect.objectContaining({ field: 'payload.amount', code: 'required' }),
      ]);
      for (let attempt = 2; attempt <= 3; attempt++) {
        t.clock.advance(120_000);
        await drain();
      }
      const [dead] = await firings(created.id);
      expect(dead).toMatchObject({ status: 'dead', action: 'dead', attempts: 3 });
      expect(await eventsOf('orders.enriched')).toEqual([]);
      const everyDead = await t.request('GET', '/v1/processor-firings?status=dead&limit=10');
      expect(everyDead.body.firings).toEqual([
        expect.objectContaining({ id: dead.id, processorId: created.id, action: 'dead' }),
      ]);
      // Fixed, and retried from the dead letters: the same firing derives the event.
      await t.request('PATCH', `/v1/event-processors/${created.id}`, {
        payload: { output: enrich.output },
        headers: { 'if-match': '"1"' },
      });
      const retried = await t.request('POST', `/v1/processor-firings/${dead.id}/retry`);
      expect(retried.status).toBe(202);
      await drain();
      expect(await eventsOf('orders.enriched')).toHaveLength(1);
      expect((await t.request('POST', `/v1/processor-firings/${dead.id}/retry`)).status).toBe(409);
      expect((await t.request('GET', '/v1/processor-firings?status=dead')).body.firings).toEqual(
        [],
      );
      // Three refused attempts, then the one derivation, in /metrics.
      const metricAfter = await processorFiringsMetric();
      expect(metricAfter.failed - metricBefore.failed).toBe(3);
      expect(metricAfter.derived - metricBefore.derived).toBe(1);
    });

    it('derives exactly once when an attempt is repeated after a crash', async () => {
      const { body: created } = await create(enrich);
      const metricBefore = await processorFiringsMetric();
      await publish({ pattern: 'orders.placed', payload: { orderId: 'o-1', amount: 20 } });
      await drain();
      // The worker stored the derived event and died before recording its work as done: the
      // row is still running under a lease that runs out.
      await t.db.query(
        `UPDATE routing_work SET status = 'running', locked_by = 'dead-worker', locked_until = $1
          WHERE kind = 'processor'`,
        [t.clock.now()],
      );
      t.clock.advance(1);
      await drain();
      const derived = await eventsOf('orders.enriched');
      expect(derived).toHaveLength(1);
      expect(await firings(created.id)).toEqual([
        expect.objectContaining({
          status: 'done',
          action: 'derived',
          duplicate: true,
          derivedEventId: derived[0].eventId,
          attempts: 2,
        }),
      ]);
      // The repeated attempt stored nothing: counted once.
      expect((await processorFiringsMetric()).derived - metricBefore.derived).toBe(1);
    });

    it(`stops a chain deeper than PROCESSOR_MAX_DEPTH (${MAX_DEPTH}) with a recorded error`, async () => {
      await processor('audit', 'orders.placed', 'orders.audited');
      await processor('archive', 'orders.audited', 'orders.archived');
      const { body: third } = await create({
        name: 'enrich-archived',
        eventPattern: 'orders.archived',
        output: { pattern: 'orders.enriched', payload: { orderId: { const: 'o' }, amount: 1 } },
      });
      const sourceId = await publish({
        pattern: 'orders.placed',
        payload: { orderId: 'o-1', amount: 1 },
      });
      await drain();
      const [archived] = await eventsOf('orders.archived');
      expect(archived.metadata.derivedBy.depth).toBe(2);
      expect(await eventsOf('orders.enriched')).toEqual([]);
      expect(await firings(third.id)).toEqual([
        expect.objectContaining({
          status: 'done',
          action: 'failed',
          errorDetails: [expect.objectContaining({ code: 'depth_exceeded' })],
        }),
      ]);
      const trace = await t.request('GET', `/v1/events/${sourceId}/trace`);
      expect(trace.body.events[0].children[0].children[0].eventId).toBe(archived.eventId);
    });
  });

  describe('loops', () => {
    it('refuses a processor whose output reaches its own input through others', async () => {
      expect((await processor('audit', 'orders.placed', 'orders.audited')).status).toBe(201);
      expect((await processor('archive', 'orders.*', 'orders.archived')).status).toBe(409);
      expect((await processor('archive', 'orders.audited', 'orders.archived')).status).toBe(201);
      const loop = await processor('replace', '**.archived', 'orders.placed');
      expect(loop.status).toBe(409);
      expect(loop.body.error).toMatchObject({
        code: 'cycle',
        details: [
          {
            field: 'output.pattern',
            code: 'cycle',
            message: expect.stringContaining('replace → audit → archive → replace'),
          },
        ],
      });
    });

    it('allows a disabled processor to close a loop only while it stays disabled', async () => {
      await processor('audit', 'orders.placed', 'orders.audited');
      const back = await create({
        name: 'back',
        eventPattern: 'orders.audited',
        output: { pattern: 'orders.placed', payload: { orderId: { const: 'o' }, amount: 1 } },
        enabled: false,
      });
      expect(back.status).toBe(201);
      const enabled = await t.request('PATCH', `/v1/event-processors/${back.body.id}`, {
        payload: { enabled: true },
        headers: { 'if-match': '"1"' },
      });
      expect(enabled.status).toBe(409);
    });
  });

  describe('dry runs and replays', () => {
    it('shows the derived event, or why its definition refuses it, storing nothing', async () => {
      const { body: created } = await create(enrich);
      const test = (id: string, payload: object) =>
        t.request('POST', `/v1/event-processors/${id}/test`, {
          payload: { pattern: 'orders.placed', payload },
        });
      const ok = await test(created.id, { orderId: 'o-1', amount: 3 });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({
        dryRun: true,
        action: 'would_derive',
        derivedEvent: { pattern: 'orders.enriched', payload: { orderId: 'o-1', amount: 3 } },
      });
      const partial = await t.request('POST', '/v1/event-processors?check=warn', {
        payload: {
          ...enrich,
          name: 'partial',
          output: { pattern: 'orders.enriched', payload: { orderId: 'payload.orderId' } },
        },
      });
      const refused = await test(partial.body.id, { orderId: 'o-1', amount: 3 });
      expect(refused.body).toMatchObject({
        action: 'failed',
        errorDetails: [expect.objectContaining({ field: 'payload.amount' })],
      });
      const example = await t.request('POST', `/v1/event-processors/${created.id}/test`, {
        payload: { example: 0 },
      });
      expect(example.body.derivedEvent.payload).toEqual({
        orderId: 'o-ex',
        amount: 5,
        kind: 'rich',
      });
      expect(await eventsOf('orders.placed')).toEqual([]);
      expect(await eventsOf('orders.enriched')).toEqual([]);
    });

    it('replays stored events: once without force, anew with force', async () => {
      await publish({ pattern: 'orders.placed', payload: { orderId: 'o-1', amount: 20 } });
      await drain();
      const { body: created } = await create(enrich);
      const replay = (force: boolean) =>
        t.request('POST', `/v1/event-processors/${created.id}/replay`, {
          payload: { startTime: '2000-01-01T00:00:00Z', endTime: '2100-01-01T00:00:00Z', force },
        });
      expect((await replay(false)).body).toEqual({ matched: 1, queued: 1 });
      await drain();
      expect((await replay(false)).body).toEqual({ matched: 1, queued: 0 });
      await drain();
      expect(await eventsOf('orders.enriched')).toHaveLength(1);
      expect((await replay(true)).body).toEqual({ matched: 1, queued: 1 });
      await drain();
      expect(await eventsOf('orders.enriched')).toHaveLength(2);
    });
  });
});
