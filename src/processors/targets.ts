import type { Logger } from 'pino';
import type { Queryable } from '../db/database.ts';
import type { TargetSource } from '../routing/routing-index.ts';
import type { RoutingTarget } from '../routing/work.ts';
import { type CompiledProcessor, compileProcessor, PROCESSOR_RETRY_POLICY } from './processor.ts';
import { enabledProcessors } from './repository.ts';

/**
 * The enabled processors as routing targets, each compiled once per load (never per event).
 * Disabled processors are not loaded, so they never match.
 */
export class ProcessorTargets implements TargetSource {
  readonly kind = 'processor' as const;
  private compiled = new Map<string, CompiledProcessor>();

  constructor(
    private readonly logger: Logger,
    /** Bound of each mapped payload (MAPPED_INPUT_MAX_BYTES, as trigger inputs). */
    private readonly payloadMaxBytes: number,
  ) {}

  async load(db: Queryable): Promise<RoutingTarget[]> {
    const compiled = new Map<string, CompiledProcessor>();
    for (const processor of await enabledProcessors(db)) {
      try {
        compiled.set(processor.id, compileProcessor(processor, this.payloadMaxBytes));
      } catch (error) {
        this.logger.error(
          { err: error, processorId: processor.id },
          'stored event processor does not compile; it is not routed',
        );
      }
    }
    this.compiled = compiled;
    return [...compiled.values()].map(({ processor }) => ({
      kind: 'processor',
      id: processor.id,
      pattern: processor.eventPattern,
      maxAttempts: PROCESSOR_RETRY_POLICY.maxAttempts,
      order: [0, Date.parse(processor.createdAt)],
    }));
  }

  /** The compiled enabled processor, or undefined when it was disabled or deleted. */
  get(id: string): CompiledProcessor | undefined {
    return this.compiled.get(id);
  }
}
