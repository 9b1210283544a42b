import { trace } from '@opentelemetry/api';
import type { Database } from '../db/database.ts';
import type { ErrorDetail } from '../errors.ts';
import type { EventInstance } from '../events/event.ts';
import { SpanAttributes, traceparentOf } from '../observability/tracing.ts';
import { nextAttemptDelay } from '../routing/retry.ts';
import type { RoutingIndex } from '../routing/routing-index.ts';
import type {
  ClaimedWork,
  Lanes,
  OutcomeCounts,
  WorkHandler,
  WorkResult,
} from '../routing/work.ts';
import type { Waits } from '../waits/service.ts';
import {
  type StartRequest,
  WORKFLOW_TRIGGER_RETRY_POLICY,
  type WorkflowBatchExecutor,
  WorkflowExecutorError,
} from '../workflows/port.ts';
import type { TriggerTargets } from './targets.ts';
import { type CompiledTrigger, type FiringPlan, planFiring } from './trigger.ts';

export const FIRING_ACTIONS = [
  'pending',
  'started',
  'cancelled',
  'skipped',
  'failed',
  'dead',
  'would_start',
  'would_cancel',
] as const;
export type FiringAction = (typeof FIRING_ACTIONS)[number];

/** What a trigger did (or, in a dry run, would do) with one event. */
export interface FiringRecord extends FiringPlan {
  triggerId: string;
  triggerType: string;
  workflowDefinitionId: string;
  action: FiringAction;
  workflowInstanceIds: string[];
  reason?: string;
  error?: string;
  /** Field-level reasons, e.g. the input that failed the workflow input schema. */
  errorDetails?: ErrorDetail[];
  /** The waits a START with `waitFor` registered for the instance it started. */
  waitIds?: string[];
  /** `lookback_truncated` of those waits whose lookback was narrowed (`waitFor[i].lookback`). */
  warnings?: ErrorDetail[];
}

/**
 * A firing's outcome as its work row records it: a whole record once the trigger was
 * evaluated; only an action and a reason when it was not (gone, waiting), only an error when
 * the attempt failed before the handler recorded anything.
 */
export type FiringOutcome = Partial<FiringRecord>;

function baseRecord(compiled: CompiledTrigger, plan: FiringPlan): FiringRecord {
  const { trigger } = compiled;
  return {
    triggerId: trigger.id,
    triggerType: trigger.triggerType,
    workflowDefinitionId: trigger.workflowDefinitionId,
    ...plan,
    action: 'skipped',
    workflowInstanceIds: [],
  };
}

/**
 * The side-effect-free part of a firing: what the trigger does with the event. `skipped` and
 * its reason when nothing should happen, `failed` when its input is over the bound (a dry run
 * and a real firing fail alike); otherwise the action it would take.
 */
export function dryRun(compiled: CompiledTrigger, event: EventInstance): FiringRecord {
  const plan = planFiring(compiled, event);
  const record = baseRecord(compiled, plan);
  if (plan.conditionResult === null)
    return { ...record, reason: `condition could not be evaluated: ${plan.conditionError}` };
  if (!plan.conditionResult) return { ...record, reason: 'condition is false' };
  if (plan.inputError) {
    return {
      ...record,
      action: 'failed',
      error: `${plan.inputError.code}: ${plan.inputError.message}`,
      errorDetails: [plan.inputError],
    };
  }
  if (compiled.trigger.triggerType === 'CANCEL' && plan.correlationKey === null) {
    return { ...record, reason: 'no correlation key resolved; nothing to cancel' };
  }
  return {
    ...record,
    action: compiled.trigger.triggerType === 'START' ? 'would_start' : 'would_cancel',
  };
}

/** What a row waiting behind an earlier, unfinished firing of its event records meanwhile. */
const WAITING: FiringResult = {
  kind: 'deferred',
  outcome: { action: 'pending', reason: 'waits for an earlier trigger of the event' },
  delayMs: 0,
};

type FiringResult = WorkResult<FiringOutcome>;

/**
 * Fires triggers: START a workflow, or CANCEL the running ones sharing the correlation key.
 * A round's rows are fired in waves — the first trigger of every event, then the second, and
 * so on — so an event's triggers fire in order while the starts of a wave share one insert.
 * A wave takes more than one trigger of an event when they are starts that may share a batch
 * ({@link WorkflowBatchExecutor.startsTogether}: builtin ones, whose starts are one insert
 * that succeeds or fails whole) without `waitFor` (whose registration may fail on its own): a
 * round of events with five such triggers each is one insert, not five.
 * A firing that will be retried holds back the later triggers of its event (given back
 * unattempted), so they still fire after it.
 */
export class TriggerFiringHandler implements WorkHandler<FiringOutcome> {
  readonly kind = 'trigger' as const;

