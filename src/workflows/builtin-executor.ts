import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import {
  type CancelRequest,
  type CancelResult,
  type StartRequest,
  type StartResult,
  type WorkflowExecutor,
  WorkflowExecutorError,
} from './port.ts';
import { cancelByCorrelation, insertInstanceOnce, insertInstancesOnce } from './repository.ts';

/**
 * The `builtin` executor: workflow_instances is the system of record. A start is one insert
 * keyed by the idempotency key, a cancellation one update keyed by the cancelling event, so a
 * repeated call finds the first one's effect instead of repeating it.
 */
export class BuiltinExecutor implements WorkflowExecutor {
  constructor(private readonly deps: { db: Database; clock: Clock }) {}

  async startWorkflow(req: StartRequest): Promise<StartResult> {
    const started = startedBy(
      req,
      await insertInstanceOnce(this.deps.db, req, this.deps.clock.now()),
    );
    if (started instanceof WorkflowExecutorError) throw started;
    return started;
  }

  /** Many starts in one insert; see {@link insertInstancesOnce}. */
  async startWorkflows(reqs: StartRequest[]): Promise<Array<StartResult | WorkflowExecutorError>> {
    if (reqs.length === 0) return [];
    const instances = await insertInstancesOnce(this.deps.db, reqs, this.deps.clock.now());
    return instances.map((instance, i) =>
      instance instanceof WorkflowExecutorError ? instance : startedBy(reqs[i]!, instance),
    );
  }

  async cancelWorkflowsByCorrelation(req: CancelRequest): Promise<CancelResult> {
    const cancelledInstanceIds = await this.deps.db.transaction((tx) =>
      cancelByCorrelation(tx, req, this.deps.clock.now()),
    );
    return { cancelledInstanceIds };
  }
}

/** The start's result, unless its idempotency key had started another definition's instance. */
function startedBy(
  req: StartRequest,
  instance: { id: string; definitionId: string; created: boolean },
): StartResult | WorkflowExecutorError {
  if (instance.definitionId !== req.definitionId) {
    return new WorkflowExecutorError(
      `idempotency key ${req.idempotencyKey} already started an instance of workflow definition ${instance.definitionId}`,
      { code: 'idempotency_conflict', retryable: false },
    );
  }
  return { instanceId: instance.id, created: instance.created };
}
