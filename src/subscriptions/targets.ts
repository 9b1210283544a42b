import type { Logger } from 'pino';
import type { Queryable } from '../db/database.ts';
import { type CompiledCondition, compileCondition } from '../expressions/condition.ts';
import type { TargetSource } from '../routing/routing-index.ts';
import type { RoutingTarget } from '../routing/work.ts';
import { routableSubscriptions } from './repository.ts';

/**
 * Subscriptions as routing targets (active and paused; disabled ones get no new work), with
 * their filters compiled once per load.
 */
export class SubscriptionTargets implements TargetSource {
  readonly kind = 'delivery' as const;
  private filters = new Map<string, CompiledCondition | undefined>();

  constructor(private readonly logger: Logger) {}

  async load(db: Queryable): Promise<RoutingTarget[]> {
    const filters = new Map<string, CompiledCondition | undefined>();
    const targets: RoutingTarget[] = [];
    for (const s of await routableSubscriptions(db)) {
      try {
        filters.set(s.id, s.filterExpression ? compileCondition(s.filterExpression) : undefined);
      } catch (error) {
        this.logger.error(
          { err: error, subscriptionId: s.id },
          'stored filter does not compile; not routed',
        );
        continue;
      }
      targets.push({
        kind: 'delivery',
        id: s.id,
        pattern: s.eventPattern,
        maxAttempts: s.retryPolicy.maxAttempts,
        order: [0, s.createdAt.getTime()],
      });
    }
    this.filters = filters;
    return targets;
  }

  /** The compiled filter of a routable subscription (undefined: none, or not routable). */
  filterOf(id: string): CompiledCondition | undefined {
    return this.filters.get(id);
  }
}
