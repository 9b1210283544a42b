import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { bookingDefinition } from '../testing/fixtures.ts';

describe.each(testBackends())('event definition registry on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend);
  });
  afterAll(() => t.close());
  beforeEach(() => t.reset());

  const create = (body: unknown) => t.request('POST', '/v1/event-definitions', { payload: body });
  const createVersion = (version: string, status = 'active', overrides: object = {}) =>
    create({ ...bookingDefinition(), version, status, ...overrides });
  const fields = (response: { body: any }) => response.body.error.details.map((d: any) => d.field);
  const patch = (id: string, body: unknown, ifMatch?: string) =>
    t.request('PATCH', `/v1/event-definitions/${id}`, {
      payload: body,
      headers: ifMatch ? { 'if-match': ifMatch } : {},
    });

  describe('registering', () => {
    it('stores the booking example and reads it back by id, event_id and pattern', async () => {
      const created = await create(bookingDefinition());
      expect(created.status).toBe(201);
      expect(created.headers.location).toBe(`/v1/event-definitions/${created.body.id}`);
      expect(created.headers.etag).toBe('"1"');
      expect(created.body).toMatchObject({ ...bookingDefinition(), status: 'active', revision: 1 });
      expect(created.body.created_at).toBe(t.clock.now().toISOString());
      expect(created.body.updated_at).toBe(created.body.created_at);
      // The answer to a registration also carries the compatibility check it passed.
      expect(created.body.compatibility).toEqual({
        mode: 'BACKWARD',
        compatible: true,
        against: [],
        changes: [],
      });
      // The impact of a change is reported with it, never on reads.
      const { impact, ...stored } = created.body;
      expect(impact).toEqual([]);
      for (const ref of [created.body.id, 'BookingEvents.created', 'bookings.created']) {
        const read = await t.request('GET', `/v1/event-definitions/${ref}`);
        expect(read.status).toBe(200);
        expect(read.body).toEqual({ ...stored, compatibility: { mode: 'BACKWARD' } });
        expect(read.headers.etag).toBe('"1"');
      }
    });

    it('defaults status to active, and optional fields to empty values', async () => {
      const { event_id, name, pattern, version, payload_schema } = bookingDefinition();
      const created = await create({ event_id, name, pattern, version, payload_schema });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        status: 'active',
        description: '',
        source_types: [],
        examples: [],
        ui_metadata: {},
      });
    });

    it('names every missing required field', async () => {
      const response = await create({});
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('validation_error');
      expect(fields(response).sort()).toEqual([
        'event_id',
        'name',
        'pattern',
        'payload_schema',
        'version',
      ]);
    });

    it.each(['1.0', 'v1.0.0', '1.0.0.0', '01.0.0', 'latest'])(
      'refuses version %s',
      async (version) => {
        const response = await create({ ...bookingDefinition(), version });
        expect(response.status).toBe(400);
        expect(response.body.error.details).toEqual([
          expect.objectContaining({
            field: 'version',
            code: 'pattern',
            message: expect.stringContaining('semantic version'),
          }),
        ]);
      },
    );

    it.each(['1.0.0', '2.1.0-beta.1', '10.20.30+build.5'])(
      'accepts version %s',
      async (version) => {
        expect((await create({ ...bookingDefinition(), version })).status).toBe(201);
      },
    );

    it.each([
      'bookings.*',
      'bookings.**',
      'Bookings.created',
      'bookings..created',
      '.bookings',
      'bookings created',
      '',
    ])('refuses pattern "%s"', async (pattern) => {
      const response = await create({ ...bookingDefinition(), pattern });
      expect(response.status).toBe(400);
      expect(fields(response)).toEqual(['pattern']);
    });

    it.each(['user.activity.login', 'invoice_v2.created-late', 'a'])(
      'accepts pattern %s',
      async (pattern) => {
        expect((await create({ ...bookingDefinition(), pattern })).status).toBe(201);
      },
    );

    it.each([[[]], [['workflow', 'workflow']], [['']], ['workflow'], [[1]]])(
      'refuses source_types %j',
      async (sourceTypes) => {
        const response = await create({ ...bookingDefinition(), source_types: sourceTypes });
        expect(response.status).toBe(400);
        expect(fields(response)[0]).toMatch(/^source_types/);
      },
    );

    it('refuses a payload_schema that does not compile, with the compiler message', async () => {
      const response = await create({
        ...bookingDefinition(),
        payload_schema: { type: 'object', properties: { a: { type: 'nope' } } },
      });
      expect(response.status).toBe(400);
      expect(response.body.error.details).toEqual([
        {
          field: 'payload_schema',
          code: 'invalid_schema',
          message: expect.stringContaining('schema is invalid'),
        },
      ]);
    });

    it('accepts draft-07 schemas as well as 2020-12', async () => {
      const draft07 = {
        $schema: 'http://json-schema.org/draft-07/schema#',
        type: 'object',
        definitions: { id: { type: 'string' } },
      };
      const draft2020 = {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        $defs: { id: { type: 'string' } },
      };
      expect(
        (await create({ ...bookingDefinition(), examples: [], payload_schema: draft07 })).status,
      ).toBe(201);
      expect(
        (
          await create({
            ...bookingDefinition(),
            examples: [],
            version: '2.0.0',
            payload_schema: draft2020,
          })
        ).status,
      ).toBe(201);
    });

    it('never fetches a remote $ref', async () => {
      const schema = {
        type: 'object',
        properties: { a: { $ref: 'http://169.254.169.254/schema.json' } },
      };
      const response = await create({
        ...bookingDefinition(),
        examples: [],
        payload_schema: schema,
      });
      expect(response.status).toBe(400);
      expect(response.body.error.details[0].message).toMatch(/not local/);
    });

    it('bounds schema nesting and size', async () => {
      let deep: Record<string, unknown> = { type: 'string' };
      for (let i = 0; i < 40; i++) deep = { type: 'object', properties: { x: deep } };
      const tooDeep = await create({ ...bookingDefinition(), examples: [], payload_schema: deep });
      expect(tooDeep.status).toBe(400);
      expect(tooDeep.body.error.details[0].message).toMatch(/deeper than/);
      const properties = Object.fromEntries(
        Array.from({ length: 4000 }, (_, i) => [
          `property_${i}_${'x'.repeat(60)}`,
          { type: 'string' },
        ]),
      );
      const tooBig = await create({
        ...bookingDefinition(),
        examples: [],
        payload_schema: { type: 'object', properties },
      });
      expect(tooBig.status).toBe(400);
      expect(tooBig.body.error.details[0].message).toMatch(/bytes/);
    });

    it('accepts local $refs, including recursive ones', async () => {
      const schema = {
        type: 'object',
        $defs: {
          node: {
            type: 'object',
            properties: { children: { type: 'array', items: { $ref: '#/$defs/node' } } },
          },
        },
        properties: { root: { $ref: '#/$defs/node' } },
      };
      const response = await create({
        ...bookingDefinition(),
        examples: [{ root: { children: [{ children: [] }] } }],
        payload_schema: schema,
      });
      expect(response.status).toBe(201);
    });

    it('validates every example against the schema, naming examples[i] and the failing path', async () => {
      const response = await create({
        ...bookingDefinition(),
        examples: [
          { bookingId: 'ok', customerId: 'ok' },
          { bookingId: 'bk', customerId: 'cu', amount: -1 },
          { bookingId: 'bk' },
        ],
      });
      expect(response.status).toBe(400);
      expect(response.body.error.details).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ field: 'examples[1].amount', code: 'minimum' }),
          expect.objectContaining({ field: 'examples[2].customerId', code: 'required' }),
        ]),
      );
      expect(fields(response)).not.toContain('examples[0]');
    });

    it.each(['#fff', '#4CAF50', 'rebeccapurple', 'Red'])('accepts color %s', async (color) => {
      const response = await create({ ...bookingDefinition(), ui_metadata: { color } });
      expect(response.status).toBe(201);
    });

    it.each(['#ffff', 'blurple', 'rgb(1,2,3)', '4CAF50'])('refuses color %s', async (color) => {
      const response = await create({ ...bookingDefinition(), ui_metadata: { color } });
      expect(response.status).toBe(400);
      expect(fields(response)).toEqual(['ui_metadata.color']);
    });

    it('keeps owners and a documentation link, as catalog tools list them', async () => {
      const ui_metadata = {
        owners: ['team-bookings', 'ada@example.com'],
        docs_url: 'https://docs.example.com/events/booking-created',
      };
      const response = await create({ ...bookingDefinition(), ui_metadata });
      expect(response.status).toBe(201);
      const read = await t.request('GET', `/v1/event-definitions/${response.body.id}`);
      expect(read.body.ui_metadata).toEqual(ui_metadata);
    });

    it('refuses owners that are not a list of names, and a docs_url that is not http(s)', async () => {
      const response = await create({
        ...bookingDefinition(),
        ui_metadata: { owners: ['team', ''], docs_url: 'javascript:alert(1)' },
      });
      expect(response.status).toBe(400);
      expect(fields(response).sort()).toEqual(['ui_metadata.docs_url', 'ui_metadata.owners[1]']);
    });

    it('refuses an unknown priority, status or property', async () => {
      const response = await create({
        ...bookingDefinition(),
        ui_metadata: { priority: 'urgent' },
        status: 'retired',
        colour: 'x',
      });
      expect(response.status).toBe(400);
      expect(fields(response).sort()).toEqual(['colour', 'status', 'ui_metadata.priority']);
    });

    it('answers 409 for the same event_id and version twice, and lets versions coexist', async () => {
      expect((await createVersion('1.0.0')).status).toBe(201);
      const again = await createVersion('1.0.0');
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('conflict');
      expect((await createVersion('1.1.0')).status).toBe(201);
    });

    it('lets a pattern belong to one event_id only', async () => {
      expect((await create(bookingDefinition())).status).toBe(201);
      const other = await create({ ...bookingDefinition(), event_id: 'OtherEvents.created' });
      expect(other.status).toBe(409);
      expect(fields(other)).toEqual(['pattern']);
    });

    it('settles concurrent claims of one pattern by two event_ids with exactly one winner', async () => {
      const responses = await Promise.all(
        ['A.created', 'B.created', 'C.created'].map((event_id) =>
          create({ ...bookingDefinition(), event_id }),
        ),
      );
      expect(responses.map((r) => r.status).sort()).toEqual([201, 409, 409]);
    });
  });

  describe('listing', () => {
    beforeEach(async () => {
      await createVersion('1.0.0');
      await createVersion('1.1.0', 'deprecated', { status: 'active' });
      await createVersion('2.0.0-beta.1', 'draft');
      await create({
        ...bookingDefinition(),
        event_id: 'InvoiceEvents.created',
        name: 'Invoice Created',
        description: 'An INVOICE was issued',
        pattern: 'invoice.created',
        source_types: ['external'],
        examples: [],
        ui_metadata: { category: 'billing' },
      });
    });

    const list = async (query: string) => {
      const response = await t.request('GET', `/v1/event-definitions${query}`);
      expect(response.status).toBe(200);
      return response.body;
    };
    const versionsOf = (body: any) =>
      body.definitions.map((d: any) => `${d.event_id}@${d.version}`).sort();

    it('lists every version without filters, with pagination', async () => {
      const body = await list('');
      expect(body.definitions).toHaveLength(4);
      expect(body.pagination).toEqual({ total: 4, limit: 100, offset: 0, hasMore: false });
    });

    it.each([
      ['?pattern=invoice.created', ['InvoiceEvents.created@1.0.0']],
      [
        '?event_id=BookingEvents.created',
        [
          'BookingEvents.created@1.0.0',
          'BookingEvents.created@1.1.0',
          'BookingEvents.created@2.0.0-beta.1',
        ],
      ],
      ['?source_type=external', ['InvoiceEvents.created@1.0.0']],
      ['?status=draft', ['BookingEvents.created@2.0.0-beta.1']],
      ['?category=billing', ['InvoiceEvents.created@1.0.0']],
      ['?q=invoice', ['InvoiceEvents.created@1.0.0']],
      [
        '?q=BOOKED',
        [
          'BookingEvents.created@1.0.0',
          'BookingEvents.created@1.1.0',
          'BookingEvents.created@2.0.0-beta.1',
        ],
      ],
      ['?q=%25', []],
      ['?latest=true', ['BookingEvents.created@1.1.0', 'InvoiceEvents.created@1.0.0']],
      ['?latest=true&event_id=BookingEvents.created', ['BookingEvents.created@1.1.0']],
    ])('filters %s', async (query, expected) => {
      expect(versionsOf(await list(query))).toEqual(expected);
    });

    it('pages with limit and offset', async () => {
      const first = await list('?limit=3');
      expect(first.pagination).toEqual({ total: 4, limit: 3, offset: 0, hasMore: true });
      const second = await list('?limit=3&offset=3');
      expect(second.pagination).toEqual({ total: 4, limit: 3, offset: 3, hasMore: false });
      const ids = [...first.definitions, ...second.definitions].map((d: any) => d.id);
      expect(new Set(ids).size).toBe(4);
    });

    it.each([
      '?limit=0',
      '?limit=1001',
      '?offset=-1',
      '?status=gone',
      '?latest=maybe',
      '?limit=ten',
      '?unknown=1',
    ])('refuses %s with 400', async (query) => {
      const response = await t.request('GET', `/v1/event-definitions${query}`);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('validation_error');
      expect(response.body.error.details[0].field).toMatch(
        /^(limit|offset|status|latest|unknown)$/,
      );
    });
  });

  describe('versions', () => {
    it('resolves the default version: highest active semver of the lowest active major', async () => {
      const v19 = (await createVersion('1.9.0')).body;
      const v110 = (await createVersion('1.10.0')).body;
      const v12 = (await createVersion('1.2.0')).body;
      await createVersion('2.0.0-rc.1', 'active');
      await createVersion('3.0.0', 'draft');
      const current = async (ref: string) =>
        (await t.request('GET', `/v1/event-definitions/${ref}`)).body.version;
      // Not the newest, nor the lexically largest, nor the newer major.
      expect(await current('bookings.created')).toBe('1.10.0');
      await createVersion('2.0.0');
      expect(await current('BookingEvents.created')).toBe('1.10.0');
      for (const v of [v19, v110, v12]) await patch(v.id, { status: 'deprecated' }, '"1"');
      expect(await current('BookingEvents.created')).toBe('2.0.0');
    });

    it('resolves the highest draft when only drafts exist', async () => {
      await createVersion('0.1.0', 'draft');
      await createVersion('0.2.0', 'draft');
      expect((await t.request('GET', '/v1/event-definitions/bookings.created')).body.version).toBe(
        '0.2.0',
      );
    });

    it('picks one version with ?version=, and answers 404 for an unknown one', async () => {
      await createVersion('1.0.0');
      await createVersion('1.1.0');
      expect(
        (await t.request('GET', '/v1/event-definitions/bookings.created?version=1.0.0')).body
          .version,
      ).toBe('1.0.0');
      const missing = await t.request(
        'GET',
        '/v1/event-definitions/bookings.created?version=9.9.9',
      );
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('not_found');
    });

    it('answers 404 for an unknown reference', async () => {
      for (const ref of ['nothing.here', '00000000-0000-4000-8000-000000000000']) {
        const response = await t.request('GET', `/v1/event-definitions/${ref}`);
        expect(response.status).toBe(404);
        expect(response.body.error.code).toBe('not_found');
      }
      expect((await t.request('GET', '/v1/event-definitions/nothing.here/versions')).status).toBe(
        404,
      );
    });

    it('lists all versions newest first', async () => {
      for (const v of ['1.0.0', '2.0.0-beta.1', '1.10.0', '2.0.0'])
        await createVersion(v, v.includes('beta') ? 'draft' : 'active');
      const response = await t.request('GET', '/v1/event-definitions/bookings.created/versions');
      expect(response.body.versions.map((d: any) => d.version)).toEqual([
        '2.0.0',
        '2.0.0-beta.1',
        '1.10.0',
        '1.0.0',
      ]);
    });
  });

  describe('changing', () => {
    it('requires If-Match (428) and refuses a stale one (412)', async () => {
      const { body } = await create(bookingDefinition());
      const missing = await patch(body.id, { name: 'Renamed' });
      expect(missing.status).toBe(428);
      expect(missing.body.error.code).toBe('precondition_required');
      expect((await patch(body.id, { name: 'Renamed' }, '"1"')).status).toBe(200);
      const stale = await patch(body.id, { name: 'Again' }, '"1"');
      expect(stale.status).toBe(412);
      expect(stale.body.error.code).toBe('precondition_failed');
    });

    it('changes the editable fields and moves the ETag and updated_at', async () => {
      const { body } = await create(bookingDefinition());
      t.clock.advance(60_000);
      const changes = {
        name: 'Booking made',
        description: 'new words',
        examples: [{ bookingId: 'b2', customerId: 'c2' }],
        ui_metadata: { color: 'teal', priority: 'low' },
        source_types: ['external'],
        status: 'deprecated',
      };
      const response = await patch(body.id, changes, '"1"');
      expect(response.status).toBe(200);
      expect(response.headers.etag).toBe('"2"');
      expect(response.body).toMatchObject({
        ...changes,
        revision: 2,
        created_at: body.created_at,
        updated_at: t.clock.now().toISOString(),
      });
      // A status change reports its impact on consumers (none here); reads never carry one.
      const { impact, ...stored } = response.body;
      expect(impact).toEqual([]);
      expect((await t.request('GET', `/v1/event-definitions/${body.id}`)).body).toEqual(stored);
    });

    it('re-validates examples', async () => {
      const { body } = await create(bookingDefinition());
      const response = await patch(body.id, { examples: [{ bookingId: 7 }] }, '"1"');
      expect(response.status).toBe(400);
      expect(fields(response).sort()).toEqual(['examples[0].bookingId', 'examples[0].customerId']);
    });

    it('refuses fields that are not editable', async () => {
      const { body } = await create(bookingDefinition());
      const response = await patch(body.id, { version: '9.0.0', pattern: 'x.y' }, '"1"');
      expect(response.status).toBe(400);
      expect(fields(response).sort()).toEqual(['pattern', 'version']);
    });

    it('keeps the schema of active and deprecated versions immutable, and lets drafts change theirs', async () => {
      const active = (await createVersion('1.0.0')).body;
      const newSchema = { type: 'object', properties: { other: { type: 'string' } } };
      const refused = await patch(active.id, { payload_schema: newSchema }, '"1"');
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('immutable_schema');
      // The same schema again is no change.
      expect(
        (await patch(active.id, { payload_schema: active.payload_schema }, '"1"')).status,
      ).toBe(200);
      const draft = (await createVersion('2.0.0', 'draft', { examples: [] })).body;
      const changed = await patch(draft.id, { payload_schema: newSchema }, '"1"');
      expect(changed.status).toBe(200);
      expect(changed.body.payload_schema).toEqual(newSchema);
    });

    it.each([
      ['draft', 'active', 200],
      ['active', 'deprecated', 200],
      ['deprecated', 'active', 200],
      ['active', 'draft', 409],
      ['deprecated', 'draft', 409],
    ])('moves %s → %s with %i', async (from, to, status) => {
      const initial = from === 'deprecated' ? 'active' : from;
      let { body } = await createVersion('1.0.0', initial);
      if (from === 'deprecated')
        body = (await patch(body.id, { status: 'deprecated' }, '"1"')).body;
      const response = await patch(body.id, { status: to }, `"${body.revision}"`);
      expect(response.status).toBe(status);
      if (status === 409) expect(response.body.error.code).toBe('invalid_transition');
    });

    it('lets exactly one of two concurrent PATCHes with the same If-Match succeed', async () => {
      const { body } = await create(bookingDefinition());
      const responses = await Promise.all([
        patch(body.id, { name: 'First' }, '"1"'),
        patch(body.id, { name: 'Second' }, '"1"'),
        patch(body.id, { description: 'Third' }, '"1"'),
      ]);
      expect(responses.map((r) => r.status).sort()).toEqual([200, 412, 412]);
      expect((await t.request('GET', `/v1/event-definitions/${body.id}`)).body.revision).toBe(2);
    });

    it('answers 404 when patching an unknown id', async () => {
      const response = await patch('00000000-0000-4000-8000-000000000000', { name: 'x' }, '"1"');
      expect(response.status).toBe(404);
      expect((await patch('not-a-uuid', { name: 'x' }, '"1"')).status).toBe(404);
    });

    it('moves latest when a version is deprecated', async () => {
      const v1 = (await createVersion('1.0.0')).body;
      const v2 = (await createVersion('2.0.0')).body;
      const latest = async () =>
        (await t.request('GET', '/v1/event-definitions?latest=true')).body.definitions[0].version;
      // A new major is not the default while the older one is active.
      expect(await latest()).toBe('1.0.0');
      await patch(v1.id, { status: 'deprecated' }, '"1"');
      expect(await latest()).toBe('2.0.0');
      // With no active version left, a plain reference finds the highest deprecated one.
      await patch(v2.id, { status: 'deprecated' }, '"1"');
      expect((await t.request('GET', '/v1/event-definitions/bookings.created')).body.version).toBe(
        '2.0.0',
      );
    });
  });

  describe('deleting', () => {
    it('removes a draft, refuses active and deprecated versions', async () => {
      const draft = (await createVersion('2.0.0', 'draft')).body;
      const active = (await createVersion('1.0.0')).body;
      expect((await t.request('DELETE', `/v1/event-definitions/${draft.id}`)).status).toBe(204);
      expect((await t.request('GET', `/v1/event-definitions/${draft.id}`)).status).toBe(404);
      expect((await t.request('DELETE', `/v1/event-definitions/${draft.id}`)).status).toBe(404);
      const refused = await t.request('DELETE', `/v1/event-definitions/${active.id}`);
      expect(refused.status).toBe(409);
      expect(refused.body.error.message).toMatch(/deprecate/);
    });

    it('frees the pattern once the last version of an event is deleted', async () => {
      const draft = (await createVersion('1.0.0', 'draft')).body;
      await t.request('DELETE', `/v1/event-definitions/${draft.id}`);
      expect((await create({ ...bookingDefinition(), event_id: 'Renamed.created' })).status).toBe(
        201,
      );
    });
  });

  describe('validator cache', () => {
    it('compiles a validator once per (pattern, version) and recompiles after a change', async () => {
      const draft = (await createVersion('1.0.0', 'draft', { examples: [] })).body;
      const validators = t.app.validators;
      const first = validators.get(draft);
      expect(validators.get(draft)).toBe(first);
      expect(first({ bookingId: 'b' })).toEqual([
        expect.objectContaining({ field: 'payload.customerId', code: 'required' }),
      ]);
      const newSchema = { type: 'object', required: ['other'] };
      const patched = await t.request('PATCH', `/v1/event-definitions/${draft.id}`, {
        payload: { payload_schema: newSchema },
        headers: { 'if-match': '"1"' },
      });
      const second = validators.get(patched.body);
      expect(second).not.toBe(first);
      expect(second({ bookingId: 'b' })).toEqual([
        expect.objectContaining({ field: 'payload.other' }),
      ]);
    });
  });
});
