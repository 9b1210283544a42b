import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { notFound } from '../errors.ts';
import { canMatchUuid, isUuid } from '../ids.ts';
import { notRunning, type WorkflowInstance } from './model.ts';
import { findInstance, finishInstance, type InstanceFilters, listInstances } from './repository.ts';

/** Reads of workflow instances, and the report-back of the engine that runs them. */
export class WorkflowInstances {
  constructor(private readonly deps: { db: Database; clock: Clock }) {}

  async list(filters: InstanceFilters) {
    if (!canMatchUuid(filters.workflowDefinitionId)) return { workflowInstances: [], total: 0 };
    return listInstances(this.deps.db, filters);
  }

  async get(id: string): Promise<WorkflowInstance> {
    const found = isUuid(id) ? await findInstance(this.deps.db, id) : undefined;
    if (!found) throw notFound(`workflow instance ${id}`);
    return found;
  }

  complete(id: string, output: unknown): Promise<WorkflowInstance> {
    return this.finish(id, { status: 'completed', output });
  }

  fail(id: string, error: string): Promise<WorkflowInstance> {
    return this.finish(id, { status: 'failed', error });
  }

  private async finish(
    id: string,
    outcome: { status: 'completed'; output: unknown } | { status: 'failed'; error: string },
  ): Promise<WorkflowInstance> {
    const finished = isUuid(id)
      ? await finishInstance(this.deps.db, id, outcome, this.deps.clock.now())
      : undefined;
    if (finished) return finished;
    // Nothing moved: there is no such instance (404), or it had already left `running`, which
    // it can never re-enter.
    throw notRunning(await this.get(id), outcome.status);
  }
}
