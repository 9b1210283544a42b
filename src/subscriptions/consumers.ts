import type { Queryable } from '../db/database.ts';
import type { Consumer } from '../registry/impact.ts';
import { matchesPattern } from '../routing/pattern.ts';
import { routableSubscriptions } from './repository.ts';
import { subscriptionConsumerSpec } from './subscription.ts';

/**
 * The subscriptions of `pattern` that are not disabled and filter on the payload, with what
 * they read: the registry checks changes against them.
 */
export async function subscriptionConsumersOf(db: Queryable, pattern: string): Promise<Consumer[]> {
  const subscriptions = (await routableSubscriptions(db)).filter(
    (s) => s.filterExpression && matchesPattern(s.eventPattern, pattern),
  );
  return subscriptions.map((s) => ({
    kind: 'subscription' as const,
    id: s.id,
    eventPattern: s.eventPattern,
    spec: subscriptionConsumerSpec(s.filterExpression),
  }));
}
