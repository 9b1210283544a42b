import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { Agent } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../db/database.ts';
import { SchemaCompiler } from '../schema/compiler.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { TestClock } from '../testing/clock.ts';
import {
  type StartRequest,
  type WorkflowExecutor,
  WorkflowExecutorError,
  WorkflowInputError,
} from './port.ts';
import { WorkflowService } from './service.ts';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

const bookingInputSchema = {
  type: 'object',
  required: ['bookingId'],
  properties: { bookingId: { type: 'string', pattern: '^bk_' }, amount: { type: 'number' } },
};

const failure = async (call: Promise<unknown>): Promise<WorkflowExecutorError> => {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowExecutorError);
  return error as WorkflowExecutorError;
};

describe('the workflow service', () => {
  it('rejects only with WorkflowExecutorError: an unexpected failure becomes retryable', async () => {
    const outage = new Error('connection terminated unexpectedly');
    const down = { query: () => Promise.reject(outage) } as unknown as Database;
    const dispatcher = new Agent();
    const service = new WorkflowService({
      db: down,
      clock: new TestClock(),
      compiler: new SchemaCompiler(),
      dispatcher,
    });
    const error = await failure(
      service.startWorkflow({ definitionId: UNKNOWN_ID, input: {}, idempotencyKey: 'k' }),
    );
    expect(error).toMatchObject({ code: 'internal', retryable: true, cause: outage });
    await dispatcher.close();
  });
});

