import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';

/** Type checks of triggers and subscriptions through the API: refusals, warnings, ?check=warn. */

const orderSchema = (properties: Record<string, unknown>) => ({
  type: 'object',
  required: ['orderId', 'orderTotal'],
  properties: { orderId: { type: 'string' }, orderTotal: { type: 'number' }, ...properties },
});

describe.each(testBackends())('consumer type checks on $name', (backend) => {
  let t: TestApp;
  let workflowId: string;
  beforeAll(async () => {
    t = await startTestApp(backend, { definitionCacheTtlMs: 0 });
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    await t.reset();
    const register = (version: string, properties: Record<string, unknown>) =>
      t.request('POST', '/v1/event-definitions', {
        payload: {
          event_id: 'order.placed',
          name: 'Order placed',
          pattern: 'order.placed',
          version,
          payload_schema: orderSchema(properties),
          // A property added to an open schema is a breaking change under BACKWARD.
          compatibility: 'NONE',
        },
      });
    expect((await register('1.0.0', { status: { type: 'string' } })).status).toBe(201);
    expect(
      (await register('1.1.0', { status: { type: 'string' }, coupon: { type: 'string' } })).status,
    ).toBe(201);
    const workflow = await t.request('POST', '/v1/workflow-definitions', {
      payload: {
        name: 'fulfil',
        inputSchema: {
          type: 'object',
          required: ['orderId', 'total'],
          properties: { orderId: { type: 'string' }, total: { type: 'number' } },
        },
      },
    });
    workflowId = workflow.body.id;
  });

  const trigger = (body: Record<string, unknown>, query = '') =>
    t.request('POST', `/v1/workflow-triggers${query}`, {
      payload: {
        workflowDefinitionId: workflowId,
        eventPattern: 'order.*',
        triggerType: 'START',
        inputMapping: { orderId: 'payload.orderId', total: 'payload.orderTotal' },
        ...body,
      },
    });

  it('accepts a trigger whose paths every version has, without warnings', async () => {
    const created = await trigger({
      eventCondition: "payload.orderTotal > 1000 && source.type == 'shop'",
      correlationKey: 'payload.orderId',
    });
    expect(created.status).toBe(201);
    expect(created.body.warnings).toBeUndefined();
  });

  it('refuses a misspelled path: 400 unknown_field naming the field, the path and the versions', async () => {
    const refused = await trigger({ eventCondition: 'payload.orderTotl > 1000' });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('unknown_field');
    expect(refused.body.error.details).toEqual([
      {
        field: 'eventCondition',
        code: 'unknown_field',
        message:
          'payload.orderTotl is not declared by any version it may read (order.placed 1.0.0, order.placed 1.1.0)',
      },
    ]);
    expect((await t.request('GET', '/v1/workflow-triggers')).body.triggers).toEqual([]);
  });

  it('refuses operands that can never match, and keys of the wrong type: 400 type_mismatch', async () => {
    const compare = await trigger({ eventCondition: "payload.orderTotal > 'abc'" });
    expect(compare.status).toBe(400);
    expect(compare.body.error).toMatchObject({
      code: 'type_mismatch',
      details: [{ field: 'eventCondition', code: 'type_mismatch' }],
    });
    const call = await trigger({ eventCondition: "startsWith(payload.orderTotal, '1')" });
    expect(call.body.error.code).toBe('type_mismatch');
    const key = await trigger({ correlationKey: 'payload' });
    expect(key.body.error.details).toEqual([
      expect.objectContaining({ field: 'correlationKey', code: 'type_mismatch' }),
    ]);
  });

  it("refuses an input the workflow's inputSchema cannot take: 400 input_mismatch", async () => {
    const missing = await trigger({ inputMapping: { orderId: 'payload.orderId' } });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({
      code: 'input_mismatch',
      details: [{ field: 'inputMapping.total', code: 'input_mismatch' }],
    });
    const wrongType = await trigger({
      inputMapping: { orderId: 'payload.orderTotal', total: 'payload.orderTotal' },
    });
    expect(wrongType.body.error.details).toEqual([
      expect.objectContaining({ field: 'inputMapping.orderId', code: 'input_mismatch' }),
    ]);
  });

  it('accepts a path only some versions declare, with a warning', async () => {
    const created = await trigger({ eventCondition: "payload.coupon == 'SUMMER'" });
    expect(created.status).toBe(201);
    expect(created.body.warnings).toEqual([
      {
        field: 'eventCondition',
        code: 'field_not_in_all_versions',
        message: expect.stringContaining('not by order.placed 1.0.0'),
      },
    ]);
    const read = await t.request('GET', `/v1/workflow-triggers/${created.body.id}`);
    expect(read.body.warnings).toBeUndefined();
  });

  it('?check=warn accepts what it would refuse, listing the findings as warnings', async () => {
    const created = await trigger({ eventCondition: 'payload.orderTotl > 1000' }, '?check=warn');
    expect(created.status).toBe(201);
    expect(created.body.warnings).toEqual([
      expect.objectContaining({ field: 'eventCondition', code: 'unknown_field' }),
    ]);
    expect((await trigger({}, '?check=maybe')).status).toBe(400);
  });

  it('checks PATCH and PUT by name the same way', async () => {
    const created = await trigger({});
    const patched = await t.request('PATCH', `/v1/workflow-triggers/${created.body.id}`, {
      payload: { eventCondition: 'payload.nope == 1' },
      headers: { 'if-match': '"1"' },
    });
    expect(patched.status).toBe(400);
    expect(patched.body.error.code).toBe('unknown_field');
    const warned = await t.request('PATCH', `/v1/workflow-triggers/${created.body.id}?check=warn`, {
      payload: { eventCondition: 'payload.nope == 1' },
      headers: { 'if-match': '"1"' },
    });
    expect(warned.status).toBe(200);
    expect(warned.body).toMatchObject({ revision: 2, warnings: [{ code: 'unknown_field' }] });
    const put = (query: string) =>
      t.request('PUT', `/v1/workflow-triggers/by-name/big-orders${query}`, {
        payload: {
          workflowDefinitionId: workflowId,
          eventPattern: 'order.placed',
          triggerType: 'START',
          inputMapping: { orderId: 'payload.orderId' },
        },
      });
    expect((await put('')).body.error.code).toBe('input_mismatch');
    expect((await put('?check=warn')).status).toBe(201);
  });

  describe('self-referencing payload schemas', () => {
    const register = (pattern: string, payloadSchema: unknown) =>
      t.request('POST', '/v1/event-definitions', {
        payload: {
          event_id: pattern,
          name: pattern,
          pattern,
          version: '1.0.0',
          payload_schema: payloadSchema,
        },
      });
    const a = { type: 'object', properties: { a: { type: 'string' } } };

    // A `$ref` back to the same schema with no step into the value between (beside keywords,
    // or inside allOf) made the trigger check's path lookup follow itself for ever, and made the
    // validator overflow its stack on every event: both were 500s.
    it.each([
      { type: 'object', maxProperties: 0, $ref: '#' },
      { allOf: [{ $ref: '#' }, a] },
      { $defs: { n: { allOf: [{ $ref: '#/$defs/n' }, a] } }, $ref: '#/$defs/n' },
    ])('refuses %j with 400 invalid_schema', async (schema) => {
      const refused = await register('loop.seen', schema);
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({
        code: 'validation_error',
        details: [
          {
            field: 'payload_schema',
            code: 'invalid_schema',
            message: expect.stringMatching(/leads back to itself without descending/),
          },
        ],
      });
      // Nothing was stored: a trigger on its pattern finds no definition.
      const created = await trigger({ eventPattern: 'loop.seen' });
      expect(created.status).toBe(400);
      expect(created.body.error.details).toEqual([
        expect.objectContaining({ field: 'eventPattern', code: 'no_matching_definition' }),
      ]);
    });

    it('checks trigger paths over a recursive schema that descends: 201 or 400, never 500', async () => {
      const list = {
        $defs: {
          node: {
            allOf: [
              a,
              {
                type: 'object',
                properties: { next: { $ref: '#/$defs/node' }, n: { type: 'number' } },
              },
            ],
          },
        },
        $ref: '#/$defs/node',
      };
      expect((await register('list.changed', list)).status).toBe(201);
      const created = await trigger({
        eventPattern: 'list.changed',
        inputMapping: { orderId: 'payload.next.next.a', total: 'payload.next.n' },
        eventCondition: 'payload.next.n > 1',
      });
      expect(created.status).toBe(201);
      const unknown = await trigger({
        eventPattern: 'list.changed',
        inputMapping: { orderId: 'payload.a', total: 'payload.n' },
        eventCondition: 'payload.next.next.b == 1',
      });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.details).toEqual([
        expect.objectContaining({ field: 'eventCondition', code: 'unknown_field' }),
      ]);
      const mismatch = await trigger({
        eventPattern: 'list.changed',
        inputMapping: { orderId: 'payload.next.a', total: 'payload.next.a' },
      });
      expect(mismatch.body.error.details).toEqual([
        expect.objectContaining({ field: 'inputMapping.total', code: 'input_mismatch' }),
      ]);
      const published = await t.request('POST', '/v1/events', {
        payload: {
          pattern: 'list.changed',
          source: { type: 'integration', id: 'lists' },
          payload: { a: 'x', next: { a: 'y', next: { n: 'not a number' } } },
        },
      });
      expect(published.status).toBe(400);
      expect(published.body.error.details).toEqual([
        expect.objectContaining({ field: 'payload.next.next.n' }),
      ]);
    });
  });

  describe('subscription filters', () => {
    const subscribe = (expression: string, query = '') =>
      t.request('POST', `/v1/subscriptions${query}`, {
        payload: {
          event_pattern: 'order.placed',
          subscriber: { id: 'billing', type: 'queue', endpoint: 'billing.orders' },
          filter: { expression },
        },
      });

    it('refuses unknown paths and mismatched types, warns about partial ones', async () => {
      const unknown = await subscribe("payload.customer == 'x'");
      expect(unknown.status).toBe(400);
      expect(unknown.body.error).toMatchObject({
        code: 'unknown_field',
        details: [{ field: 'filter.expression', code: 'unknown_field' }],
      });
      expect((await subscribe('payload.orderId > 5')).body.error.code).toBe('type_mismatch');
      const partial = await subscribe("payload.coupon == 'X'");
      expect(partial.status).toBe(201);
      expect(partial.body.warnings).toEqual([
        expect.objectContaining({ field: 'filter.expression', code: 'field_not_in_all_versions' }),
      ]);
      const warned = await subscribe("payload.customer == 'x'", '?check=warn');
      expect(warned.status).toBe(201);
      expect(warned.body.warnings).toEqual([expect.objectContaining({ code: 'unknown_field' })]);
      const patched = await t.request(
        'PATCH',
        `/v1/subscriptions/${partial.body.subscription_id}`,
        {
          payload: { filter: { expression: 'payload.orderTotal == true' } },
          headers: { 'if-match': '"1"' },
        },
      );
      expect(patched.body.error.code).toBe('type_mismatch');
    });
  });

  describe('impact analysis', () => {
    const register = (version: string, properties: Record<string, unknown>, query = '') =>
      t.request('POST', `/v1/event-definitions${query}`, {
        payload: {
          event_id: 'order.placed',
          name: 'Order placed',
          pattern: 'order.placed',
          version,
          payload_schema: orderSchema(properties),
        },
      });

    it('reports the consumers a new version no longer supports; ?strict=true refuses it', async () => {
      const reader = await trigger({ eventCondition: "payload.status == 'paid'" });
      const subscribed = await t.request('POST', '/v1/subscriptions', {
        payload: {
          event_pattern: 'order.*',
          subscriber: { id: 'billing', type: 'queue', endpoint: 'billing.orders' },
          filter: { expression: "payload.status != 'new'" },
        },
      });
      expect(subscribed.status).toBe(201);
      const question = await t.request('POST', '/v1/event-definitions/order.placed/compatibility', {
        payload: { payload_schema: orderSchema({}), version: '2.0.0' },
      });
      expect(question.status).toBe(200);
      const expected = [
        {
          kind: 'trigger',
          id: reader.body.id,
          field: 'eventCondition',
          path: 'payload.status',
          code: 'field_not_in_all_versions',
          message: expect.stringContaining('not by order.placed 2.0.0'),
        },
        {
          kind: 'subscription',
          id: subscribed.body.subscription_id,
          field: 'filter.expression',
          path: 'payload.status',
          code: 'field_not_in_all_versions',
          message: expect.any(String),
        },
      ];
      expect(question.body.impact).toEqual(expected);
      const strict = await register('2.0.0', {}, '?strict=true');
      expect(strict.status).toBe(409);
      expect(strict.body.error).toMatchObject({
        code: 'breaks_consumers',
        details: [
          {
            field: `workflow-triggers/${reader.body.id}.eventCondition`,
            code: 'field_not_in_all_versions',
          },
          { field: `subscriptions/${subscribed.body.subscription_id}.filter.expression` },
        ],
      });
      expect(
        (await t.request('GET', '/v1/event-definitions/order.placed?version=2.0.0')).status,
      ).toBe(404);
      const made = await register('2.0.0', {});
      expect(made.status).toBe(201);
      expect(made.body.impact).toEqual(expected);
    });

    it('reports event processors whose condition or output payload paths the new version drops', async () => {
      const audited = await t.request('POST', '/v1/event-definitions', {
        payload: {
          event_id: 'order.audited',
          name: 'Order audited',
          pattern: 'order.audited',
          version: '1.0.0',
          payload_schema: {
            type: 'object',
            required: ['orderId'],
            properties: { orderId: { type: 'string' }, status: { type: 'string' } },
          },
        },
      });
      expect(audited.status).toBe(201);
      const processor = await t.request('POST', '/v1/event-processors', {
        payload: {
          name: 'audit-orders',
          eventPattern: 'order.placed',
          eventCondition: "payload.status != 'new'",
          output: {
            pattern: 'order.audited',
            payload: { orderId: 'payload.orderId', status: 'payload.status' },
          },
        },
      });
      expect(processor.status).toBe(201);
      // 2.0.0 has no status: the condition reads it, the output maps it.
      const strict = await register('2.0.0', {}, '?strict=true');
      expect(strict.status).toBe(409);
      expect(strict.body.error.details).toEqual([
        expect.objectContaining({
          field: `event-processors/${processor.body.id}.eventCondition`,
          code: 'field_not_in_all_versions',
        }),
        expect.objectContaining({
          field: `event-processors/${processor.body.id}.output.payload.status`,
          code: 'field_not_in_all_versions',
        }),
      ]);
      const made = await register('2.0.0', {});
      expect(made.status).toBe(201);
      expect(made.body.impact).toEqual([
        expect.objectContaining({
          kind: 'processor',
          id: processor.body.id,
          field: 'eventCondition',
          path: 'payload.status',
          code: 'field_not_in_all_versions',
        }),
        expect.objectContaining({
          kind: 'processor',
          id: processor.body.id,
          field: 'output.payload.status',
          path: 'payload.status',
        }),
      ]);
      // order.audited requires orderId; a version where it is optional may derive nothing.
      const retyped = await t.request('POST', '/v1/event-definitions/order.placed/compatibility', {
        payload: {
          payload_schema: {
            type: 'object',
            properties: { orderId: { type: 'number' }, status: { type: 'string' } },
          },
          version: '3.0.0',
        },
      });
      expect(retyped.body.impact).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            kind: 'processor',
            field: 'output.payload.orderId',
            code: 'input_may_be_missing',
          }),
        ]),
      );
    });

    it('reports what deprecating a version breaks', async () => {
      const reader = await trigger({ eventCondition: "payload.coupon == 'X'" });
      expect(reader.status).toBe(201);
      const v11 = await t.request('GET', '/v1/event-definitions/order.placed?version=1.1.0');
      const deprecate = (query: string) =>
        t.request('PATCH', `/v1/event-definitions/${v11.body.id}${query}`, {
          payload: { status: 'deprecated' },
          headers: { 'if-match': `"${v11.body.revision}"` },
        });
      const refused = await deprecate('?strict=true');
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('breaks_consumers');
      const done = await deprecate('');
      expect(done.status).toBe(200);
      expect(done.body.impact).toEqual([
        expect.objectContaining({
          kind: 'trigger',
          id: reader.body.id,
          path: 'payload.coupon',
          code: 'unknown_field',
        }),
      ]);
      const unaffected = await t.request('PATCH', `/v1/event-definitions/${v11.body.id}`, {
        payload: { description: 'still here' },
        headers: { 'if-match': `"${done.body.revision}"` },
      });
      expect(unaffected.body.impact).toBeUndefined();
    });
  });
});
