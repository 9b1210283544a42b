import { checkCompatibility } from '../src/compatibility/check.ts';
import { checkConsumer, type EventSchema } from '../src/compatibility/consumers.ts';
import { median, round } from './stats.ts';

/**
 * Schema evolution checks, pure and in process:
 * - the FULL compatibility check (both directions) of two 500-property schemas, the second
 *   with a changed type, a removed property, an added one and tightened bounds;
 * - the type check of one trigger (a condition over five paths, a correlation key, a mapping
 *   of four fields against a workflow inputSchema) against 50 versions of its event.
 * Medians of per-call wall time over repeated rounds, in ms. Targets: < 5 ms and < 10 ms.
 */

const ROUNDS = 200;

function wideSchema(size: number, variant: number): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (let i = 0; i < size; i++) {
    const kind = i % 4;
    properties[`field${i}`] =
      kind === 0
        ? { type: 'string', maxLength: 100 + (variant && i === 8 ? -50 : 0) }
        : kind === 1
          ? { type: variant && i === 5 ? 'string' : 'number', minimum: 0 }
          : kind === 2
            ? { type: 'array', items: { type: 'string' } }
            : { type: 'object', properties: { id: { type: 'string' } } };
  }
  if (variant) {
    delete properties.field13;
    properties.extra = { type: 'string' };
  }
  return {
    type: 'object',
    required: Object.keys(properties).slice(0, 50),
    additionalProperties: false,
    properties,
  };
}

function timeMedian(fn: () => unknown): number {
  fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return round(median(times), 3);
}

export function benchSchemaEvolution() {
  const original = wideSchema(500, 0);
  const update = wideSchema(500, 1);
  const compatibilityMs = timeMedian(() =>
    checkCompatibility('FULL', update, [{ version: '1.0.0', schema: original }]),
  );

  const versions: EventSchema[] = Array.from({ length: 50 }, (_, v) => ({
    label: `order.placed 1.${v}.0`,
    payloadSchema: {
      type: 'object',
      required: ['orderId', 'orderTotal'],
      properties: {
        orderId: { type: 'string' },
        orderTotal: { type: 'number' },
        status: { type: 'string', enum: ['new', 'paid'] },
        customer: {
          type: 'object',
          properties: { id: { type: 'string' }, tier: { type: 'string' } },
        },
        items: {
          type: 'array',
          items: { type: 'object', properties: { sku: { type: 'string' } } },
        },
        ...Object.fromEntries(
          Array.from({ length: v }, (_, i) => [`added${i}`, { type: 'string' }]),
        ),
      },
    },
  }));
  const trigger = {
    conditions: [
      {
        field: 'eventCondition',
        text: "payload.orderTotal > 100 && payload.status == 'paid' && payload.customer.tier in ['gold', 'silver'] && payload.items[0].sku != '' && metadata.tags.region == 'eu'",
      },
    ],
    keys: [{ field: 'correlationKey', text: 'payload.orderId' }],
    input: {
      mapping: {
        orderId: 'payload.orderId',
        total: 'payload.orderTotal',
        customerId: 'payload.customer.id',
        source: 'source.type',
      },
      inputSchema: {
        type: 'object',
        required: ['orderId', 'total'],
        properties: {
          orderId: { type: 'string' },
          total: { type: 'number' },
          customerId: { type: 'string' },
          source: { type: 'string' },
        },
      },
    },
  };
  const typeCheckMs = timeMedian(() => checkConsumer(trigger, versions));
  return {
    name: 'schema-evolution',
    rounds: ROUNDS,
    compatibility500PropertiesFullMedianMs: compatibilityMs,
    compatibilityTargetMs: 5,
    triggerTypeCheck50VersionsMedianMs: typeCheckMs,
    typeCheckTargetMs: 10,
  };
}
