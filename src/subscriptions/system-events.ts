import { AppError } from '../errors.ts';
import type { EventReceiver } from '../ingest/receiver.ts';
import type { Registry } from '../registry/service.ts';
import type { StoredSubscription } from './subscription.ts';

/** Events the service publishes about itself, through its own receiver. */
export const SUBSCRIPTION_DISABLED = {
  event_id: 'EventProcessingService.subscription.disabled',
  name: 'Subscription disabled',
  description:
    'The service disabled a subscription (its endpoint answered 410, or it failed for too long).',
  pattern: 'subscription.disabled',
  version: '1.0.0',
  source_types: ['system'],
  payload_schema: {
    type: 'object',
    required: ['subscriptionId', 'subscriberId', 'reason', 'disabledAt'],
    properties: {
      subscriptionId: { type: 'string' },
      subscriberId: { type: 'string' },
      endpoint: { type: 'string' },
      reason: { type: 'string' },
      disabledAt: { type: 'string', format: 'date-time' },
    },
  },
  examples: [],
  ui_metadata: { category: 'system', priority: 'high' as const },
  status: 'active' as const,
};

/** Registers the definition when missing (idempotent across instances), on first use. */
async function ensureDefinition(registry: Registry): Promise<void> {
  try {
    await registry.get(SUBSCRIPTION_DISABLED.pattern);
  } catch (error) {
    if (!(error instanceof AppError) || error.status !== 404) throw error;
    await registry.create(SUBSCRIPTION_DISABLED).catch((raced: unknown) => {
      if (!(raced instanceof AppError) || raced.status !== 409) throw raced;
    });
  }
}

/** Publishes `subscription.disabled` through the service's own receiver (so it routes like any event). */
export async function announceDisabled(
  registry: Registry,
  receiver: EventReceiver,
  subscription: StoredSubscription,
  reason: string,
  now: Date,
): Promise<void> {
  await ensureDefinition(registry);
  await receiver.receive(
    {
      pattern: SUBSCRIPTION_DISABLED.pattern,
      source: { type: 'system', id: 'event-processing-service', name: 'Event Processing Service' },
      payload: {
        subscriptionId: subscription.id,
        subscriberId: subscription.subscriberId,
        endpoint: subscription.endpoint,
        reason,
        disabledAt: now.toISOString(),
      },
    },
    undefined,
  );
}
