import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';

describe.each(testBackends())('workflow event triggers on $name', (backend) => {
  let t: TestApp;
  let workflowId: string;
  beforeAll(async () => {
    t = await startTestApp(backend);
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    await t.reset();
    for (const pattern of [
      'bookings.created',
      'bookings.cancelled',
      'orders.placed',
      'user.activity.login',
    ]) {
      await t.request('POST', '/v1/event-definitions', {
        payload: openDefinition(pattern, [{ bookingId: 'ex-1', status: 'confirmed' }]),
      });
    }
    workflowId = await createWorkflowDefinition('booking-flow');
  });

  async function createWorkflowDefinition(name: string, extra: object = {}): Promise<string> {
    const response = await t.request('POST', '/v1/workflow-definitions', {
      payload: { name, ...extra },
    });
    expect(response.status).toBe(201);
    return response.body.id;
  }

  const createTrigger = async (body: Record<string, unknown>, query = '') => {
    const response = await t.request('POST', `/v1/workflow-triggers${query}`, {
      payload: {
        workflowDefinitionId: workflowId,
        eventPattern: 'bookings.created',
        triggerType: 'START',
        ...body,
      },
    });
    return response;
  };
  const publish = async (event: Record<string, unknown>) => {
    const response = await t.request('POST', '/v1/events', { payload: { payload: {}, ...event } });
    expect(response.status).toBe(202);
    return response.body.eventId as string;
  };
  /** Runs routing rounds until nothing is due. */
  const drain = async () => {
    while ((await t.app.workers.runOnce()) > 0) {}
  };
  const instances = async () =>
    (
      await t.db.query<{
        id: string;
        status: string;
        correlation_key: string;
        input: any;
        trigger_id: string;
        trigger_event_id: string;
      }>(
        'SELECT id, status, correlation_key, input, trigger_id, trigger_event_id FROM workflow_instances ORDER BY created_at, id',
      )
    ).rows;
  const firings = async (eventId: string) =>
    (await t.request('GET', `/v1/events/${eventId}/triggers`)).body.firings;

  describe('managing', () => {
    it('creates, reads, lists, patches with If-Match and deletes', async () => {
      const created = await createTrigger({
        eventCondition: "payload.status == 'confirmed'",
        priority: 5,
        description: 'start on confirm',
      });
      expect(created.status).toBe(201);
      expect(created.headers.location).toBe(`/v1/workflow-triggers/${created.body.id}`);
      expect(created.body).toMatchObject({
        workflowDefinitionId: workflowId,
        eventPattern: 'bookings.created',
        triggerType: 'START',
        eventCondition: "payload.status == 'confirmed'",
        enabled: true,
        priority: 5,
        revision: 1,
        createdAt: t.clock.now().toISOString(),
      });
      const read = await t.request('GET', `/v1/workflow-triggers/${created.body.id}`);
      expect(read.body).toEqual(created.body);
      expect(read.headers.etag).toBe('"1"');
      expect(
        (
          await t.request('PATCH', `/v1/workflow-triggers/${created.body.id}`, {
            payload: { enabled: false },
          })
        ).status,
      ).toBe(428);
      const patched = await t.request('PATCH', `/v1/workflow-triggers/${created.body.id}`, {
        payload: { enabled: false },
        headers: { 'if-match': '"1"' },
      });
      expect(patched.body).toMatchObject({ enabled: false, revision: 2 });
      const stale = await t.request('PATCH', `/v1/workflow-triggers/${created.body.id}`, {
        payload: { enabled: true },
        headers: { 'if-match': '"1"' },
      });
      expect(stale.status).toBe(412);
      expect((await t.request('DELETE', `/v1/workflow-triggers/${created.body.id}`)).status).toBe(
        204,
      );
      expect((await t.request('GET', `/v1/workflow-triggers/${created.body.id}`)).status).toBe(404);
    });

    it('lists with filters, in priority order', async () => {
      const other = await createWorkflowDefinition('other');
      await createTrigger({ priority: 2 });
      await createTrigger({
        priority: 1,
        triggerType: 'CANCEL',
        eventPattern: 'bookings.cancelled',
      });
      await createTrigger({
        workflowDefinitionId: other,
        eventPattern: 'bookings.*',
        enabled: false,
      });
      const all = await t.request('GET', '/v1/workflow-triggers');
      expect(all.body.triggers.map((x: any) => x.priority)).toEqual([1, 2, null]);
      expect(all.body.pagination).toEqual({ total: 3, limit: 100, offset: 0, hasMore: false });
      const filtered = async (qs: string) =>
        (await t.request('GET', `/v1/workflow-triggers?${qs}`)).body.triggers.length;
      expect(await filtered(`workflowDefinitionId=${other}`)).toBe(1);
      expect(await filtered('eventPattern=bookings.*')).toBe(1);
      expect(await filtered('triggerType=CANCEL')).toBe(1);
      expect(await filtered('enabled=false')).toBe(1);
      expect(await filtered('limit=1&offset=1')).toBe(1);
    });

    it.each([
      [{ triggerType: 'PAUSE' }, 'triggerType', 400],
      [{ eventPattern: 'Bookings.Created' }, 'eventPattern', 400],
      [{ eventPattern: 'bookings.**.x**' }, 'eventPattern', 400],
      [{ eventPattern: 'payments.*' }, 'eventPattern', 400],
      [{ eventCondition: 'payload.status ==' }, 'eventCondition', 400],
      [{ eventCondition: 'process.exit(1)' }, 'eventCondition', 400],
      [{ inputMapping: { bookingId: '$.payload[' } }, 'inputMapping.bookingId', 400],
      [{ correlationKey: 'payload..id' }, 'correlationKey', 400],
      [{ workflowDefinitionId: '' }, 'workflowDefinitionId', 400],
    ])('refuses %j naming %s', async (body, field, status) => {
      const response = await createTrigger(body);
      expect(response.status).toBe(status);
      expect(response.body.error.details.map((d: any) => d.field)).toContain(field);
    });

    it.each(['00000000-0000-4000-8000-000000000000', 'wf-12345678'])(
      'answers 404 for an unknown workflow definition %s (ids are opaque)',
      async (id) => {
        const response = await createTrigger({ workflowDefinitionId: id });
        expect(response.status).toBe(404);
        expect(response.body.error.code).toBe('not_found');
        const list = await t.request('GET', `/v1/workflow-triggers?workflowDefinitionId=${id}`);
        expect(list.status).toBe(200);
        expect(list.body.triggers).toEqual([]);
      },
    );

    it('accepts wildcard patterns that match a registered definition', async () => {
      for (const eventPattern of ['bookings.*', '**.created', 'user.**', '**']) {
        expect((await createTrigger({ eventPattern })).status).toBe(201);
      }
    });
  });

  describe('firing', () => {
    it('starts a workflow with the mapped input, then cancels it by correlation key', async () => {
      const start = await createTrigger({
        inputMapping: {
          bookingId: '$.payload.bookingId',
          customer: 'data.customer.id',
          first: '$.payload.items[0].id',
          urgent: true,
          missing: '$.payload.nope',
        },
        correlationKey: '$.payload.bookingId',
      });
      await createTrigger({
        triggerType: 'CANCEL',
        eventPattern: 'bookings.cancelled',
        correlationKey: 'payload.bookingId',
      });
      const created = await publish({
        pattern: 'bookings.created',
        payload: { bookingId: 'bk-1', customer: { id: 'cu-1' }, items: [{ id: 'it-1' }] },
      });
      await drain();
      const [instance] = await instances();
      expect(instance).toMatchObject({
        status: 'running',
        correlation_key: 'bk-1',
        input: { bookingId: 'bk-1', customer: 'cu-1', first: 'it-1', urgent: true },
        trigger_id: start.body.id,
        trigger_event_id: created,
      });
      expect(await firings(created)).toEqual([
        expect.objectContaining({
          triggerId: start.body.id,
          status: 'done',
          action: 'started',
          conditionResult: true,
          correlationKey: 'bk-1',
          mappedInput: instance!.input,
          workflowInstanceIds: [instance!.id],
          attempts: 1,
        }),
      ]);
      const cancelled = await publish({
        pattern: 'bookings.cancelled',
        payload: { bookingId: 'bk-1' },
      });
      await drain();
      expect((await instances())[0]!.status).toBe('cancelled');
      expect(await firings(cancelled)).toEqual([
        expect.objectContaining({ action: 'cancelled', workflowInstanceIds: [instance!.id] }),
      ]);
    });

    it('uses the default input and the event correlationId when there is no mapping or key', async () => {
      await createTrigger({});
      const eventId = await publish({
        pattern: 'bookings.created',
        payload: { a: 1 },
        metadata: { correlationId: 'corr-9' },
      });
      await drain();
      expect((await instances())[0]).toMatchObject({
        correlation_key: 'corr-9',
        input: { eventId, eventPattern: 'bookings.created', eventPayload: { a: 1 } },
      });
    });

    it('skips when the condition is false, and records why; never fires a disabled trigger', async () => {
      await createTrigger({ eventCondition: "payload.status == 'confirmed'" });
      await createTrigger({ enabled: false });
      const eventId = await publish({
        pattern: 'bookings.created',
        payload: { status: 'pending' },
      });
      await drain();
      expect(await instances()).toEqual([]);
      expect(await firings(eventId)).toEqual([
        expect.objectContaining({
          action: 'skipped',
          conditionResult: false,
          reason: 'condition is false',
        }),
      ]);
    });

    it('records an evaluation error on the firing instead of throwing', async () => {
      await createTrigger({ eventCondition: 'payload.count && true' });
      const eventId = await publish({ pattern: 'bookings.created', payload: { count: 3 } });
      await drain();
      const [firing] = await firings(eventId);
      expect(firing).toMatchObject({ action: 'skipped', conditionResult: null, status: 'done' });
      expect(firing.conditionError).toEqual(expect.any(String));
    });

    it('cancels nothing when no correlation key resolves, and says so', async () => {
      await createTrigger({
        triggerType: 'CANCEL',
        eventPattern: 'bookings.cancelled',
        correlationKey: 'payload.bookingId',
      });
      const eventId = await publish({ pattern: 'bookings.cancelled', payload: {} });
      await drain();
      expect(await firings(eventId)).toEqual([
        expect.objectContaining({
          action: 'skipped',
          reason: expect.stringMatching(/no correlation key/),
        }),
      ]);
    });

    it('fires an event’s triggers by ascending priority, none last', async () => {
      // CANCEL first (priority 1) then START (priority 2): the new instance survives. In the
      // opposite order the CANCEL would cancel it.
      await createTrigger({ priority: 2, correlationKey: 'payload.id' });
      await createTrigger({ triggerType: 'CANCEL', priority: 1, correlationKey: 'payload.id' });
      const last = await createTrigger({ triggerType: 'CANCEL', correlationKey: 'payload.other' });
      const eventId = await publish({
        pattern: 'bookings.created',
        payload: { id: 'x', other: 'y' },
      });
      await drain();
      expect((await instances()).map((i) => i.status)).toEqual(['running']);
      const recorded = await firings(eventId);
      expect(recorded.map((f: any) => f.action)).toEqual(['cancelled', 'started', 'cancelled']);
      expect(recorded[2].triggerId).toBe(last.body.id);
    });

    it('keeps each event’s order when one round fires the triggers of many events', async () => {
      // START then CANCEL on the same key: in order, every instance ends cancelled.
      await createTrigger({ priority: 1, correlationKey: 'payload.id' });
      await createTrigger({ triggerType: 'CANCEL', priority: 2, correlationKey: 'payload.id' });
      const events = [];
      for (const id of ['a', 'b', 'c', 'd'])
        events.push(await publish({ pattern: 'bookings.created', payload: { id } }));
      expect(await t.app.workers.runOnce()).toBe(8);
      const ended = (await instances()).map((i) => [i.correlation_key, i.status]);
      expect(ended.sort()).toEqual(['a', 'b', 'c', 'd'].map((id) => [id, 'cancelled']));
      for (const eventId of events) {
        expect((await firings(eventId)).map((f: any) => f.action)).toEqual([
          'started',
          'cancelled',
        ]);
      }
    });

    it('starts an event’s builtin START triggers in one batch, in priority order', async () => {
      const second = await createWorkflowDefinition('second-flow');
      const triggers = [
        await createTrigger({ priority: 1, correlationKey: 'payload.id' }),
        await createTrigger({ priority: 2, workflowDefinitionId: second }),
        await createTrigger({ priority: 3 }),
      ].map((created) => created.body.id);
      // The first event reads the definitions (until then, whether they are builtin is unknown).
      await publish({ pattern: 'bookings.created', payload: { id: 'warm-up' } });
      await drain();
      const batches = vi.spyOn(t.app.workflows, 'startWorkflows');
      try {
        const eventId = await publish({ pattern: 'bookings.created', payload: { id: 'x' } });
        await drain();
        expect(batches.mock.calls.map(([reqs]) => reqs.map((r) => r.triggerId))).toEqual([
          triggers,
        ]);
        expect((await firings(eventId)).map((f: any) => [f.triggerId, f.action])).toEqual(
          triggers.map((id) => [id, 'started']),
        );
      } finally {
        batches.mockRestore();
      }
    });

    it('never batches a start with a CANCEL before it: the cancel sees what came first', async () => {
      // START, CANCEL, START on one key: the first instance is cancelled, the second survives.
      await createTrigger({ priority: 1, correlationKey: 'payload.id' });
      await createTrigger({ triggerType: 'CANCEL', priority: 2, correlationKey: 'payload.id' });
      await createTrigger({ priority: 3, correlationKey: 'payload.id' });
      await publish({ pattern: 'bookings.created', payload: { id: 'warm-up' } });
      await drain();
      const eventId = await publish({ pattern: 'bookings.created', payload: { id: 'x' } });
      await drain();
      expect((await firings(eventId)).map((f: any) => f.action)).toEqual([
        'started',
        'cancelled',
        'started',
      ]);
      const ofX = (await instances()).filter((i) => i.correlation_key === 'x');
      expect(ofX.map((i) => i.status).sort()).toEqual(['cancelled', 'running']);
    });

    it('routes to a trigger created after the index was loaded', async () => {
      await publish({ pattern: 'orders.placed' });
      await createTrigger({ eventPattern: 'orders.*' });
      await publish({ pattern: 'orders.placed' });
      await drain();
      expect(await instances()).toHaveLength(1);
    });

    it('matches wildcard triggers', async () => {
      await createTrigger({ eventPattern: '**.login' });
      await createTrigger({ eventPattern: 'user.*' });
      await createTrigger({ eventPattern: 'user.*.login' });
      await publish({ pattern: 'user.activity.login' });
      await drain();
      expect(await instances()).toHaveLength(2);
    });
  });

  describe('the five documented conditions (dry run)', () => {
    const conditions: Array<[string, object, object]> = [
      ["$.payload.status == 'confirmed'", { status: 'confirmed' }, { status: 'pending' }],
      ['data.orderTotal > 1000', { orderTotal: 1500 }, { orderTotal: 999 }],
      [
        '(data.riskScore > 80) || (data.location.country !== data.user.country) || (data.attemptCount > 3 && data.successful === false)',
        {
          riskScore: 10,
          location: { country: 'FR' },
          user: { country: 'FR' },
          attemptCount: 4,
          successful: false,
        },
        {
          riskScore: 10,
          location: { country: 'FR' },
          user: { country: 'FR' },
          attemptCount: 4,
          successful: true,
        },
      ],
      ["payload.amount >= 100 && metadata.tags.region == 'eu'", { amount: 100 }, { amount: 99 }],
      ["source.type in ['workflow', 'integration']", {}, {}],
    ];

    it.each(conditions)('%s', async (eventCondition, holds, fails) => {
      const trigger = await createTrigger({ eventCondition });
      const isSource = eventCondition.startsWith('source');
      const run = async (payload: object, sourceType: string) =>
        t.request('POST', `/v1/workflow-triggers/${trigger.body.id}/test`, {
          payload: {
            pattern: 'bookings.created',
            payload,
            source: { type: sourceType, id: 's' },
            metadata: { tags: { region: 'eu' } },
          },
        });
      const yes = await run(holds, 'workflow');
      expect(yes.status).toBe(200);
      expect(yes.body).toMatchObject({
        dryRun: true,
        action: 'would_start',
        conditionResult: true,
      });
      const no = await run(fails, isSource ? 'external' : 'workflow');
      expect(no.body).toMatchObject({ action: 'skipped', conditionResult: false });
      expect(await instances()).toEqual([]);
    });

    it("tests against the definition's nth example", async () => {
      const trigger = await createTrigger({
        eventCondition: "payload.status == 'confirmed'",
        inputMapping: { id: 'payload.bookingId' },
      });
      const response = await t.request('POST', `/v1/workflow-triggers/${trigger.body.id}/test`, {
        payload: { example: 0 },
      });
      expect(response.body).toMatchObject({ action: 'would_start', mappedInput: { id: 'ex-1' } });
      expect(
        (
          await t.request('POST', `/v1/workflow-triggers/${trigger.body.id}/test`, {
            payload: { example: 5 },
          })
        ).status,
      ).toBe(404);
    });
  });

  describe('replay', () => {
    it('fires stored events of a range once, again only with force', async () => {
      t.clock.set('2026-01-10T00:00:00Z');
      const inRange = await publish({
        pattern: 'bookings.created',
        timestamp: '2026-01-05T00:00:00Z',
      });
      await publish({ pattern: 'bookings.created', timestamp: '2025-12-05T00:00:00Z' });
      const trigger = await createTrigger({});
      const replay = (force?: boolean) =>
        t.request('POST', `/v1/workflow-triggers/${trigger.body.id}/replay`, {
          payload: {
            startTime: '2026-01-01T00:00:00Z',
            endTime: '2026-02-01T00:00:00Z',
            ...(force ? { force } : {}),
          },
        });
      expect((await replay()).body).toEqual({ matched: 1, queued: 1 });
      await drain();
      expect((await instances()).map((i) => i.trigger_event_id)).toEqual([inRange]);
      expect((await replay()).body).toEqual({ matched: 1, queued: 0 });
      expect((await replay(true)).body).toEqual({ matched: 1, queued: 1 });
      await drain();
      expect(await instances()).toHaveLength(2);
      expect((await firings(inRange)).every((f: any) => f.replay === true)).toBe(true);
    });

    it('does not route again an event that was routed when it arrived (one work key format)', async () => {
      t.clock.set('2026-01-10T00:00:00Z');
      const trigger = await createTrigger({});
      await publish({ pattern: 'bookings.created', timestamp: '2026-01-05T00:00:00Z' });
      const response = await t.request('POST', `/v1/workflow-triggers/${trigger.body.id}/replay`, {
        payload: { startTime: '2026-01-01T00:00:00Z', endTime: '2026-02-01T00:00:00Z' },
      });
      expect(response.body).toEqual({ matched: 1, queued: 0 });
    });

    it('replays the last hours when startTime is an ISO 8601 duration, up to now', async () => {
      t.clock.set('2026-01-10T12:00:00Z');
      const trigger = await createTrigger({});
      const recent = await publish({
        pattern: 'bookings.created',
        timestamp: '2026-01-10T10:30:00Z',
      });
      await publish({ pattern: 'bookings.created', timestamp: '2026-01-10T09:30:00Z' });
      await publish({ pattern: 'bookings.created', timestamp: '2026-01-10T12:30:00Z' });
      const response = await t.request('POST', `/v1/workflow-triggers/${trigger.body.id}/replay`, {
        payload: { startTime: 'PT2H', force: true },
      });
      expect(response.body).toEqual({ matched: 1, queued: 1 });
      await drain();
      expect((await firings(recent)).some((f: any) => f.replay === true)).toBe(true);
    });

    it('refuses an invalid range', async () => {
      const trigger = await createTrigger({});
      const response = await t.request('POST', `/v1/workflow-triggers/${trigger.body.id}/replay`, {
        payload: { startTime: 'soon', endTime: '2026-02-01T00:00:00Z' },
      });
      expect(response.status).toBe(400);
      expect(response.body.error.details[0].field).toBe('startTime');
    });
  });

  describe('failures', () => {
    let server: Server;
    let engineUrl: string;
    let answers: number[] = [];
    const seenKeys: string[] = [];
    beforeAll(async () => {
      server = createServer((request, response) => {
        seenKeys.push(String(request.headers['idempotency-key']));
        const status = answers.shift() ?? 200;
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(status === 200 ? JSON.stringify({ instanceId: 'remote-1' }) : '{}');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      engineUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const remoteTrigger = async (extra: Record<string, unknown> = {}) => {
      const remote = await createWorkflowDefinition('remote', {
        executor: 'http',
        executorUrl: engineUrl,
      });
      await createTrigger({ workflowDefinitionId: remote, ...extra });
    };

    it('retries with backoff, then starts once the engine recovers', async () => {
      await remoteTrigger();
      answers = [500, 503];
      const eventId = await publish({ pattern: 'bookings.created' });
      await drain();
      let [firing] = await firings(eventId);
      expect(firing).toMatchObject({ status: 'pending', action: 'failed', attempts: 1 });
      const wait = Date.parse(firing.nextAttemptAt) - t.clock.now().getTime();
      expect(wait).toBeGreaterThanOrEqual(250);
      expect(wait).toBeLessThanOrEqual(500);
      t.clock.advance(wait);
      await drain();
      [firing] = await firings(eventId);
      expect(firing).toMatchObject({ status: 'pending', attempts: 2 });
      t.clock.advance(1000);
      await drain();
      [firing] = await firings(eventId);
      expect(firing).toMatchObject({
        status: 'done',
        action: 'started',
        attempts: 3,
        workflowInstanceIds: ['remote-1'],
      });
      // Every attempt carried the same Idempotency-Key, so the engine can make repeats no-ops.
      expect(new Set(seenKeys.slice(-3)).size).toBe(1);
    });

    it('holds an event’s later triggers back while an earlier firing waits for its retry', async () => {
      await remoteTrigger({ priority: 1 });
      const later = await createTrigger({ priority: 5 });
      answers = [503];
      const eventId = await publish({ pattern: 'bookings.created' });
      await drain();
      let recorded = await firings(eventId);
      expect(recorded.map((f: any) => [f.status, f.action, f.attempts])).toEqual([
        ['pending', 'failed', 1],
        ['pending', 'pending', 0],
      ]);
      expect(await instances()).toEqual([]);
      t.clock.advance(1000);
      await drain();
      recorded = await firings(eventId);
      expect(recorded.map((f: any) => [f.status, f.action, f.attempts])).toEqual([
        ['done', 'started', 2],
        ['done', 'started', 1],
      ]);
      expect((await instances()).map((i) => i.trigger_id)).toEqual([later.body.id]);
    });

    it('dead-letters after the last attempt, and retries by API', async () => {
      await remoteTrigger();
      answers = [500, 500, 500];
      const eventId = await publish({ pattern: 'bookings.created' });
      for (let i = 0; i < 3; i++) {
        await drain();
        t.clock.advance(2000);
      }
      const [dead] = await firings(eventId);
      expect(dead).toMatchObject({
        status: 'dead',
        action: 'dead',
        attempts: 3,
        error: expect.stringMatching(/500/),
      });
      const history = await t.request(
        'GET',
        `/v1/workflow-triggers/${dead.triggerId}/firings?status=dead`,
      );
      expect(history.body.firings).toEqual([expect.objectContaining({ id: dead.id, eventId })]);
      // Across triggers: the dead firings of every trigger, to find what to retry.
      const everyDead = await t.request('GET', '/v1/trigger-firings?status=dead');
      expect(everyDead.body.firings).toEqual([
        expect.objectContaining({ id: dead.id, triggerId: dead.triggerId, eventId }),
      ]);
      expect((await t.request('GET', '/v1/trigger-firings')).status).toBe(400);
      const retried = await t.request('POST', `/v1/trigger-firings/${dead.id}/retry`);
      expect(retried.status).toBe(202);
      expect((await t.request('POST', `/v1/trigger-firings/${dead.id}/retry`)).status).toBe(409);
      await drain();
      expect((await firings(eventId))[0]).toMatchObject({
        status: 'done',
        action: 'started',
        attempts: 1,
      });
      const after = await t.request('GET', `/v1/workflow-triggers/${dead.triggerId}/firings`);
      expect(after.body.firings.map((f: any) => [f.id, f.status])).toEqual([[dead.id, 'done']]);
      expect(
        (await t.request('GET', `/v1/workflow-triggers/${dead.triggerId}/firings?status=dead`)).body
          .firings,
      ).toEqual([]);
      expect((await t.request('GET', '/v1/trigger-firings?status=dead')).body.firings).toEqual([]);
    });

    it('dead-letters work whose event retention dropped before it ran', async () => {
      await createTrigger({});
      const eventId = await publish({ pattern: 'bookings.created' });
      await t.db.query('DELETE FROM events WHERE event_id = $1', [eventId]);
      await drain();
      expect(await firings(eventId)).toEqual([
        expect.objectContaining({
          status: 'dead',
          error: 'the event is no longer stored (retention)',
        }),
      ]);
      expect(await instances()).toEqual([]);
    });

    it('records an input that fails the workflow input schema as a failed firing, without retries', async () => {
      const strict = await createWorkflowDefinition('strict', {
        inputSchema: { type: 'object', required: ['bookingId'] },
      });
      // The type check refuses this trigger (input_mismatch); accepted with warnings, it fails at run time.
      const created = await createTrigger(
        { workflowDefinitionId: strict, inputMapping: { other: 'payload.x' } },
        '?check=warn',
      );
      expect(created.body.warnings).toEqual([
        expect.objectContaining({ field: 'inputMapping.bookingId', code: 'input_mismatch' }),
      ]);
      const eventId = await publish({ pattern: 'bookings.created', payload: { x: 1 } });
      await drain();
      const [firing] = await firings(eventId);
      expect(firing).toMatchObject({ status: 'done', action: 'failed', attempts: 1 });
      expect(firing.errorDetails).toEqual([expect.objectContaining({ field: 'input.bookingId' })]);
      expect(await instances()).toEqual([]);
    });

    it('checks the input of a START only: a CANCEL builds none, so its workflow inputSchema does not apply', async () => {
      const strict = await createWorkflowDefinition('strict-cancel', {
        inputSchema: { type: 'object', required: ['bookingId'] },
      });
      const cancel = await createTrigger({
        workflowDefinitionId: strict,
        triggerType: 'CANCEL',
        correlationKey: 'metadata.correlationId',
      });
      expect(cancel.status).toBe(201);
      expect(cancel.body.warnings ?? []).toEqual([]);
      const start = await createTrigger({ workflowDefinitionId: strict });
      expect(start.status).toBe(400);
      expect(start.body.error.details).toEqual([
        expect.objectContaining({ field: 'inputMapping.bookingId', code: 'input_mismatch' }),
      ]);
    });

    it('fails a firing, dry run and real, whose mapped input is over MAPPED_INPUT_MAX_BYTES', async () => {
      // 3 copies of a 100 KB field: 300 KB, over the default 256 KiB.
      const copies = { a: '$.payload.s', b: '$.payload.s', c: '$.payload.s' };
      const trigger = await createTrigger({ inputMapping: copies });
      const event = { pattern: 'bookings.created', payload: { s: 'x'.repeat(100_000) } };
      const dry = await t.request('POST', `/v1/workflow-triggers/${trigger.body.id}/test`, {
        payload: event,
      });
      expect(dry.status).toBe(200);
      expect(dry.body).toMatchObject({ action: 'failed', conditionResult: true });
      expect(dry.body.mappedInput).toBeUndefined();
      expect(dry.body.errorDetails).toEqual([
        expect.objectContaining({ field: 'inputMapping', code: 'input_too_large' }),
      ]);
      const eventId = await publish(event);
      await drain();
      const [firing] = await firings(eventId);
      expect(firing).toMatchObject({ status: 'done', action: 'failed', attempts: 1 });
      expect(firing.errorDetails).toEqual([expect.objectContaining({ code: 'input_too_large' })]);
      expect(await instances()).toEqual([]);
    });

    it('gives a constant string with { const }', async () => {
      await createTrigger({ inputMapping: { tier: { const: 'vip' }, id: 'payload.bookingId' } });
      await publish({ pattern: 'bookings.created', payload: { bookingId: 'bk-7' } });
      await drain();
      expect((await instances())[0]!.input).toEqual({ tier: 'vip', id: 'bk-7' });
    });

    it('refuses more than 100 mappings', async () => {
      const mapping = (n: number) =>
        Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'payload.x']));
      expect((await createTrigger({ inputMapping: mapping(100) })).status).toBe(201);
      const refused = await createTrigger({ inputMapping: mapping(101) });
      expect(refused.status).toBe(400);
      expect(refused.body.error.details[0]).toMatchObject({ field: 'inputMapping' });
    });

    it('refuses to delete a workflow definition that triggers reference', async () => {
      await createTrigger({});
      const response = await t.request('DELETE', `/v1/workflow-definitions/${workflowId}`);
      expect(response.status).toBe(409);
      expect(response.body.error.code).toBe('conflict');
    });
  });

  describe('leases', () => {
    it('takes over work whose worker died, and fires it once', async () => {
      await createTrigger({});
      const eventId = await publish({ pattern: 'bookings.created' });
      // A worker claims the work and dies before recording anything.
      const { claimWork } = await import('../routing/work-store.ts');
      expect(await claimWork(t.db, 'dead-worker', t.clock.now(), 30_000, 10)).toHaveLength(1);
      expect(await t.app.workers.runOnce()).toBe(0);
      t.clock.advance(30_001);
      await drain();
      expect(await instances()).toHaveLength(1);
      expect(await firings(eventId)).toEqual([
        expect.objectContaining({ action: 'started', attempts: 2 }),
      ]);
    });
  });
});
