import { createEpsClient, type EpsClient } from '../../client/index.ts';

/** What {@link seedConsoleData} created, for tests to find on the pages. */
export interface SeededData {
  workflowId: string;
  triggerId: string;
  subscriptionId: string;
  /** The first event of a correlated chain: an order placed, then paid, then shipped. */
  rootEventId: string;
  correlationId: string;
}

async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (error !== undefined || data === undefined) {
    throw new Error(`${response.url}: ${response.status} ${JSON.stringify(error)}`);
  }
  return data;
}

const orderSchema = (extra: Record<string, unknown> = {}, total: object = { minimum: 0 }) => ({
  type: 'object',
  required: ['orderId', 'total'],
  properties: {
    orderId: { type: 'string', description: 'The shop order number' },
    total: { type: 'number', ...total },
    currency: { type: 'string', enum: ['EUR', 'USD'] },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        properties: { sku: { type: 'string' }, quantity: { type: 'integer' } },
      },
    },
    ...extra,
  },
});

/**
 * A small but complete world through the typed client, as a user would build it: event
 * definitions in two categories (one with two versions), a workflow, a trigger, a webhook
 * subscription to `webhookUrl`, and a correlated chain of events.
 */
export async function seedConsoleData(
  baseUrl: string,
  webhookUrl: string,
  apiKey?: string,
): Promise<SeededData> {
  const eps: EpsClient = createEpsClient({ baseUrl, ...(apiKey ? { apiKey } : {}) });
  const define = (body: Record<string, unknown>) =>
    ok(eps.POST('/v1/event-definitions', { body: body as never }));
  await define({
    event_id: 'Orders.placed',
    name: 'Order placed',
    description: 'A customer placed an order in the shop',
    pattern: 'orders.placed',
    version: '1.0.0',
    source_types: ['service'],
    payload_schema: orderSchema(),
    examples: [{ orderId: 'o-1', total: 42.5, currency: 'EUR' }],
    ui_metadata: { icon: 'cart', color: '#1a7f37', category: 'orders', priority: 'high' },
  });
  await define({
    event_id: 'Orders.placed',
    name: 'Order placed',
    description: 'A customer placed an order in the shop (refunds may be negative)',
    pattern: 'orders.placed',
    version: '1.1.0',
    source_types: ['service'],
    payload_schema: orderSchema({}, {}),
    examples: [{ orderId: 'o-2', total: -5, currency: 'USD' }],
    ui_metadata: { icon: 'cart', color: '#1a7f37', category: 'orders', priority: 'high' },
  });
  await define({
    event_id: 'Orders.placed',
    name: 'Order placed',
    description: 'A customer placed an order, with an optional coupon',
    pattern: 'orders.placed',
    version: '2.0.0',
    source_types: ['service'],
    payload_schema: orderSchema({ coupon: { type: 'string', description: 'Code redeemed' } }, {}),
    examples: [{ orderId: 'o-3', total: 10, currency: 'USD', coupon: 'WELCOME' }],
    ui_metadata: { icon: 'cart', color: '#1a7f37', category: 'orders', priority: 'high' },
  });
  for (const [pattern, name] of [
    ['orders.paid', 'Order paid'],
    ['orders.shipped', 'Order shipped'],
  ] as const) {
    await define({
      event_id: `Orders.${pattern.split('.')[1]}`,
      name,
      pattern,
      version: '1.0.0',
      payload_schema: {
        type: 'object',
        required: ['orderId'],
        properties: { orderId: { type: 'string' } },
      },
      examples: [{ orderId: 'o-1' }],
      ui_metadata: { icon: 'box', color: '#0b5cad', category: 'orders', priority: 'medium' },
    });
  }
  await define({
    event_id: 'Payments.failed',
    name: 'Payment failed',
    pattern: 'payments.failed',
    version: '1.0.0',
    payload_schema: { type: 'object', properties: { reason: { type: 'string' } } },
    ui_metadata: { icon: 'credit-card', color: '#b3261e', category: 'payments', priority: 'low' },
  });

  const workflow = await ok(
    eps.POST('/v1/workflow-definitions', {
      body: { name: 'fulfil-order', version: '1.0.0', description: 'Pick, pack and ship' },
    }),
  );
  const trigger = await ok(
    eps.POST('/v1/workflow-triggers', {
      body: {
        name: 'fulfil-paid-orders',
        workflowDefinitionId: workflow.id!,
        eventPattern: 'orders.paid',
        triggerType: 'START',
        correlationKey: 'payload.orderId',
        inputMapping: { orderId: 'payload.orderId' },
      },
    }),
  );
  const subscription = (await ok(
    eps.POST('/v1/subscriptions', {
      body: {
        name: 'warehouse-webhook',
        event_pattern: 'orders.*',
        subscriber: { id: 'warehouse', type: 'webhook', endpoint: webhookUrl },
        retry_policy: { max_attempts: 2, initial_delay_ms: 100, max_delay_ms: 200 },
      },
    }),
  )) as { subscription_id: string };

  const correlationId = `order-o-1-${Date.now()}`;
  const publish = async (
    pattern: string,
    payload: Record<string, unknown>,
    causationId?: string,
  ) => {
    const body = {
      pattern,
      source: { type: 'service', id: 'shop', name: 'Shop' },
      payload,
      metadata: { correlationId, ...(causationId ? { causationId } : {}), tags: { region: 'eu' } },
    };
    return (await ok(eps.POST('/v1/events', { body }))) as { eventId: string };
  };
  const placed = await publish('orders.placed', { orderId: 'o-1', total: 42.5, currency: 'EUR' });
  const paid = await publish('orders.paid', { orderId: 'o-1' }, placed.eventId);
  await publish('orders.shipped', { orderId: 'o-1' }, paid.eventId);
  return {
    workflowId: workflow.id!,
    triggerId: trigger.id!,
    subscriptionId: subscription.subscription_id,
    rootEventId: placed.eventId,
    correlationId,
  };
}
