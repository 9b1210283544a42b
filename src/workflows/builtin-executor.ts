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
import { cancelByCorrelation, insertInstanceOnce } from './repository.ts';

/**
 * The `builtin` executor: workflow_instances is the system of record. A start is one insert
 * keyed by the idempotency key, a cancellation one update keyed by the cancelling event, so a
 * repeated call finds the first one's effect instead of repeating it.
 */
export class BuiltinExecutor implements WorkflowExecutor {
  constructor(private readonly deps: { db: Database; clock: Clock }) {}

  async startWorkflow(req: StartRequest): Promise<StartResult> {
    const { id, definitionId, created } = await insertInstanceOnce(
      this.deps.db,
      req,
      this.deps.clock.now(),
    );
    if (definitionId !== req.definitionId) {
      throw new WorkflowExecutorError(
        `idempotency key ${req.idempotencyKey} already started an instance of workflow definition ${definitionId}`,
        { code: 'idempotency_conflict', retryable: false },
      );
    }
    return { instanceId: id, created };
  }

  async cancelWorkflowsByCorrelation(req: CancelRequest): Promise<CancelResult> {
    const cancelledInstanceIds = await this.deps.db.transaction((tx) =>
      cancelByCorrelation(tx, req, this.deps.clock.now()),
    );
    return { cancelledInstanceIds };
  }
}
