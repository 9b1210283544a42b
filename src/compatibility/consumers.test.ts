import { describe, expect, it } from 'vitest';
import { type ConsumerSpec, checkConsumer, type EventSchema } from './consumers.ts';

const order = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'object',
  required: ['orderId', 'orderTotal'],
  properties: { orderId: { type: 'string' }, orderTotal: { type: 'number' }, ...properties },
  ...extra,
});
const v = (version: string, payloadSchema: unknown): EventSchema => ({
  label: `order.placed ${version}`,
  payloadSchema,
});
const V1 = v('1.0.0', order({ status: { type: 'string', enum: ['new', 'paid'] } }));
const V2 = v('1.1.0', order({ status: { type: 'string' }, coupon: { type: ['string', 'null'] } }));

const condition = (text: string, versions: EventSchema[] = [V1, V2]) =>
  checkConsumer({ conditions: [{ field: 'eventCondition', text }] }, versions);
const codes = (findings: { code: string; severity: string }[]) =>
  findings.map((f) => `${f.severity} ${f.code}`);

describe('paths', () => {
  it.each([
    'payload.orderTotal > 1000',
    "data.status == 'paid'",
    '$.payload.orderId == "o-1"',
    "event.payload.orderTotal >= 0 && event.version == '1.0.0'",
    "source.type in ['workflow', 'integration']",
    "metadata.tags.region == 'eu' && metadata.correlationId != 'x'",
    "metadata.anythingElse == 'x'",
    "pattern == 'order.placed' && exists(payload.orderId)",
  ])('accepts %s', (text) => {
    expect(condition(text)).toEqual([]);
  });

  it('refuses a path no version declares, naming the field, path and versions', () => {
    expect(condition('payload.orderTotl > 1000')).toEqual([
      {
        field: 'eventCondition',
        code: 'unknown_field',
        severity: 'error',
        path: 'payload.orderTotl',
        message:
          'payload.orderTotl is not declared by any version it may read (order.placed 1.0.0, order.placed 1.1.0)',
      },
    ]);
  });

  it('refuses a path a closed schema cannot have, and envelope fields that do not exist', () => {
    const closed = v('1.0.0', order({}, { additionalProperties: false }));
    expect(condition("payload.extra == 'x'", [closed])[0]).toMatchObject({
      code: 'unknown_field',
      message: expect.stringContaining('cannot exist'),
    });
    expect(codes(condition("event.nope == 'x'"))).toEqual(['error unknown_field']);
    expect(codes(condition("source.region == 'x'"))).toEqual(['error unknown_field']);
    expect(codes(condition('payload.orderId.length == 2'))).toEqual(['error unknown_field']);
  });

  it('warns about a path only some versions declare', () => {
    expect(condition('payload.coupon == null')).toEqual([
      expect.objectContaining({
        code: 'field_not_in_all_versions',
        severity: 'warning',
        message: expect.stringContaining(
          'declared by order.placed 1.1.0 but not by order.placed 1.0.0',
        ),
      }),
    ]);
  });

  it('accepts anything below a schema that declares nothing', () => {
    expect(condition('payload.a.b[0].c > 1', [v('1.0.0', { type: 'object' })])).toEqual([]);
    expect(condition('payload.a == 1', [v('1.0.0', {})])).toEqual([]);
  });

  it('follows arrays, $refs, alternatives and maps', () => {
    const schema = {
      type: 'object',
      properties: {
        items: { type: 'array', items: { $ref: '#/$defs/item' } },
        pair: {
          type: 'array',
          prefixItems: [{ type: 'string' }, { type: 'number' }],
          items: false,
        },
        payment: {
          oneOf: [
            { properties: { card: { type: 'string' } } },
            { properties: { iban: { type: 'string' } } },
          ],
        },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
      },
      $defs: {
        item: { type: 'object', properties: { sku: { type: 'string' }, qty: { type: 'integer' } } },
      },
    };
    const versions = [v('1.0.0', schema)];
    expect(condition("payload.items[0].sku == 'a' && payload.items[2].qty > 1", versions)).toEqual(
      [],
    );
    expect(condition("payload.pair[1] > 2 && payload.payment.iban == 'x'", versions)).toEqual([]);
    expect(condition("payload.labels.anything == 'x'", versions)).toEqual([]);
    expect(codes(condition('payload.pair[2] == 1', versions))).toEqual(['error unknown_field']);
    expect(codes(condition("payload.items.sku == 'a'", versions))).toEqual(['error unknown_field']);
    expect(codes(condition("payload.items[0].colour == 'red'", versions))).toEqual([
      'error unknown_field',
    ]);
  });
});

