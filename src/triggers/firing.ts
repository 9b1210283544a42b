import type { Database } from '../db/database.ts';
import type { ErrorDetail } from '../errors.ts';
import type { EventInstance } from '../ingest/event.ts';
import { nextAttemptDelay } from '../routing/retry.ts';
import type { RoutingIndex } from '../routing/routing-index.ts';
import type { ClaimedWork, WorkHandler, WorkResult } from '../routing/work.ts';
import {
  WORKFLOW_TRIGGER_RETRY_POLICY,
  type WorkflowExecutor,
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
 * its reason when nothing should happen; otherwise the action it would take.
 */
export function dryRun(compiled: CompiledTrigger, event: EventInstance): FiringRecord {
  const plan = planFiring(compiled, event);
  const record = baseRecord(compiled, plan);
  if (plan.conditionResult === null)
    return { ...record, reason: `condition could not be evaluated: ${plan.conditionError}` };
  if (!plan.conditionResult) return { ...record, reason: 'condition is false' };
  if (compiled.trigger.triggerType === 'CANCEL' && plan.correlationKey === null) {
    return { ...record, reason: 'no correlation key resolved; nothing to cancel' };
  }
  return {
    ...record,
    action: compiled.trigger.triggerType === 'START' ? 'would_start' : 'would_cancel',
  };
}

/** Fires triggers: START a workflow, or CANCEL the running ones sharing the correlation key. */
export class TriggerFiringHandler implements WorkHandler {
  readonly kind = 'trigger' as const;

  constructor(
    private readonly db: Database,
    private readonly index: RoutingIndex,
    private readonly targets: TriggerTargets,
    private readonly workflows: WorkflowExecutor,
  ) {}

  prepare(): Promise<void> {
    return this.index.refresh(this.db);
  }

  async handle(work: ClaimedWork): Promise<WorkResult> {
    const compiled = this.targets.get(work.targetId);
    if (!compiled) {
      return {
        outcome: {
          triggerId: work.targetId,
          action: 'skipped',
          reason: 'the trigger was disabled or deleted',
          workflowInstanceIds: [],
        },
      };
    }
    const planned = dryRun(compiled, work.event!);
    if (planned.action === 'skipped') return { outcome: { ...planned } };
    try {
      return { outcome: { ...(await this.execute(compiled, planned, work)) } };
    } catch (error) {
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
  }

  private async execute(
    compiled: CompiledTrigger,
    planned: FiringRecord,
    work: ClaimedWork,
  ): Promise<FiringRecord> {
    const { trigger } = compiled;
    const event = work.event!;
    if (trigger.triggerType === 'START') {
      const started = await this.workflows.startWorkflow({
        definitionId: trigger.workflowDefinitionId,
        input: planned.mappedInput ?? {},
        triggerId: trigger.id,
        triggerEventId: event.eventId,
        ...(planned.correlationKey === null ? {} : { correlationKey: planned.correlationKey }),
        idempotencyKey: work.idempotencyKey,
        ...(work.traceparent ? { traceparent: work.traceparent } : {}),
      });
      return { ...planned, action: 'started', workflowInstanceIds: [started.instanceId] };
    }
    const cancelled = await this.workflows.cancelWorkflowsByCorrelation({
      definitionId: trigger.workflowDefinitionId,
      correlationKey: planned.correlationKey!,
      eventId: event.eventId,
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
