import type { Database } from '../db/database.ts';
import type { ErrorDetail } from '../errors.ts';
import type { EventInstance } from '../events/event.ts';
import { nextAttemptDelay } from '../routing/retry.ts';
import type { RoutingIndex } from '../routing/routing-index.ts';
import type { ClaimedWork, Lanes, WorkHandler, WorkResult } from '../routing/work.ts';
import {
  type StartRequest,
  WORKFLOW_TRIGGER_RETRY_POLICY,
  type WorkflowBatchExecutor,
  WorkflowExecutorError,
} from '../workflows/port.ts';
import type { TriggerTargets } from './targets.ts';
import { type CompiledTrigger, type FiringPlan, planFiring } from './trigger.ts';

export type FiringAction =
  | 'pending'
  | 'started'
  | 'cancelled'
  | 'skipped'
  | 'failed'
  | 'dead'
  | 'would_start'
  | 'would_cancel';

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
}

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
const WAITING: WorkResult = {
  outcome: { action: 'pending', reason: 'waits for an earlier trigger of the event' },
  defer: { delayMs: 0 },
};

/**
 * Fires triggers: START a workflow, or CANCEL the running ones sharing the correlation key.
 * A round's rows are fired in waves — the first trigger of every event, then the second, and
 * so on — so an event's triggers fire in order while the starts of a wave share one insert.
 * A firing that will be retried holds back the later triggers of its event (given back
 * unattempted), so they still fire after it.
 */
export class TriggerFiringHandler implements WorkHandler {
  readonly kind = 'trigger' as const;

  constructor(
    private readonly db: Database,
    private readonly index: RoutingIndex,
    private readonly targets: TriggerTargets,
    private readonly workflows: WorkflowBatchExecutor,
  ) {}

  prepare(): Promise<void> {
    return this.index.refresh(this.db);
  }

  async handle(works: ClaimedWork[], lanes: Lanes): Promise<WorkResult[]> {
    const results = new Map<string, WorkResult>();
    let active = chainsByEvent(works);
    for (let step = 0; active.length > 0; step++) {
      const wave = active.map((chain) => chain[step]!);
      const fired = await this.fireWave(wave, lanes);
      const next: ClaimedWork[][] = [];
      for (const [i, chain] of active.entries()) {
        results.set(wave[i]!.id, fired[i]!);
        if (fired[i]!.retry || fired[i]!.defer) {
          for (const held of chain.slice(step + 1)) results.set(held.id, WAITING);
        } else if (chain.length > step + 1) next.push(chain);
      }
      active = next;
    }
    return works.map((w) => results.get(w.id)!);
  }

  /** One trigger of each of several events: skips decided, starts in one batch, cancels each. */
  private async fireWave(wave: ClaimedWork[], lanes: Lanes): Promise<WorkResult[]> {
    const results: WorkResult[] = [];
    const starts: Array<{ i: number; planned: FiringRecord; request: StartRequest }> = [];
    const cancels: Array<Promise<void>> = [];
    for (const [i, work] of wave.entries()) {
      const compiled = this.targets.get(work.targetId);
      if (!compiled) {
        results[i] = { outcome: { ...GONE, triggerId: work.targetId } };
        continue;
      }
      const planned = dryRun(compiled, work.event!);
      // skipped, or failed for good (an input over its bound): recorded, never retried.
      if (planned.action === 'skipped' || planned.action === 'failed')
        results[i] = { outcome: { ...planned } };
      else if (planned.action === 'would_start')
        starts.push({ i, planned, request: startRequest(compiled, planned, work) });
      else
        cancels.push(
          lanes(() => this.cancel(compiled, planned, work)).then(
            (record) => {
              results[i] = { outcome: { ...record } };
            },
            (error: unknown) => {
              results[i] = failed(planned, error, work);
            },
          ),
        );
    }
    const started = this.workflows.startWorkflows(
      starts.map((s) => s.request),
      lanes,
    );
    await Promise.all(cancels);
    for (const [j, result] of (await started).entries()) {
      const { i, planned } = starts[j]!;
      results[i] =
        result instanceof WorkflowExecutorError
          ? failed(planned, result, wave[i]!)
          : {
              outcome: { ...planned, action: 'started', workflowInstanceIds: [result.instanceId] },
            };
    }
    return results;
  }

  private async cancel(
    compiled: CompiledTrigger,
    planned: FiringRecord,
    work: ClaimedWork,
  ): Promise<FiringRecord> {
    const cancelled = await this.workflows.cancelWorkflowsByCorrelation({
      definitionId: compiled.trigger.workflowDefinitionId,
      correlationKey: planned.correlationKey!,
      eventId: work.event!.eventId,
      idempotencyKey: work.idempotencyKey,
      ...(work.traceparent ? { traceparent: work.traceparent } : {}),
    });
    return { ...planned, action: 'cancelled', workflowInstanceIds: cancelled.cancelledInstanceIds };
  }

  deadOutcome(
    _work: ClaimedWork,
    lastOutcome: Record<string, unknown>,
    error: string,
  ): Record<string, unknown> {
    return { ...lastOutcome, action: 'dead', error };
  }
}

const GONE = {
  action: 'skipped',
  reason: 'the trigger was disabled or deleted',
  workflowInstanceIds: [],
};

/** The claimed rows grouped by event, each group in firing order. */
function chainsByEvent(works: ClaimedWork[]): ClaimedWork[][] {
  const chains = new Map<string, ClaimedWork[]>();
  for (const work of works) {
    const chain = chains.get(work.eventId);
    if (chain) chain.push(work);
    else chains.set(work.eventId, [work]);
  }
  return [...chains.values()].map((chain) => chain.sort((a, b) => a.sequence - b.sequence));
}

function startRequest(
  compiled: CompiledTrigger,
  planned: FiringRecord,
  work: ClaimedWork,
): StartRequest {
  const { trigger } = compiled;
  return {
    definitionId: trigger.workflowDefinitionId,
    input: planned.mappedInput ?? {},
    triggerId: trigger.id,
    triggerEventId: work.event!.eventId,
    ...(planned.correlationKey === null ? {} : { correlationKey: planned.correlationKey }),
    idempotencyKey: work.idempotencyKey,
    ...(work.traceparent ? { traceparent: work.traceparent } : {}),
  };
}

/** A failed start or cancel: retried when the error says so, recorded as failed otherwise. */
function failed(planned: FiringRecord, error: unknown, work: ClaimedWork): WorkResult {
  // The service rejects with WorkflowExecutorError only; anything else is a bug worth a retry.
  const failure = error instanceof WorkflowExecutorError ? error : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const outcome = {
    ...planned,
    action: 'failed' as const,
    error: message,
    ...(failure?.details.length ? { errorDetails: failure.details } : {}),
  };
  if (failure?.retryable === false) return { outcome };
  return {
    outcome,
    retry: {
      error: message,
      delayMs: nextAttemptDelay(
        WORKFLOW_TRIGGER_RETRY_POLICY,
        work.attempts,
        Math.random,
        failure?.retryAfterMs,
      ),
    },
  };
}