describe('self-referencing schemas', () => {
  // allOf/anyOf and a $ref beside other keywords take no step along the path: a $ref back to
  // the same schema made the lookup follow itself for ever (a stack overflow, a 500).
  const a = { type: 'object', properties: { a: { type: 'string' } } };
  const cases: Array<[string, unknown]> = [
    ['a $ref to the root beside keywords', { type: 'object', maxProperties: 0, $ref: '#' }],
    ['allOf of itself', { allOf: [{ $ref: '#' }, a] }],
    ['anyOf of itself', { anyOf: [{ $ref: '#' }, a] }],
    [
      'a definition that is an allOf of itself',
      { $defs: { n: { allOf: [{ $ref: '#/$defs/n' }, a] } }, $ref: '#/$defs/n' },
    ],
    [
      'a property that is an allOf of itself',
      {
        type: 'object',
        properties: { a: { allOf: [{ $ref: '#/properties/a' }, { type: 'string' }] } },
      },
    ],
  ];

  it.each(cases)('%s: paths resolve as its other parts say', (_, schema) => {
    const versions = [v('1.0.0', schema)];
    expect(condition("payload.a == 'x'", versions)).toEqual([]);
    expect(condition('payload.a.length > 1', versions).map((f) => f.code)).not.toContain(
      'type_mismatch',
    );
  });

  it('types a path through the self-reference from the parts that know it', () => {
    const versions = [v('1.0.0', { allOf: [{ $ref: '#' }, a] })];
    expect(codes(condition('payload.a > 1', versions))).toEqual(['error type_mismatch']);
    expect(codes(condition('payload.a.b == 1', versions))).toEqual(['error unknown_field']);
    expect(codes(condition('payload.b == 1', versions))).toEqual(['error unknown_field']);
    const property = cases[4]?.[1];
    expect(codes(condition('payload.a > 1', [v('1.0.0', property)]))).toEqual([
      'error type_mismatch',
    ]);
  });

  it('follows a linked list through its recursion', () => {
    const list = {
      definitions: {
        n: { properties: { value: { type: 'number' }, next: { $ref: '#/definitions/n' } } },
      },
      $ref: '#/definitions/n',
    };
    const versions = [v('1.0.0', list)];
    expect(condition('payload.next.next.next.value > 1', versions)).toEqual([]);
    expect(codes(condition("payload.next.next.value == 'x'", versions))).toEqual([
      'error type_mismatch',
    ]);
    expect(codes(condition('payload.next.nope == 1', versions))).toEqual(['error unknown_field']);
  });

  it('answers for a subschema shared by many references without following each one', () => {
    // 40 levels of "anyOf the next level twice": 2^40 walks without remembering what a
    // node gave at a step.
    const definitions: Record<string, unknown> = { a40: a };
    for (let i = 0; i < 40; i++) {
      const next = { $ref: `#/definitions/a${i + 1}` };
      definitions[`a${i}`] = { anyOf: [next, { allOf: [next] }] };
    }
    const versions = [v('1.0.0', { definitions, $ref: '#/definitions/a0' })];
    expect(codes(condition("payload.a == 'x' && payload.b == 1", versions))).toEqual([
      'error unknown_field',
    ]);
  });
});