  constructor(
    private readonly db: Database,
    private readonly index: RoutingIndex,
    private readonly targets: TriggerTargets,
    private readonly workflows: WorkflowBatchExecutor,
    /** Registers the waits a START trigger declares for the instance it started. */
    private readonly waits: Pick<Waits, 'registerOnStart'>,
    /** Told each recorded start or cancel, by trigger type (metrics). */
    private readonly fired: (triggerType: string) => void = () => {},
  ) {}

  prepare(): Promise<void> {
    return this.index.refresh(this.db);
  }

  async handle(works: ClaimedWork[], lanes: Lanes): Promise<FiringResult[]> {
    const results = new Map<string, FiringResult>();
    let active = chainsByEvent(works);
    while (active.length > 0) {
      const runs = active.map((chain) => this.firedTogether(chain));
      const fired = await this.fireWave(runs.flat(), lanes);
      const next: Chain[] = [];
      for (const [i, chain] of active.entries()) {
        const count = runs[i]?.length ?? 1;
        // After a firing to retry, the rest of its event waits: also the rest of its run,
        // whose starts the failed insert did not make (or, should one have, a repeat under
        // its idempotency key finds it).
        let waiting = false;
        for (const work of chain.slice(0, count)) {
          const result: FiringResult = waiting ? WAITING : (fired.get(work.id) ?? WAITING);
          results.set(work.id, result);
          waiting ||= result.kind === 'retry' || result.kind === 'deferred';
        }
        const rest = chain.slice(count);
        if (waiting) for (const held of rest) results.set(held.id, WAITING);
        else if (isChain(rest)) next.push(rest);
      }
      active = next;
    }
    return works.map((w) => results.get(w.id) ?? WAITING);
  }

  /**
   * The firings of an event fired in this wave: its first, and the ones after it while they
   * and it are starts that may share a batch (see the class).
   */
  private firedTogether([first, ...rest]: Chain): ClaimedWork[] {
    const run = [first];
    if (this.startsTogether(first))
      for (const work of rest) {
        if (!this.startsTogether(work)) break;
        run.push(work);
      }
    return run;
  }

  private startsTogether(work: ClaimedWork): boolean {
    const trigger = this.targets.get(work.targetId)?.trigger;
    return (
      trigger !== undefined &&
      trigger.triggerType === 'START' &&
      trigger.waitFor.length === 0 &&
      this.workflows.startsTogether(trigger.workflowDefinitionId)
    );
  }

  /** One trigger of each of several events: skips decided, starts in one batch, cancels each. */
  private async fireWave(wave: ClaimedWork[], lanes: Lanes): Promise<Map<string, FiringResult>> {
    const results = new Map<string, FiringResult>();
    const starts: Array<{ compiled: CompiledTrigger; planned: FiringRecord; work: ClaimedWork }> =
      [];
    const cancels: Array<Promise<void>> = [];
    for (const work of wave) {
      const compiled = this.targets.get(work.targetId);
      if (!compiled) {
        results.set(work.id, { kind: 'skipped', outcome: { ...GONE, triggerId: work.targetId } });
        continue;
      }
      if (work.trace)
        trace
          .getSpan(work.trace)
          ?.setAttribute(
            SpanAttributes.WORKFLOW_DEFINITION_ID,
            compiled.trigger.workflowDefinitionId,
          );
      const planned = dryRun(compiled, work.event);
      const { correlationKey } = planned;
      if (planned.action === 'would_start') starts.push({ compiled, planned, work });
      else if (planned.action === 'would_cancel' && correlationKey !== null)
        cancels.push(
          lanes(() => this.cancel(compiled, planned, correlationKey, work)).then(
            (record) => void results.set(work.id, { kind: 'done', outcome: { ...record } }),
            (error: unknown) => void results.set(work.id, failed(planned, error, work)),
          ),
        );
      // Skipped, or failed for good (an input over its bound): recorded, never retried.
      else
        results.set(work.id, {
          kind: planned.action === 'failed' ? 'done' : 'skipped',
          outcome: { ...planned },
        });
    }
    const started = this.workflows.startWorkflows(
      starts.map((s) => startRequest(s.planned, s.work)),
      lanes,
    );
    await Promise.all(cancels);
    const registrations: Array<Promise<void>> = [];
    for (const [j, result] of (await started).entries()) {
      const start = starts[j];
      if (!start) continue;
      const { compiled, planned, work } = start;
      if (result instanceof WorkflowExecutorError)
        results.set(work.id, failed(planned, result, work));
      // Nothing to register, so no call to make: not a lane's turn, nor a promise, per start.
      else if (compiled.trigger.waitFor.length === 0)
        results.set(work.id, { kind: 'done', outcome: startedRecord(planned, result.instanceId) });
      else
        registrations.push(
          lanes(() => this.registerWaits(compiled, planned, work, result.instanceId)).then(
            (registered) => void results.set(work.id, registered),
          ),
        );
    }
    await Promise.all(registrations);
    return results;
  }

