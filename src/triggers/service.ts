import type { Clock } from '../clock.ts';
import type { Database, Queryable } from '../db/database.ts';
import { fieldError, notFound, validationError } from '../errors.ts';
import { assertRevision } from '../http/etag.ts';
import { isUuid } from '../ids.ts';
import { matchesPattern } from '../routing/pattern.ts';
import { bumpTargetsVersion } from '../routing/work-store.ts';
import {
  deleteTrigger,
  findTrigger,
  insertTrigger,
  listTriggers,
  registeredPatterns,
  type TriggerFields,
  type TriggerFilters,
  updateTrigger,
} from './repository.ts';
import { compileTrigger, type WorkflowEventTrigger } from './trigger.ts';

export interface TriggerInput {
  workflowDefinitionId: string;
  eventPattern: string;
  triggerType: WorkflowEventTrigger['triggerType'];
  eventCondition?: string | null;
  inputMapping?: Record<string, unknown> | null;
  correlationKey?: string | null;
  enabled?: boolean;
  priority?: number | null;
  description?: string | null;
}

const fieldsOf = (input: TriggerInput): TriggerFields => ({
  workflowDefinitionId: input.workflowDefinitionId,
  eventPattern: input.eventPattern,
  triggerType: input.triggerType,
  eventCondition: input.eventCondition ?? null,
  inputMapping: input.inputMapping ?? null,
  correlationKey: input.correlationKey ?? null,
  enabled: input.enabled ?? true,
  priority: input.priority ?? null,
  description: input.description ?? null,
});

/**
 * Trigger management. Every change bumps the routing targets version in its own transaction,
 * so every instance's matching index follows.
 */
export class Triggers {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  /** Compiles the expressions and checks the pattern can match a registered event. */
  private async validate(db: Queryable, fields: TriggerFields): Promise<void> {
    compileTrigger({ ...fields, id: '', createdAt: '', updatedAt: '', revision: 0 });
    const patterns = await registeredPatterns(db);
    if (!patterns.some((pattern) => matchesPattern(fields.eventPattern, pattern))) {
      throw validationError('eventPattern matches no registered event definition', [
        fieldError(
          'eventPattern',
          'no_matching_definition',
          'no registered event definition has a matching pattern',
        ),
      ]);
    }
  }

  async create(input: TriggerInput): Promise<WorkflowEventTrigger> {
    const fields = fieldsOf(input);
    return this.db.transaction(async (tx) => {
      await this.validate(tx, fields);
      const created = await insertTrigger(tx, fields, this.clock.now());
      await bumpTargetsVersion(tx);
      return created;
    });
  }

  async get(id: string): Promise<WorkflowEventTrigger> {
    const found = isUuid(id) ? await findTrigger(this.db, id) : undefined;
    if (!found) throw notFound(`workflow trigger ${id}`);
    return found;
  }

  list(filters: TriggerFilters) {
    return listTriggers(this.db, filters);
  }

  async update(
    id: string,
    requiredRevision: number | '*',
    changes: Partial<TriggerInput>,
  ): Promise<WorkflowEventTrigger> {
    return this.db.transaction(async (tx) => {
      const current = isUuid(id) ? await findTrigger(tx, id, true) : undefined;
      if (!current) throw notFound(`workflow trigger ${id}`);
      assertRevision(requiredRevision, current.revision);
      const fields = fieldsOf({ ...current, ...changes });
      await this.validate(tx, fields);
      const updated = await updateTrigger(tx, id, fields, this.clock.now());
      await bumpTargetsVersion(tx);
      return updated;
    });
  }

  async remove(id: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (!isUuid(id) || !(await deleteTrigger(tx, id))) throw notFound(`workflow trigger ${id}`);
      await bumpTargetsVersion(tx);
    });
  }
}