describe('types', () => {
  it.each([
    ["payload.orderTotal > 'abc'", 'payload.orderTotal'],
    ['payload.orderTotal == true', 'payload.orderTotal'],
    ["startsWith(payload.orderTotal, 'a')", 'payload.orderTotal'],
    ["payload.orderTotal.endsWith('0')", 'payload.orderTotal'],
    ['payload.status && true', 'payload.status'],
    ['!payload.orderTotal', 'payload.orderTotal'],
    ['payload.status in [1, 2]', 'payload.status'],
    ["'x' in payload.orderId", 'payload.orderId'],
    ['size(payload.orderTotal) > 1', 'payload.orderTotal'],
    ['payload.orderTotal < payload.orderId', 'payload.orderTotal'],
  ])('refuses %s', (text, path) => {
    expect(condition(text)).toEqual([
      expect.objectContaining({
        field: 'eventCondition',
        code: 'type_mismatch',
        severity: 'error',
        path,
      }),
    ]);
  });

  it('explains the mismatch', () => {
    expect(condition("payload.orderTotal > 'abc'")[0]?.message).toBe(
      '> compares payload.orderTotal (number) with "abc" (string): it can never be true',
    );
  });

  it.each([
    'payload.orderTotal > 10 && payload.orderTotal <= 99.5',
    "payload.orderId < 'b'",
    'payload.coupon == null || payload.coupon == "SUMMER"',
    "payload.status in ['new', 'paid']",
    "size(payload.orderId) > 3 && contains(payload.orderId, '-')",
    "matches(payload.orderId, '^o-')",
  ])('accepts %s', (text) => {
    expect(condition(text).filter((f) => f.severity === 'error')).toEqual([]);
  });
});

describe('correlation keys', () => {
  const key = (text: string) => checkConsumer({ keys: [{ field: 'correlationKey', text }] }, [V1]);
  it('accepts strings and numbers, refuses other types and unknown paths', () => {
    expect(key('$.payload.orderId')).toEqual([]);
    expect(key('data.orderTotal')).toEqual([]);
    expect(key('metadata.correlationId')).toEqual([]);
    expect(codes(key('payload'))).toEqual(['error type_mismatch']);
    expect(codes(key('payload.orderNo'))).toEqual(['error unknown_field']);
  });
});

describe("the mapped input against the workflow's inputSchema", () => {
  const input = (mapping: Record<string, unknown> | undefined, inputSchema: unknown) =>
    checkConsumer({ input: { mapping, inputSchema } } as ConsumerSpec, [V1, V2]);
  const wants = {
    type: 'object',
    required: ['orderId', 'total'],
    properties: {
      orderId: { type: 'string' },
      total: { type: 'number' },
      note: { type: 'string' },
    },
  };

  it('accepts a mapping that produces every required field with a fitting type', () => {
    expect(
      input({ orderId: '$.payload.orderId', total: 'data.orderTotal', note: 'hello' }, wants),
    ).toEqual([]);
  });

  it('refuses a required field nothing produces', () => {
    expect(input({ orderId: '$.payload.orderId' }, wants)).toEqual([
      expect.objectContaining({
        field: 'inputMapping.total',
        code: 'input_mismatch',
        severity: 'error',
      }),
    ]);
    expect(
      input(undefined, wants)
        .map((f) => f.field)
        .sort(),
    ).toEqual(['inputMapping.orderId', 'inputMapping.total']);
  });

  it('refuses a type that cannot satisfy the schema, and fields a closed schema forbids', () => {
    expect(input({ orderId: 'data.orderTotal', total: 'data.orderTotal' }, wants)).toEqual([
      expect.objectContaining({
        field: 'inputMapping.orderId',
        code: 'input_mismatch',
        message: "orderId is number; the workflow's inputSchema wants string",
      }),
    ]);
    expect(
      codes(
        input(
          { orderId: 'data.orderId', total: 5, extra: 1 },
          { ...wants, additionalProperties: false },
        ),
      ),
    ).toEqual(['error input_mismatch']);
    expect(codes(input({ orderId: 'data.orderId', total: '$.payload.orderId' }, wants))).toEqual([
      'error input_mismatch',
    ]);
  });

  it('warns when a required input comes from a field that may be absent', () => {
    expect(
      input(
        { orderId: 'data.orderId', total: 'data.orderTotal', note: 'data.status' },
        { ...wants, required: ['orderId', 'note'] },
      ),
    ).toEqual([
      expect.objectContaining({
        field: 'inputMapping.note',
        code: 'input_may_be_missing',
        severity: 'warning',
      }),
    ]);
  });

  it('checks the default input when there is no mapping', () => {
    expect(input(undefined, { type: 'object', required: ['eventId', 'eventPayload'] })).toEqual([]);
    expect(input(undefined, undefined)).toEqual([]);
  });
});