  /**
   * A started instance's firing record, once the waits its trigger declares (`waitFor`, some)
   * are registered for it, keyed by the firing's correlation key (none resolved: none registered,
   * and the record says so). A failed registration retries the firing: its start is a repeat
   * under the same idempotency key, its waits' ids derive from that key, so neither happens
   * twice.
   */
  private async registerWaits(
    compiled: CompiledTrigger,
    planned: FiringRecord,
    work: ClaimedWork,
    instanceId: string,
  ): Promise<FiringResult> {
    const record = startedRecord(planned, instanceId);
    const { waitFor, workflowDefinitionId, correlationKey: correlationKeyPath } = compiled.trigger;
    if (planned.correlationKey === null)
      return {
        kind: 'done',
        outcome: { ...record, reason: 'no correlation key resolved; waitFor registered no wait' },
      };
    try {
      const { waitIds, warnings } = await this.waits.registerOnStart(waitFor, {
        firingKey: work.idempotencyKey,
        workflowInstanceId: instanceId,
        workflowDefinitionId,
        correlationKey: planned.correlationKey,
        correlationKeyPath,
      });
      return {
        kind: 'done',
        outcome: { ...record, waitIds, ...(warnings.length > 0 ? { warnings } : {}) },
      };
    } catch (error) {
      return failed(planned, error, work);
    }
  }

  private async cancel(
    compiled: CompiledTrigger,
    planned: FiringRecord,
    correlationKey: string,
    work: ClaimedWork,
  ): Promise<FiringRecord> {
    const cancelled = await this.workflows.cancelWorkflowsByCorrelation({
      definitionId: compiled.trigger.workflowDefinitionId,
      correlationKey,
      eventId: work.event.eventId,
      idempotencyKey: work.idempotencyKey,
      ...traceOf(work),
    });
    return { ...planned, action: 'cancelled', workflowInstanceIds: cancelled.cancelledInstanceIds };
  }

  deadOutcome(lastOutcome: FiringOutcome, error: string): FiringOutcome {
    return { ...lastOutcome, action: 'dead', error };
  }

  recorded(result: FiringResult): void {
    const { triggerType } = result.outcome;
    if (result.kind === 'done' && this.counts(result.outcome).fired && triggerType)
      this.fired(triggerType);
  }

  counts({ action }: FiringOutcome): OutcomeCounts {
    return { failed: action === 'failed', fired: action === 'started' || action === 'cancelled' };
  }
}

const GONE: FiringOutcome = {
  action: 'skipped',
  reason: 'the trigger was disabled or deleted',
  workflowInstanceIds: [],
};

/** The record of a firing that started `instanceId`. */
const startedRecord = (planned: FiringRecord, instanceId: string): FiringRecord => ({
  ...planned,
  action: 'started',
  workflowInstanceIds: [instanceId],
});

/** One event's claimed trigger rows, in firing order. */
type Chain = [ClaimedWork, ...ClaimedWork[]];

const isChain = (works: ClaimedWork[]): works is Chain => works.length > 0;

/** The claimed rows grouped by event, each group in firing order. */
function chainsByEvent(works: ClaimedWork[]): Chain[] {
  const chains = new Map<string, Chain>();
  for (const work of works) {
    const chain = chains.get(work.eventId);
    if (chain) chain.push(work);
    else chains.set(work.eventId, [work]);
  }
  return [...chains.values()].map((chain) => {
    chain.sort((a, b) => a.sequence - b.sequence);
    return chain;
  });
}

function startRequest(planned: FiringRecord, work: ClaimedWork): StartRequest {
  return {
    definitionId: planned.workflowDefinitionId,
    input: planned.mappedInput ?? {},
    triggerId: planned.triggerId,
    triggerEventId: work.event.eventId,
    ...(planned.correlationKey === null ? {} : { correlationKey: planned.correlationKey }),
    idempotencyKey: work.idempotencyKey,
    ...traceOf(work),
  };
}

/** The firing span's traceparent, for the workflow executor (which continues the trace). */
function traceOf(work: ClaimedWork): { traceparent?: string } {
  const traceparent = work.trace && traceparentOf(work.trace);
  return traceparent ? { traceparent } : {};
}

/** A failed start or cancel: retried when the error says so, recorded as failed otherwise. */
function failed(planned: FiringRecord, error: unknown, work: ClaimedWork): FiringResult {
  // The service rejects with WorkflowExecutorError only; anything else is a bug worth a retry.
  const failure = error instanceof WorkflowExecutorError ? error : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const outcome = {
    ...planned,
    action: 'failed' as const,
    error: message,
    ...(failure?.details.length ? { errorDetails: failure.details } : {}),
  };
  if (failure?.retryable === false) return { kind: 'done', outcome };
  return {
    kind: 'retry',
    outcome,
    error: message,
    delayMs: nextAttemptDelay(
      WORKFLOW_TRIGGER_RETRY_POLICY,
      work.attempts,
      Math.random,
      failure?.retryAfterMs,
    ),
  };
}
