import type { Logger } from 'pino';
import type { Queryable } from '../db/database.ts';
import type { TargetSource } from '../routing/routing-index.ts';
import type { RoutingTarget } from '../routing/work.ts';
import { WORKFLOW_TRIGGER_RETRY_POLICY } from '../workflows/port.ts';
import { enabledTriggers } from './repository.ts';
import { type CompiledTrigger, compileTrigger } from './trigger.ts';

/**
 * The enabled triggers as routing targets, each compiled once per load (never per event).
 * Disabled triggers are not loaded, so they never match.
 */
export class TriggerTargets implements TargetSource {
  readonly kind = 'trigger' as const;
  private compiled = new Map<string, CompiledTrigger>();

  constructor(
    private readonly logger: Logger,
    /** Bound of each mapped input, see {@link compileTrigger}. */
    private readonly mappedInputMaxBytes: number,
  ) {}

  async load(db: Queryable): Promise<RoutingTarget[]> {
    const compiled = new Map<string, CompiledTrigger>();
    for (const trigger of await enabledTriggers(db)) {
      try {
        compiled.set(trigger.id, compileTrigger(trigger, this.mappedInputMaxBytes));
      } catch (error) {
        this.logger.error(
          { err: error, triggerId: trigger.id },
          'stored trigger does not compile; it is not routed',
        );
      }
    }
    this.compiled = compiled;
    return [...compiled.values()].map(({ trigger }) => ({
      kind: 'trigger',
      id: trigger.id,
      pattern: trigger.eventPattern,
      maxAttempts: WORKFLOW_TRIGGER_RETRY_POLICY.maxAttempts,
      // Lower priority first, none last; then the older trigger.
      order: [trigger.priority ?? Number.MAX_SAFE_INTEGER, Date.parse(trigger.createdAt)],
    }));
  }

  /** The compiled enabled trigger, or undefined when it was disabled or deleted. */
  get(id: string): CompiledTrigger | undefined {
    return this.compiled.get(id);
  }
}
