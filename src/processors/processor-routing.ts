import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { AppError, conflict, notFound } from '../errors.ts';
import type { EventInput, EventInstance } from '../events/event.ts';
import { isUuid } from '../ids.ts';
import { type FiringRowView, firingView } from '../routing/firing-view.ts';
import type { WorkStatus } from '../routing/work.ts';
import {
  deadWork,
  firingsOfTarget,
  type ReplayScope,
  replayWork,
  requeueDead,
  type WorkRecord,
  workKey,
  workOfEvent,
  workStatus,
} from '../routing/work-store.ts';
import { type DerivationRecord, dryRun } from './handler.ts';
import { compileProcessor, type EventProcessor, PROCESSOR_RETRY_POLICY } from './processor.ts';

/** A processor's firing as `GET /v1/event-processors/{id}/firings` shows it. */
export type ProcessorFiringView = FiringRowView<Partial<DerivationRecord>> & {
  processorId: string;
};

const processorFiringView = (w: WorkRecord<Partial<DerivationRecord>>): ProcessorFiringView => ({
  ...firingView(w),
  processorId: w.target_id,
});

/** What `POST /v1/event-processors/{id}/test` answers beside the source event. */
export interface DryRunAnswer extends DerivationRecord {
  /** The event the processor would publish, when it would publish one. */
  derivedEvent?: EventInput;
}

/**
 * The processor side of the routing engine: dry runs, firing records, replays, dead-letter
 * retries.
 */
export class ProcessorRouting {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    /** Checks a derived event as the receiver checks a published one, storing nothing. */
    private readonly validate: (input: EventInput) => Promise<unknown>,
    private readonly options: { payloadMaxBytes: number; maxDepth: number },
  ) {}

  /**
   * What the processor would do with `event`: skip it, fail (too deep, payload too large), or
   * publish the derived event shown — checked against its definition, nothing stored.
   */
  async dryRun(processor: EventProcessor, event: EventInstance): Promise<DryRunAnswer> {
    const compiled = compileProcessor(processor, this.options.payloadMaxBytes);
    const key = workKey({ kind: 'processor', id: processor.id }, event.eventId);
    const planned = dryRun(compiled, event, key, this.options.maxDepth);
    if (!planned.event) return planned.record;
    try {
      await this.validate(planned.event);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      return {
        ...planned.record,
        action: 'failed',
        error: error.message,
        errorDetails: error.details,
        derivedEvent: planned.event,
      };
    }
    return { ...planned.record, derivedEvent: planned.event };
  }

  /**
   * Routes the stored events of a time range to the processor again; a pair derived before is
   * skipped unless `force`, whose work keys (and so derived eventIds) are new.
   */
  replay(processor: EventProcessor, request: Omit<ReplayScope, 'pattern'>) {
    const target = {
      kind: 'processor' as const,
      id: processor.id,
      pattern: processor.eventPattern,
      maxAttempts: PROCESSOR_RETRY_POLICY.maxAttempts,
    };
    return replayWork(this.db, target, request, this.clock.now());
  }

  /** The processor firings of one event, in firing order (what `explain` shows happened). */
  async firingsOfEvent(eventId: string): Promise<ProcessorFiringView[]> {
    const rows = await workOfEvent<Partial<DerivationRecord>>(this.db, 'processor', eventId);
    return rows.map(processorFiringView);
  }

  /** A processor's firings, newest first (its history, dead ones to retry among them). */
  async firingsOf(
    processorId: string,
    query: { status?: WorkStatus; limit: number; offset: number },
  ): Promise<ProcessorFiringView[]> {
    const rows = await firingsOfTarget<Partial<DerivationRecord>>(
      this.db,
      'processor',
      processorId,
      query,
    );
    return rows.map(processorFiringView);
  }

  /** Dead firings of every processor, most recently dead first. */
  async deadFirings(query: { limit: number; offset: number }): Promise<ProcessorFiringView[]> {
    const rows = await deadWork<Partial<DerivationRecord>>(this.db, {
      kind: 'processor',
      ...query,
    });
    return rows.map(processorFiringView);
  }

  async retryDead(id: string): Promise<void> {
    if (!isUuid(id)) throw notFound(`processor firing ${id}`);
    if ((await requeueDead(this.db, { kind: 'processor', id }, this.clock.now())) > 0) return;
    const status = await workStatus(this.db, 'processor', id);
    if (!status) throw notFound(`processor firing ${id}`);
    throw conflict(`the firing is ${status}; only dead firings can be retried`);
  }
}
