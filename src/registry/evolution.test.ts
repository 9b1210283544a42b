import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';

/** The order event: version 1.0.0 of `order.placed`. */
const orderSchema = (properties: Record<string, unknown> = {}, required = ['orderId']) => ({
  type: 'object',
  required,
  properties: {
    orderId: { type: 'string' },
    customerId: { type: 'string' },
    orderTotal: { type: 'number' },
    ...properties,
  },
});

describe.each(testBackends())('schema evolution on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend);
  });
  afterAll(() => t.close());
  beforeEach(() => t.reset());

  const register = (version: string, payloadSchema: unknown, extra: object = {}) =>
    t.request('POST', '/v1/event-definitions', {
      payload: {
        event_id: 'Orders.placed',
        name: 'Order placed',
        pattern: 'order.placed',
        version,
        payload_schema: payloadSchema,
        ...extra,
      },
    });
  const patch = (id: string, body: unknown) =>
    t.request('PATCH', `/v1/event-definitions/${id}`, {
      payload: body,
      headers: { 'if-match': '*' },
    });
  const publish = (payload: unknown, version?: string) =>
    t.request('POST', '/v1/events', {
      payload: { pattern: 'order.placed', payload, ...(version ? { version } : {}) },
    });
  const v1Order = { orderId: 'o-1', customerId: 'c-1', orderTotal: 12.5 };

  describe('the gate on minor and patch versions', () => {
    it('refuses a minor version that changes a type: 409 with one detail per breaking change', async () => {
      expect((await register('1.0.0', orderSchema())).status).toBe(201);
      // The 1.2.0: orderTotal becomes a string and customerId is dropped. Under BACKWARD
      // only the type change breaks: 1.2.0 (an open model) still reads a customerId.
      const refused = await register(
        '1.2.0',
        orderSchema({ orderTotal: { type: 'string' }, customerId: undefined }),
      );
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({
        code: 'incompatible_schema',
        message: expect.stringContaining('BACKWARD'),
        details: [
          {
            field: 'payload_schema#/properties/orderTotal',
            code: 'TYPE_CHANGED',
            message: 'the type changed: this schema cannot read data written with 1.0.0',
          },
        ],
      });
      const versions = await t.request('GET', '/v1/event-definitions/Orders.placed/versions');
      expect(versions.body.versions.map((v: any) => v.version)).toEqual(['1.0.0']);
    });

    it('accepts a compatible minor version, with the check in the 201', async () => {
      await register('1.0.0', orderSchema({}, ['orderId', 'customerId']));
      const created = await register('1.1.0', orderSchema({}, ['orderId']));
      expect(created.status).toBe(201);
      expect(created.body.compatibility).toEqual({
        mode: 'BACKWARD',
        compatible: true,
        against: ['1.0.0'],
        changes: [
          {
            code: 'REQUIRED_ATTRIBUTE_REMOVED',
            path: '#/required/customerId',
            breaking: false,
            version: '1.0.0',
            direction: 'backward',
          },
        ],
      });
    });

    it('checks a patch against the nearest released version of its major, drafts aside', async () => {
      await register('1.0.0', orderSchema());
      await register('1.1.0', orderSchema({ note: {} }));
      await register('1.2.0', orderSchema({ orderTotal: { type: 'string' } }), { status: 'draft' });
      const patchVersion = await register(
        '1.1.1',
        orderSchema({ note: {}, orderTotal: { type: 'integer' } }),
      );
      expect(patchVersion.status).toBe(409);
      expect(patchVersion.body.error.details).toEqual([
        expect.objectContaining({
          field: 'payload_schema#/properties/orderTotal',
          code: 'TYPE_NARROWED',
        }),
      ]);
      expect(patchVersion.body.error.message).toContain('1.1.0');
    });

    it('lets a new major break, lists its breaking changes, and keeps the old major the default', async () => {
      await register('1.0.0', orderSchema({}, ['orderId', 'customerId']));
      const v2 = await register(
        '2.0.0',
        orderSchema({ customerId: undefined, currency: { type: 'string' } }, [
          'orderId',
          'currency',
        ]),
      );
      expect(v2.status).toBe(201);
      expect(v2.body.compatibility).toMatchObject({
        mode: 'BACKWARD',
        compatible: false,
        against: ['1.0.0'],
      });
      expect(v2.body.compatibility.changes).toContainEqual(
        expect.objectContaining({
          code: 'REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL',
          path: '#/properties/currency',
          breaking: true,
        }),
      );
      // Unpinned publishers keep getting 1.0.0: their v1-shaped events still pass.
      const unpinned = await publish(v1Order);
      expect(unpinned.status).toBe(202);
      const stored = await t.request('GET', `/v1/events/${unpinned.body.eventId}`);
      expect(stored.body.version).toBe('1.0.0');
      expect((await t.request('GET', '/v1/event-definitions/order.placed')).body.version).toBe(
        '1.0.0',
      );
      expect((await publish({ orderId: 'o-2', currency: 'EUR' }, '2.0.0')).status).toBe(202);
      // Deprecating the old major hands the default over.
      const v1 = (await t.request('GET', '/v1/event-definitions/Orders.placed?version=1.0.0')).body;
      await patch(v1.id, { status: 'deprecated' });
      expect((await t.request('GET', '/v1/event-definitions/order.placed')).body.version).toBe(
        '2.0.0',
      );
      expect((await publish(v1Order)).status).toBe(400);
    });

    it('checks minors of the new major against that major only', async () => {
      await register('1.0.0', orderSchema());
      await register(
        '2.0.0',
        { type: 'object', properties: { id: { type: 'integer' } } },
        { compatibility: 'BACKWARD_TRANSITIVE' },
      );
      const v21 = await register('2.1.0', {
        type: 'object',
        properties: { id: { type: 'number' } },
      });
      expect(v21.status).toBe(201);
      expect(v21.body.compatibility).toMatchObject({
        mode: 'BACKWARD_TRANSITIVE',
        compatible: true,
        against: ['2.0.0'],
      });
    });

    it('reports on a draft without refusing it, and checks it when it is released', async () => {
      await register('1.0.0', orderSchema());
      const draft = await register('1.1.0', orderSchema({ orderTotal: { type: 'string' } }), {
        status: 'draft',
      });
      expect(draft.status).toBe(201);
      expect(draft.body.compatibility).toMatchObject({ compatible: false, against: ['1.0.0'] });
      const released = await patch(draft.body.id, { status: 'active' });
      expect(released.status).toBe(409);
      expect(released.body.error.code).toBe('incompatible_schema');
      const fixed = await patch(draft.body.id, { payload_schema: orderSchema({ note: {} }) });
      expect(fixed.status).toBe(200);
      const releasedNow = await patch(draft.body.id, { status: 'active' });
      expect(releasedNow.status).toBe(200);
      expect(releasedNow.body).toMatchObject({
        status: 'active',
        compatibility: { mode: 'BACKWARD', compatible: true, against: ['1.0.0'] },
      });
    });
  });

  describe('modes', () => {
    it('defaults to BACKWARD, reported on every read', async () => {
      const created = await register('1.0.0', orderSchema());
      const read = await t.request('GET', `/v1/event-definitions/${created.body.id}`);
      expect(read.body.compatibility).toEqual({ mode: 'BACKWARD' });
      const listed = await t.request('GET', '/v1/event-definitions');
      expect(listed.body.definitions[0].compatibility).toEqual({ mode: 'BACKWARD' });
    });

    it('is set on registration and changed by PATCH for every version, whose ETags change', async () => {
      const v1 = (await register('1.0.0', orderSchema(), { compatibility: 'FULL' })).body;
      expect(v1.compatibility.mode).toBe('FULL');
      const v11 = (await register('1.1.0', orderSchema({ note: {} }))).body;
      expect(v11.compatibility.mode).toBe('FULL');
      const changed = await t.request('PATCH', `/v1/event-definitions/${v11.id}`, {
        payload: { compatibility: { mode: 'NONE' } },
        headers: { 'if-match': `"${v11.revision}"` },
      });
      expect(changed.status).toBe(200);
      expect(changed.body.compatibility).toEqual({ mode: 'NONE' });
      const other = await t.request('GET', `/v1/event-definitions/${v1.id}`);
      expect(other.body.compatibility).toEqual({ mode: 'NONE' });
      expect(other.headers.etag).not.toBe(`"${v1.revision}"`);
      // NONE checks nothing.
      expect((await register('1.2.0', { type: 'string' })).status).toBe(201);
    });

    it('refuses an unknown mode', async () => {
      const response = await register('1.0.0', orderSchema(), { compatibility: 'SIDEWAYS' });
      expect(response.status).toBe(400);
      expect(response.body.error.details[0].field).toMatch(/^compatibility/);
    });

    it('FORWARD: the previous version must read what the new one writes', async () => {
      await register('1.0.0', orderSchema(), { compatibility: 'FORWARD' });
      // Adding a property to an open model: 1.0.0 readers accept it …
      expect((await register('1.1.0', orderSchema({ note: { type: 'string' } }))).status).toBe(201);
      // … but not a total that may be anything now.
      const widened = await register(
        '1.2.0',
        orderSchema({ note: { type: 'string' }, orderTotal: {} }),
      );
      expect(widened.status).toBe(409);
      expect(widened.body.error.details).toEqual([
        {
          field: 'payload_schema#/properties/orderTotal',
          code: 'TYPE_CHANGED',
          message: 'the type changed: 1.1.0 cannot read data written with this schema',
        },
      ]);
    });

    it('FULL_TRANSITIVE checks every released version of the major', async () => {
      await register('1.0.0', orderSchema(), { compatibility: 'FULL_TRANSITIVE' });
      await register(
        '1.1.0',
        orderSchema({ orderTotal: { type: 'number', description: 'total' } }),
      );
      const created = await register('1.2.0', orderSchema());
      expect(created.body.compatibility).toMatchObject({
        compatible: true,
        against: ['1.1.0', '1.0.0'],
      });
    });
  });

  describe('POST /v1/event-definitions/{ref}/compatibility', () => {
    const check = (ref: string, body: unknown) =>
      t.request('POST', `/v1/event-definitions/${ref}/compatibility`, { payload: body });

    it('answers the verdict and stores nothing', async () => {
      await register('1.0.0', orderSchema());
      const answer = await check('order.placed', {
        payload_schema: orderSchema({ orderTotal: { type: 'string' } }),
      });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({
        compatible: false,
        mode: 'BACKWARD',
        version: '1.1.0',
        against: ['1.0.0'],
        changes: [
          {
            code: 'TYPE_CHANGED',
            path: '#/properties/orderTotal',
            breaking: true,
            version: '1.0.0',
            direction: 'backward',
          },
        ],
        impact: [],
      });
      const versions = await t.request('GET', '/v1/event-definitions/order.placed/versions');
      expect(versions.body.versions).toHaveLength(1);
    });

    it('checks as the version given, by event_id or UUID', async () => {
      const v1 = (await register('1.0.0', orderSchema())).body;
      await register('2.0.0', { type: 'object' });
      const asMinor = await check('Orders.placed', {
        payload_schema: orderSchema(),
        version: '2.1.0',
      });
      expect(asMinor.body).toMatchObject({ version: '2.1.0', against: ['2.0.0'] });
      const byId = await check(v1.id, { payload_schema: { type: 'string' }, version: '1.0.1' });
      expect(byId.body).toMatchObject({ compatible: false, against: ['1.0.0'] });
    });

    it('answers 404 for an unknown event and 400 for a schema that does not compile', async () => {
      expect((await check('nothing.here', { payload_schema: {} })).status).toBe(404);
      await register('1.0.0', orderSchema());
      const invalid = await check('order.placed', { payload_schema: { type: 'nope' } });
      expect(invalid.status).toBe(400);
      expect(invalid.body.error.details[0]).toMatchObject({
        field: 'payload_schema',
        code: 'invalid_schema',
      });
    });
  });

  describe('reads return what was asked for', () => {
    it('a UUID answers that version, with its own ETag, which PATCH accepts', async () => {
      const v1 = (await register('1.0.0', orderSchema())).body;
      const v11 = (await register('1.1.0', orderSchema({ note: {} }))).body;
      const read = await t.request('GET', `/v1/event-definitions/${v1.id}`);
      expect(read.body).toMatchObject({ id: v1.id, version: '1.0.0' });
      const patched = await t.request('PATCH', `/v1/event-definitions/${v1.id}`, {
        payload: { description: 'first' },
        headers: { 'if-match': read.headers.etag as string },
      });
      expect(patched.status).toBe(200);
      // event_id and pattern mean the default version, as publishing resolves it.
      for (const ref of ['Orders.placed', 'order.placed']) {
        expect((await t.request('GET', `/v1/event-definitions/${ref}`)).body.id).toBe(v11.id);
      }
      const published = await publish(v1Order);
      expect((await t.request('GET', `/v1/events/${published.body.eventId}`)).body.version).toBe(
        '1.1.0',
      );
    });
  });
});