describe.each(testBackends())('workflow definitions and instances on $name', (backend) => {
  let t: TestApp;
  let port: WorkflowExecutor;
  beforeAll(async () => {
    t = await startTestApp(backend);
    port = t.app.workflows;
  });
  afterAll(() => t.close());
  beforeEach(() => t.reset());

  const createDefinition = (body: unknown) =>
    t.request('POST', '/v1/workflow-definitions', { payload: body });
  const define = async (body: object = {}) => {
    const response = await createDefinition({ name: 'Confirm booking', ...body });
    expect(response.status).toBe(201);
    return response.body;
  };
  const patch = (id: string, body: unknown, ifMatch?: string) =>
    t.request('PATCH', `/v1/workflow-definitions/${id}`, {
      payload: body,
      headers: ifMatch ? { 'if-match': ifMatch } : {},
    });
  const fields = (response: { body: any }) => response.body.error.details.map((d: any) => d.field);
  const startRequest = (definitionId: string, overrides: Partial<StartRequest> = {}) => ({
    definitionId,
    input: { bookingId: 'bk_1' },
    triggerId: '11111111-1111-4111-8111-111111111111',
    triggerEventId: 'ev-1',
    correlationKey: 'bk_1',
    idempotencyKey: `ev-1/${definitionId}`,
    ...overrides,
  });
  const instance = async (id: string) =>
    (await t.request('GET', `/v1/workflow-instances/${id}`)).body;

  describe('registering', () => {
    it('stores a builtin definition with its defaults and reads it back', async () => {
      const created = await createDefinition({ name: 'Confirm booking' });
      expect(created.status).toBe(201);
      expect(created.headers.location).toBe(`/v1/workflow-definitions/${created.body.id}`);
      expect(created.headers.etag).toBe('"1"');
      expect(created.body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        name: 'Confirm booking',
        version: '1.0.0',
        description: '',
        inputSchema: null,
        executor: 'builtin',
        executorUrl: null,
        executorTimeoutMs: null,
        labels: {},
        createdAt: t.clock.now().toISOString(),
        updatedAt: t.clock.now().toISOString(),
        revision: 1,
      });
      const read = await t.request('GET', `/v1/workflow-definitions/${created.body.id}`);
      expect(read.status).toBe(200);
      expect(read.headers.etag).toBe('"1"');
      expect(read.body).toEqual(created.body);
    });

    it('stores an http definition: URL without its trailing slash, timeout 10000 by default', async () => {
      const body = await define({
        version: '2.1.0-beta.1',
        description: 'runs elsewhere',
        inputSchema: bookingInputSchema,
        executor: 'http',
        executorUrl: 'https://engine.example:8443/workflows/',
      });
      expect(body).toMatchObject({
        version: '2.1.0-beta.1',
        description: 'runs elsewhere',
        inputSchema: bookingInputSchema,
        executor: 'http',
        executorUrl: 'https://engine.example:8443/workflows',
        executorTimeoutMs: 10_000,
      });
      expect(
        (
          await define({
            name: 'other',
            executor: 'http',
            executorUrl: 'http://e',
            executorTimeoutMs: 2500,
          })
        ).executorTimeoutMs,
      ).toBe(2500);
    });

    it('names every invalid field', async () => {
      const missing = await createDefinition({});
      expect(missing.status).toBe(400);
      expect(missing.body.error.code).toBe('validation_error');
      expect(fields(missing)).toEqual(['name']);
      const wrong = await createDefinition({
        name: '',
        version: 'v1',
        executor: 'temporal',
        executorTimeoutMs: 1.5,
        extra: true,
      });
      expect(wrong.status).toBe(400);
      expect([...new Set(fields(wrong))].sort()).toEqual([
        'executor',
        'executorTimeoutMs',
        'extra',
        'name',
        'version',
      ]);
    });

    it.each([50, 60_001, '1000'])('refuses executorTimeoutMs %j', async (executorTimeoutMs) => {
      const response = await createDefinition({
        name: 'x',
        executor: 'http',
        executorUrl: 'http://engine',
        executorTimeoutMs,
      });
      expect(response.status).toBe(400);
      expect(fields(response)).toEqual(['executorTimeoutMs']);
    });

    it('needs executorUrl for http, and refuses http settings for builtin', async () => {
      const noUrl = await createDefinition({ name: 'x', executor: 'http' });
      expect(noUrl.status).toBe(400);
      expect(noUrl.body.error.details).toEqual([
        { field: 'executorUrl', code: 'required', message: 'is required for executor http' },
      ]);
      const mismatch = await createDefinition({
        name: 'x',
        executorUrl: 'http://engine',
        executorTimeoutMs: 1000,
      });
      expect(mismatch.status).toBe(400);
      expect(mismatch.body.error.details.map((d: any) => [d.field, d.code])).toEqual([
        ['executorUrl', 'executor_mismatch'],
        ['executorTimeoutMs', 'executor_mismatch'],
      ]);
    });

    it.each([
      'engine.local/start',
      'ftp://engine.local',
      'file:///etc/passwd',
      'http://user:secret@engine.local',
      'http://engine.local/?token=1',
      'http://engine.local/#frag',
      'http://',
    ])('refuses executorUrl %s', async (executorUrl) => {
      const response = await createDefinition({ name: 'x', executor: 'http', executorUrl });
      expect(response.status).toBe(400);
      expect(response.body.error.details).toEqual([
        expect.objectContaining({ field: 'executorUrl', code: 'invalid_url' }),
      ]);
    });

    it('refuses an inputSchema that does not compile, with the compiler message', async () => {
      const invalid = await createDefinition({
        name: 'x',
        inputSchema: { type: 'object', properties: { a: { type: 'nope' } } },
      });
      expect(invalid.status).toBe(400);
      expect(invalid.body.error.details).toEqual([
        {
          field: 'inputSchema',
          code: 'invalid_schema',
          message: expect.stringContaining('schema is invalid'),
        },
      ]);
      const remote = await createDefinition({
        name: 'x',
        inputSchema: { $ref: 'https://evil.example/schema.json' },
      });
      expect(remote.status).toBe(400);
      expect(remote.body.error.details[0].message).toMatch(/not local/);
      expect((await createDefinition({ name: 'x', inputSchema: [] })).status).toBe(400);
    });

    it('refuses a second definition with the same name and version (409)', async () => {
      await define({ version: '1.0.0' });
      const again = await createDefinition({ name: 'Confirm booking', version: '1.0.0' });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('conflict');
      expect(fields(again)).toEqual(['version']);
      expect((await createDefinition({ name: 'Confirm booking', version: '1.1.0' })).status).toBe(
        201,
      );
    });

    it('refuses text PostgreSQL cannot store with 400', async () => {
      const response = await createDefinition({ name: 'nul\u0000byte' });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('validation_error');
    });
  });

  describe('reading', () => {
    it('lists newest first with limit, offset and pagination', async () => {
      for (const name of ['a', 'b', 'c']) {
        await define({ name });
        t.clock.advance(1000);
      }
      const page = await t.request('GET', '/v1/workflow-definitions?limit=2&offset=1');
      expect(page.status).toBe(200);
      expect(page.body.workflowDefinitions.map((d: any) => d.name)).toEqual(['b', 'a']);
      expect(page.body.pagination).toEqual({ total: 3, limit: 2, offset: 1, hasMore: false });
      const first = await t.request('GET', '/v1/workflow-definitions?limit=1');
      expect(first.body.pagination).toEqual({ total: 3, limit: 1, offset: 0, hasMore: true });
      expect((await t.request('GET', '/v1/workflow-definitions?limit=0')).status).toBe(400);
      expect((await t.request('GET', '/v1/workflow-definitions?colour=a')).status).toBe(400);
    });

    it('answers 404 for an unknown or malformed id', async () => {
      for (const id of [UNKNOWN_ID, 'not-a-uuid']) {
        const response = await t.request('GET', `/v1/workflow-definitions/${id}`);
        expect(response.status).toBe(404);
        expect(response.body.error.code).toBe('not_found');
      }
    });
  });

  describe('changing', () => {
    it('requires If-Match (428) and refuses a stale one (412)', async () => {
      const { id } = await define();
      const missing = await patch(id, { name: 'Renamed' });
      expect(missing.status).toBe(428);
      expect(missing.body.error.code).toBe('precondition_required');
      expect((await patch(id, { name: 'Renamed' }, '"1"')).status).toBe(200);
      const stale = await patch(id, { name: 'Again' }, '"1"');
      expect(stale.status).toBe(412);
      expect(stale.body.error.code).toBe('precondition_failed');
    });

    it('changes fields, moves the ETag and updatedAt, and removes a schema with null', async () => {
      const created = await define({ inputSchema: bookingInputSchema });
      t.clock.advance(60_000);
      const changes = { name: 'Confirm', version: '1.1.0', description: 'words' };
      const changed = await patch(created.id, changes, '"1"');
      expect(changed.status).toBe(200);
      expect(changed.headers.etag).toBe('"2"');
      expect(changed.body).toMatchObject({
        ...changes,
        inputSchema: bookingInputSchema,
        revision: 2,
        createdAt: created.createdAt,
        updatedAt: t.clock.now().toISOString(),
      });
      const cleared = await patch(created.id, { inputSchema: null }, '"2"');
      expect(cleared.body.inputSchema).toBeNull();
      expect((await t.request('GET', `/v1/workflow-definitions/${created.id}`)).body).toEqual(
        cleared.body,
      );
    });

    it('switches executors: http needs a URL, builtin drops the http settings', async () => {
      const { id } = await define();
      const noUrl = await patch(id, { executor: 'http' }, '"1"');
      expect(noUrl.status).toBe(400);
      expect(fields(noUrl)).toEqual(['executorUrl']);
      expect((await patch(id, { executorUrl: 'http://engine' }, '"1"')).status).toBe(400);
      const http = await patch(id, { executor: 'http', executorUrl: 'http://engine/' }, '"1"');
      expect(http.body).toMatchObject({
        executor: 'http',
        executorUrl: 'http://engine',
        executorTimeoutMs: 10_000,
      });
      // The URL stays when only the timeout changes.
      const timeout = await patch(id, { executorTimeoutMs: 500 }, '"2"');
      expect(timeout.body).toMatchObject({ executorUrl: 'http://engine', executorTimeoutMs: 500 });
      const builtin = await patch(id, { executor: 'builtin' }, '"3"');
      expect(builtin.body).toMatchObject({
        executor: 'builtin',
        executorUrl: null,
        executorTimeoutMs: null,
      });
    });

    it('refuses an empty body, unknown fields, a bad schema and a taken version', async () => {
      const { id } = await define();
      await define({ version: '2.0.0' });
      expect((await patch(id, {}, '"1"')).status).toBe(400);
      expect(fields(await patch(id, { id: UNKNOWN_ID }, '"1"'))).toEqual(['id']);
      const badSchema = await patch(id, { inputSchema: { type: 12 } }, '"1"');
      expect(badSchema.status).toBe(400);
      expect(fields(badSchema)).toEqual(['inputSchema']);
      const taken = await patch(id, { version: '2.0.0' }, '"1"');
      expect(taken.status).toBe(409);
      expect((await t.request('GET', `/v1/workflow-definitions/${id}`)).body.revision).toBe(1);
    });

    it('lets exactly one of concurrent PATCHes with the same If-Match succeed', async () => {
      const { id } = await define();
      const responses = await Promise.all([
        patch(id, { name: 'First' }, '"1"'),
        patch(id, { name: 'Second' }, '"1"'),
        patch(id, { description: 'Third' }, '"1"'),
      ]);
      expect(responses.map((r) => r.status).sort()).toEqual([200, 412, 412]);
    });

    it('answers 404 for an unknown id', async () => {
      expect((await patch(UNKNOWN_ID, { name: 'x' }, '"1"')).status).toBe(404);
      expect((await patch('nope', { name: 'x' }, '"1"')).status).toBe(404);
    });
  });

  describe('deleting', () => {
    it('deletes a definition together with its instances', async () => {
      const { id } = await define();
      const { instanceId } = await port.startWorkflow(startRequest(id));
      expect((await t.request('DELETE', `/v1/workflow-definitions/${id}`)).status).toBe(204);
      expect((await t.request('GET', `/v1/workflow-definitions/${id}`)).status).toBe(404);
      expect((await t.request('GET', `/v1/workflow-instances/${instanceId}`)).status).toBe(404);
      expect((await t.request('DELETE', `/v1/workflow-definitions/${id}`)).status).toBe(404);
      expect((await t.request('DELETE', '/v1/workflow-definitions/nope')).status).toBe(404);
    });

    // Stands in for workflow_event_triggers, whose migration adds the same kind of reference.
    it('refuses with 409 while another table references the definition', async () => {
      await t.db.exec(`CREATE TABLE referencing_probe (
        workflow_definition_id uuid NOT NULL REFERENCES workflow_definitions (id) ON DELETE RESTRICT)`);
      try {
        const { id } = await define();
        await t.db.query('INSERT INTO referencing_probe VALUES ($1)', [id]);
        const refused = await t.request('DELETE', `/v1/workflow-definitions/${id}`);
        expect(refused.status).toBe(409);
        expect(refused.body.error.code).toBe('conflict');
        expect(refused.body.error.message).toMatch(/referenced by workflow triggers/);
        expect((await t.request('GET', `/v1/workflow-definitions/${id}`)).status).toBe(200);
        await t.db.query('DELETE FROM referencing_probe');
        expect((await t.request('DELETE', `/v1/workflow-definitions/${id}`)).status).toBe(204);
      } finally {
        await t.db.exec('DROP TABLE referencing_probe');
      }
    });
  });

  describe('the builtin executor through the port', () => {
    it('starts a running instance that the API shows with everything the trigger gave', async () => {
      const { id } = await define();
      const req = startRequest(id, {
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      });
      const result = await port.startWorkflow(req);
      expect(result).toEqual({ instanceId: expect.any(String), created: true });
      expect(await instance(result.instanceId)).toEqual({
        id: result.instanceId,
        workflowDefinitionId: id,
        status: 'running',
        correlationKey: 'bk_1',
        input: { bookingId: 'bk_1' },
        output: null,
        error: null,
        triggerId: req.triggerId,
        triggerEventId: 'ev-1',
        cancelledByEventId: null,
        idempotencyKey: req.idempotencyKey,
        createdAt: t.clock.now().toISOString(),
        updatedAt: t.clock.now().toISOString(),
        waits: [],
      });
    });

    it('makes a repeated start with the same idempotency key a no-op, also when concurrent', async () => {
      const { id } = await define();
      const first = await port.startWorkflow(startRequest(id));
      const again = await port.startWorkflow(startRequest(id, { input: { bookingId: 'bk_2' } }));
      expect(again).toEqual({ instanceId: first.instanceId, created: false });
      const racing = await Promise.all(
        Array.from({ length: 5 }, () =>
          port.startWorkflow(startRequest(id, { idempotencyKey: 'race' })),
        ),
      );
      expect(new Set(racing.map((r) => r.instanceId)).size).toBe(1);
      expect(racing.filter((r) => r.created)).toHaveLength(1);
      const list = await t.request('GET', `/v1/workflow-instances?workflowDefinitionId=${id}`);
      expect(list.body.pagination.total).toBe(2);
      expect((await instance(first.instanceId)).input).toEqual({ bookingId: 'bk_1' });
    });

    it('refuses an idempotency key that started another definition', async () => {
      const a = await define({ name: 'a' });
      const b = await define({ name: 'b' });
      await port.startWorkflow(startRequest(a.id, { idempotencyKey: 'shared' }));
      const error = await failure(
        port.startWorkflow(startRequest(b.id, { idempotencyKey: 'shared' })),
      );
      expect(error).toMatchObject({ code: 'idempotency_conflict', retryable: false });
    });

    it('validates the input against inputSchema before starting', async () => {
      const { id } = await define({ inputSchema: bookingInputSchema });
      const error = await failure(
        port.startWorkflow(startRequest(id, { input: { bookingId: 'nope', amount: 'x' } })),
      );
      expect(error).toBeInstanceOf(WorkflowInputError);
      expect(error).toMatchObject({ code: 'invalid_input', retryable: false });
      expect(error.details.map((d) => [d.field, d.code]).sort()).toEqual([
        ['input.amount', 'type'],
        ['input.bookingId', 'pattern'],
      ]);
      expect((await t.request('GET', '/v1/workflow-instances')).body.workflowInstances).toEqual([]);
      expect((await port.startWorkflow(startRequest(id))).created).toBe(true);
    });

    it('uses the schema of the current revision', async () => {
      const { id } = await define({ inputSchema: bookingInputSchema });
      await port.startWorkflow(startRequest(id, { idempotencyKey: 'k1' }));
      await patch(id, { inputSchema: { type: 'object', required: ['orderId'] } }, '"1"');
      const error = await failure(port.startWorkflow(startRequest(id, { idempotencyKey: 'k2' })));
      expect(error.details.map((d) => d.field)).toEqual(['input.orderId']);
    });

    it('calls an unknown definition permanent', async () => {
      for (const definitionId of [UNKNOWN_ID, 'not-a-uuid']) {
        expect(await failure(port.startWorkflow(startRequest(definitionId)))).toMatchObject({
          code: 'definition_not_found',
          retryable: false,
        });
        expect(
          await failure(
            port.cancelWorkflowsByCorrelation({
              definitionId,
              correlationKey: 'k',
              eventId: 'e',
              idempotencyKey: 'i',
            }),
          ),
        ).toMatchObject({ code: 'definition_not_found', retryable: false });
      }
    });

    it('calls a value PostgreSQL cannot store permanent', async () => {
      const { id } = await define();
      const error = await failure(
        port.startWorkflow(startRequest(id, { correlationKey: 'k'.repeat(1025) })),
      );
      expect(error).toMatchObject({ code: 'unstorable_input', retryable: false });
    });

    it('starts many at once, each failure on its own start, and repeats as no-ops', async () => {
      const { id } = await define();
      const checked = await define({ name: 'Checked', inputSchema: bookingInputSchema });
      const batch = [
        startRequest(id, { idempotencyKey: 'b1' }),
        startRequest(id, { idempotencyKey: 'b2', correlationKey: 'k'.repeat(1025) }),
        startRequest(checked.id, { idempotencyKey: 'b3', input: { bookingId: 'nope' } }),
        startRequest(UNKNOWN_ID, { idempotencyKey: 'b4' }),
        startRequest(checked.id, { idempotencyKey: 'b5' }),
      ];
      const lanes = <T>(call: () => Promise<T>) => call();
      const first = await t.app.workflows.startWorkflows(batch, lanes);
      expect(first.map((r) => ('code' in r ? r.code : r.created))).toEqual([
        true,
        'unstorable_input',
        'invalid_input',
        'definition_not_found',
        true,
      ]);
      const again = await t.app.workflows.startWorkflows(batch, lanes);
      expect(again[0]).toEqual({ ...first[0], created: false });
      expect(again[4]).toEqual({ ...first[4], created: false });
      const list = await t.request('GET', '/v1/workflow-instances');
      expect(list.body.workflowInstances).toHaveLength(2);
    });

    it('cancels the running instances of the definition and key, exactly once per event', async () => {
      const { id } = await define();
      const other = await define({ name: 'other' });
      const start = (key: string, correlationKey: string, definitionId = id) =>
        port.startWorkflow(startRequest(definitionId, { idempotencyKey: key, correlationKey }));
      const a1 = await start('a1', 'A');
      t.clock.advance(1);
      const a2 = await start('a2', 'A');
      const b = await start('b', 'B');
      const otherA = await start('oa', 'A', other.id);
      const done = await start('done', 'A');
      await t.request('POST', `/v1/workflow-instances/${done.instanceId}/complete`, {
        payload: {},
      });
      t.clock.advance(1000);
      const cancel = {
        definitionId: id,
        correlationKey: 'A',
        eventId: 'ev-c',
        idempotencyKey: 'c',
      };
      const result = await port.cancelWorkflowsByCorrelation(cancel);
      expect(result).toEqual({ cancelledInstanceIds: [a1.instanceId, a2.instanceId] });
      expect(await instance(a1.instanceId)).toMatchObject({
        status: 'cancelled',
        cancelledByEventId: 'ev-c',
        updatedAt: t.clock.now().toISOString(),
      });
      for (const untouched of [b, otherA])
        expect((await instance(untouched.instanceId)).status).toBe('running');
      expect((await instance(done.instanceId)).status).toBe('completed');
      // A retry of the same event reports the same instances and changes nothing.
      expect(await port.cancelWorkflowsByCorrelation(cancel)).toEqual(result);
      const concurrent = await Promise.all([
        port.cancelWorkflowsByCorrelation(cancel),
        port.cancelWorkflowsByCorrelation(cancel),
      ]);
      expect(concurrent).toEqual([result, result]);
      // Another event finds nothing left to cancel.
      expect(
        await port.cancelWorkflowsByCorrelation({
          ...cancel,
          eventId: 'ev-d',
          idempotencyKey: 'd',
        }),
      ).toEqual({ cancelledInstanceIds: [] });
    });
  });

  describe('instances', () => {
    const seed = async () => {
      const a = await define({ name: 'a' });
      const b = await define({ name: 'b' });
      const ids: string[] = [];
      for (const [definitionId, key, correlationKey] of [
        [a.id, 'k1', 'X'],
        [a.id, 'k2', 'Y'],
        [b.id, 'k3', 'X'],
      ] as const) {
        ids.push(
          (
            await port.startWorkflow(
              startRequest(definitionId, { idempotencyKey: key, correlationKey }),
            )
          ).instanceId,
        );
        t.clock.advance(1000);
      }
      return { a, b, ids };
    };

    it('lists newest first, filtered by definition, correlation key and status', async () => {
      const { a, ids } = await seed();
      await t.request('POST', `/v1/workflow-instances/${ids[0]}/fail`, { payload: { error: 'x' } });
      const list = async (query: string) =>
        (await t.request('GET', `/v1/workflow-instances?${query}`)).body;
      expect((await list('')).workflowInstances.map((i: any) => i.id)).toEqual([...ids].reverse());
      expect((await list(`workflowDefinitionId=${a.id}`)).pagination.total).toBe(2);
      expect((await list('correlationKey=X')).workflowInstances.map((i: any) => i.id)).toEqual([
        ids[2],
        ids[0],
      ]);
      expect((await list('status=failed')).workflowInstances.map((i: any) => i.id)).toEqual([
        ids[0],
      ]);
      expect(
        (await list(`workflowDefinitionId=${a.id}&correlationKey=X&status=running`)).pagination
          .total,
      ).toBe(0);
      const page = await list('limit=1&offset=1');
      expect(page.workflowInstances.map((i: any) => i.id)).toEqual([ids[1]]);
      expect(page.pagination).toEqual({ total: 3, limit: 1, offset: 1, hasMore: true });
    });

    it.each(['workflowDefinitionId=nope', `workflowDefinitionId=urn:uuid:${UNKNOWN_ID}`])(
      'finds nothing for the query %s (workflow ids are opaque)',
      async (query) => {
        const response = await t.request('GET', `/v1/workflow-instances?${query}`);
        expect(response.status).toBe(200);
        expect(response.body.workflowInstances).toEqual([]);
      },
    );

    it.each(['status=paused', 'workflowDefinitionId=', 'limit=1001', 'offset=-1', 'foo=bar'])(
      'refuses the query %s with 400',
      async (query) => {
        const response = await t.request('GET', `/v1/workflow-instances?${query}`);
        expect(response.status).toBe(400);
        expect(response.body.error.code).toBe('validation_error');
      },
    );

    it('completes a running instance with or without output', async () => {
      const { ids } = await seed();
      t.clock.advance(5000);
      const completed = await t.request('POST', `/v1/workflow-instances/${ids[0]}/complete`, {
        payload: { output: { confirmationNo: 42, lines: [1, 2] } },
      });
      expect(completed.status).toBe(200);
      expect(completed.body).toMatchObject({
        status: 'completed',
        output: { confirmationNo: 42, lines: [1, 2] },
        error: null,
        updatedAt: t.clock.now().toISOString(),
      });
      const bare = await t.request('POST', `/v1/workflow-instances/${ids[1]}/complete`);
      expect(bare.status).toBe(200);
      expect(bare.body).toMatchObject({ status: 'completed', output: null });
      const scalar = await t.request('POST', `/v1/workflow-instances/${ids[2]}/complete`, {
        payload: { output: 'done' },
      });
      expect(scalar.body.output).toBe('done');
      expect(await instance(ids[0]!)).toEqual({ ...completed.body, waits: [] });
    });

    it('fails a running instance with the reason', async () => {
      const { ids } = await seed();
      const failed = await t.request('POST', `/v1/workflow-instances/${ids[0]}/fail`, {
        payload: { error: 'payment declined' },
      });
      expect(failed.status).toBe(200);
      expect(failed.body).toMatchObject({
        status: 'failed',
        error: 'payment declined',
        output: null,
      });
    });

    it('refuses to report on an instance that is not running (409 invalid_transition)', async () => {
      const { ids } = await seed();
      const cancelled = ids[2]!;
      await port.cancelWorkflowsByCorrelation({
        definitionId: (await instance(cancelled)).workflowDefinitionId,
        correlationKey: 'X',
        eventId: 'ev-x',
        idempotencyKey: 'x',
      });
      await t.request('POST', `/v1/workflow-instances/${ids[0]}/complete`, { payload: {} });
      for (const [id, action] of [
        [ids[0], 'complete'],
        [ids[0], 'fail'],
        [cancelled, 'complete'],
        [cancelled, 'fail'],
      ] as const) {
        const response = await t.request('POST', `/v1/workflow-instances/${id}/${action}`, {
          payload: action === 'fail' ? { error: 'late' } : {},
        });
        expect(response.status).toBe(409);
        expect(response.body.error.code).toBe('invalid_transition');
      }
      expect((await instance(ids[0]!)).status).toBe('completed');
      expect((await instance(cancelled)).status).toBe('cancelled');
    });

    it('lets exactly one of concurrent reports win', async () => {
      const { ids } = await seed();
      const responses = await Promise.all([
        t.request('POST', `/v1/workflow-instances/${ids[0]}/complete`, { payload: {} }),
        t.request('POST', `/v1/workflow-instances/${ids[0]}/fail`, { payload: { error: 'e' } }),
        t.request('POST', `/v1/workflow-instances/${ids[0]}/complete`, { payload: {} }),
      ]);
      expect(responses.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    });

    it('answers 400 for a bad report body and 404 for an unknown instance', async () => {
      const { ids } = await seed();
      for (const payload of [{}, { error: '' }, { error: 7 }]) {
        const response = await t.request('POST', `/v1/workflow-instances/${ids[0]}/fail`, {
          payload,
        });
        expect(response.status).toBe(400);
        expect(fields(response)).toEqual(['error']);
      }
      const extra = await t.request('POST', `/v1/workflow-instances/${ids[0]}/complete`, {
        payload: { result: 1 },
      });
      expect(extra.status).toBe(400);
      const nul = await t.request('POST', `/v1/workflow-instances/${ids[0]}/complete`, {
        payload: { output: { text: 'a\u0000b' } },
      });
      expect(nul.status).toBe(400);
      expect((await instance(ids[0]!)).status).toBe('running');
      for (const id of [UNKNOWN_ID, 'nope']) {
        expect((await t.request('GET', `/v1/workflow-instances/${id}`)).status).toBe(404);
        const report = await t.request('POST', `/v1/workflow-instances/${id}/complete`, {
          payload: {},
        });
        expect(report.status).toBe(404);
      }
    });
  });

  describe('the http executor through the port', () => {
    let engine: Server;
    let engineUrl: string;
    let calls: { url: string; key: string | undefined; body: any }[];
    let answer: { status: number; body: unknown };

    beforeAll(async () => {
      engine = createServer((req, res) => {
        let text = '';
        req.on('data', (c) => {
          text += c;
        });
        req.on('end', () => {
          calls.push({
            url: req.url!,
            key: req.headers['idempotency-key'] as string | undefined,
            body: JSON.parse(text),
          });
          res.writeHead(answer.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(answer.body));
        });
      });
      await new Promise<void>((resolve) => engine.listen(0, '127.0.0.1', resolve));
      engineUrl = `http://127.0.0.1:${(engine.address() as AddressInfo).port}/wf`;
    });
    afterAll(async () => {
      engine.closeAllConnections();
      await new Promise((resolve) => engine.close(resolve));
    });
    beforeEach(() => {
      calls = [];
    });

    it('sends starts and cancels of an http definition to its engine, not to the table', async () => {
      const { id } = await define({
        executor: 'http',
        executorUrl: engineUrl,
        inputSchema: bookingInputSchema,
      });
      answer = { status: 201, body: { instanceId: 'remote-1' } };
      expect(await port.startWorkflow(startRequest(id, { idempotencyKey: 'ev-1/tr-1' }))).toEqual({
        instanceId: 'remote-1',
        created: true,
      });
      expect(calls).toEqual([
        {
          url: '/wf/start',
          key: 'ev-1/tr-1',
          body: expect.objectContaining({ definitionId: id, input: { bookingId: 'bk_1' } }),
        },
      ]);
      answer = { status: 200, body: { cancelledInstanceIds: ['remote-1'] } };
      const cancel = {
        definitionId: id,
        correlationKey: 'bk_1',
        eventId: 'e',
        idempotencyKey: 'c',
      };
      expect(await port.cancelWorkflowsByCorrelation(cancel)).toEqual({
        cancelledInstanceIds: ['remote-1'],
      });
      expect(calls.map((c) => c.url)).toEqual(['/wf/start', '/wf/cancel']);
      expect((await t.request('GET', '/v1/workflow-instances')).body.pagination.total).toBe(0);
    });

    it('validates the input before calling the engine', async () => {
      const { id } = await define({
        executor: 'http',
        executorUrl: engineUrl,
        inputSchema: bookingInputSchema,
      });
      const error = await failure(port.startWorkflow(startRequest(id, { input: {} })));
      expect(error).toBeInstanceOf(WorkflowInputError);
      expect(calls).toEqual([]);
    });

    it('passes on how the engine failed', async () => {
      const { id } = await define({ executor: 'http', executorUrl: engineUrl });
      answer = { status: 503, body: {} };
      expect(await failure(port.startWorkflow(startRequest(id)))).toMatchObject({
        retryable: true,
        status: 503,
      });
      answer = { status: 422, body: {} };
      expect(await failure(port.startWorkflow(startRequest(id)))).toMatchObject({
        retryable: false,
        status: 422,
      });
    });
  });

  describe('hostile input', () => {
    it('never answers 5xx', async () => {
      const { id } = await define();
      const { instanceId } = await port.startWorkflow(startRequest(id));
      const routes = [
        'POST /v1/workflow-definitions',
        `PATCH /v1/workflow-definitions/${id}`,
        `POST /v1/workflow-instances/${instanceId}/complete`,
        `POST /v1/workflow-instances/${instanceId}/fail`,
      ];
      const body = fc.oneof(
        fc.record(
          {
            name: fc.oneof(fc.string(), fc.anything()),
            version: fc.oneof(fc.constant('1.0.0'), fc.string()),
            inputSchema: fc.oneof(fc.object(), fc.jsonValue()),
            executor: fc.oneof(fc.constantFrom('builtin', 'http'), fc.string()),
            executorUrl: fc.oneof(fc.webUrl(), fc.string()),
            executorTimeoutMs: fc.oneof(fc.integer(), fc.double()),
            output: fc.jsonValue(),
            error: fc.oneof(fc.string(), fc.anything()),
          },
          { requiredKeys: [] },
        ),
        fc.jsonValue(),
      );
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...routes), body, async (route, payload) => {
          const [method, url] = route.split(' ') as [string, string];
          const response = await t.request(method, url, {
            payload: JSON.stringify(payload),
            headers: { 'content-type': 'application/json', 'if-match': '*' },
          });
          expect(response.status, `${route} ${JSON.stringify(payload)}`).toBeLessThan(500);
        }),
        { numRuns: 200 },
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(
            'GET /v1/workflow-definitions/',
            'GET /v1/workflow-instances/',
            'DELETE /v1/workflow-definitions/',
            'GET /v1/workflow-instances?correlationKey=',
            'GET /v1/workflow-instances?workflowDefinitionId=',
            'GET /v1/workflow-definitions?limit=',
          ),
          fc.string({ minLength: 1 }),
          async (route, param) => {
            const [method, prefix] = route.split(' ') as [string, string];
            const response = await t.request(method, `${prefix}${encodeURIComponent(param)}`);
            expect(response.status, `${route}${param}`).toBeLessThan(500);
          },
        ),
        { numRuns: 200 },
      );
    });
  });
});
