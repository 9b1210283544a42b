import type { Database } from '../db/database.ts';
import { AppError, type ErrorDetail } from '../errors.ts';
import type { EventInput } from '../events/event.ts';
import type { WriteOutcome } from '../ingest/writer.ts';
import { traceparentOf } from '../observability/tracing.ts';
import { nextAttemptDelay } from '../routing/retry.ts';
import type { RoutingIndex } from '../routing/routing-index.ts';
import type {
  ClaimedWork,
  Lanes,
  OutcomeCounts,
  WorkHandler,
  WorkResult,
} from '../routing/work.ts';
import { type CompiledProcessor, PROCESSOR_RETRY_POLICY, planDerivation } from './processor.ts';
import type { ProcessorTargets } from './targets.ts';

export const DERIVATION_ACTIONS = [
  'pending',
  'derived',
  'skipped',
  'failed',
  'dead',
  'would_derive',
] as const;
export type DerivationAction = (typeof DERIVATION_ACTIONS)[number];

/** What a processor did (or, in a dry run, would do) with one event: its firing's record. */
export interface DerivationRecord {
  processorId: string;
  action: DerivationAction;
  /** The derived event (also when it existed already: a retry after a crash). */
  derivedEventId?: string;
  /** Derivations since the published event (1 for an event derived from a published one). */
  depth?: number;
  /** The condition's result (null when it could not be evaluated); absent without a condition. */
  conditionResult?: boolean | null;
  /** The derived event was stored by an earlier attempt; this one stored nothing. */
  duplicate?: boolean;
  reason?: string;
  error?: string;
  /** Field-level reasons, e.g. where the derived payload fails its definition's schema. */
  errorDetails?: ErrorDetail[];
}

/** Where derived events go: the receiver, as every published event (ingest/receiver.ts). */
export interface DerivedEventSink {
  /** `receivedIn`: the traceparent its routing spans hang below (the derivation's span). */
  receive(input: EventInput, receivedIn: string | undefined): Promise<{ outcome: WriteOutcome }>;
}

type DerivationResult = WorkResult<DerivationRecord>;

/**
 * Derives events: each claimed (processor, event) pair publishes its one derived event through
 * the receiver — validated against its definition exactly like a published event, and routed
 * onwards in the commit that stores it. The derived eventId comes from the work key, so an
 * attempt repeated after a crash finds its event stored (`duplicate`) instead of adding one.
 */
export class ProcessorHandler implements WorkHandler<DerivationRecord> {
  readonly kind = 'processor' as const;

  constructor(
    private readonly db: Database,
    private readonly index: RoutingIndex,
    private readonly targets: ProcessorTargets,
    private readonly sink: DerivedEventSink,
    /** PROCESSOR_MAX_DEPTH. */
    private readonly maxDepth: number,
    /** Told each derivation recorded as derived (stored anew) or failed (metrics). */
    private readonly fired: (outcome: 'derived' | 'failed') => void = () => {},
  ) {}

  prepare(): Promise<void> {
    return this.index.refresh(this.db);
  }

  handle(works: ClaimedWork[], lanes: Lanes): Promise<DerivationResult[]> {
    return Promise.all(works.map((work) => lanes(() => this.derive(work))));
  }

  private async derive(work: ClaimedWork): Promise<DerivationResult> {
    const compiled = this.targets.get(work.targetId);
    if (!compiled) return { kind: 'skipped', outcome: { ...GONE, processorId: work.targetId } };
    const plan = dryRun(compiled, work.event, work.idempotencyKey, this.maxDepth);
    if (plan.action !== 'would_derive' || !plan.event)
      return { kind: plan.action === 'failed' ? 'done' : 'filtered', outcome: plan.record };
    try {
      const { outcome } = await this.sink.receive(
        plan.event,
        work.trace && traceparentOf(work.trace),
      );
      return {
        kind: 'done',
        outcome: {
          ...plan.record,
          action: 'derived',
          ...(outcome.status === 'duplicate' ? { duplicate: true } : {}),
        },
      };
    } catch (error) {
      return failed(plan.record, error, work);
    }
  }

  deadOutcome(lastOutcome: DerivationRecord, error: string): DerivationRecord {
    return { ...lastOutcome, action: 'dead', error };
  }

  recorded(result: DerivationResult): void {
    const { action, duplicate } = result.outcome;
    if (action === 'derived' && !duplicate) this.fired('derived');
    else if (action === 'failed') this.fired('failed');
  }

  counts({ action }: DerivationRecord): OutcomeCounts {
    return { failed: action === 'failed', fired: action === 'derived' };
  }
}

/**
 * The side-effect-free part of a derivation (real ones and `POST …/test`): what the processor
 * does with `event` as the work keyed `workKey`, and the event it would publish.
 */
export function dryRun(
  compiled: CompiledProcessor,
  event: ClaimedWork['event'],
  workKey: string,
  maxDepth: number,
): { action: DerivationAction; record: DerivationRecord; event?: EventInput } {
  const processorId = compiled.processor.id;
  const derivation = planDerivation(compiled, event, workKey, maxDepth);
  const condition =
    derivation.conditionResult === undefined ? {} : { conditionResult: derivation.conditionResult };
  switch (derivation.action) {
    case 'skipped':
      return {
        action: 'skipped',
        record: { processorId, action: 'skipped', ...condition, reason: derivation.reason },
      };
    case 'failed': {
      const { code, message } = derivation.error;
      const error = `${code}: ${message}`;
      const record = {
        processorId,
        action: 'failed' as const,
        ...condition,
        error,
        errorDetails: [derivation.error],
      };
      return { action: 'failed', record };
    }
    case 'derive':
      return {
        action: 'would_derive',
        event: derivation.event,
        record: {
          processorId,
          action: 'would_derive',
          ...condition,
          derivedEventId: derivation.event.eventId,
          depth: derivation.depth,
        },
      };
  }
}

const GONE: DerivationRecord = {
  processorId: '',
  action: 'skipped',
  reason: 'the event processor was disabled or deleted',
};

/**
 * The derived event was refused (its payload fails its schema, its definition is gone) or could
 * not be stored (overloaded, database down): retried with the trigger policy, dead-lettered
 * after its attempts — a refused output may be fixed meanwhile (the processor, the schema).
 */
function failed(record: DerivationRecord, error: unknown, work: ClaimedWork): DerivationResult {
  const message = error instanceof Error ? error.message : String(error);
  const details = error instanceof AppError ? error.details : [];
  const outcome: DerivationRecord = {
    ...record,
    action: 'failed',
    error: message,
    ...(details.length > 0 ? { errorDetails: details } : {}),
  };
  return {
    kind: 'retry',
    outcome,
    error: message,
    delayMs: nextAttemptDelay(PROCESSOR_RETRY_POLICY, work.attempts),
  };
}
