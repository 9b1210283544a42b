import type { Clock } from '../clock.ts';
import {
  type ConsumerCheckMode,
  type ConsumerWarning,
  checkConsumer,
  judgeConsumer,
} from '../compatibility/consumers.ts';
import type { Database, Queryable } from '../db/database.ts';
import { AppError, type ErrorDetail, fieldError, notFound, validationError } from '../errors.ts';
import { assertNoPrecondition, reviseIfChanged } from '../http/etag.ts';
import { canMatchUuid, isUuid } from '../ids.ts';
import { activeSchemasMatching } from '../registry/consumer-schemas.ts';
import { matchesPattern } from '../routing/pattern.ts';
import { bumpTargetsVersion } from '../routing/work-store.ts';
import { checkWaitInput, type WaitSpec } from '../waits/wait.ts';
import { findDefinition } from '../workflows/repository.ts';
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
import {
  compileTrigger,
  triggerConsumerSpec,
  type WorkflowEventTrigger,
  waitConsumerSpec,
} from './trigger.ts';

export interface TriggerInput {
  name?: string | null;
  workflowDefinitionId: string;
  eventPattern: string;
  triggerType: WorkflowEventTrigger['triggerType'];
  eventCondition?: string | null;
  inputMapping?: Record<string, unknown> | null;
  correlationKey?: string | null;
  enabled?: boolean;
  priority?: number | null;
  description?: string | null;
  labels?: Record<string, string>;
  waitFor?: WaitSpec[];
}

const fieldsOf = (input: TriggerInput): TriggerFields => ({
  name: input.name ?? null,
  workflowDefinitionId: input.workflowDefinitionId,
  eventPattern: input.eventPattern,
  triggerType: input.triggerType,
  eventCondition: input.eventCondition ?? null,
  inputMapping: input.inputMapping ?? null,
  correlationKey: input.correlationKey ?? null,
  enabled: input.enabled ?? true,
  priority: input.priority ?? null,
  description: input.description ?? null,
  labels: input.labels ?? {},
  waitFor: input.waitFor ?? [],
});

/** A written trigger and the findings of its type check it was accepted with. */
export interface CheckedTrigger {
  resource: WorkflowEventTrigger;
  warnings: ConsumerWarning[];
}

/**
 * Trigger management. Every change bumps the routing targets version in its own transaction,
 * so every instance's matching index follows.
 */
export class Triggers {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    /** The event retention, which bounds a `waitFor` lookback (none: unbounded). */
    private readonly maxLookbackMs: number | undefined = undefined,
  ) {}

  /**
   * Compiles the expressions and checks the pattern can match a registered event; then that the
   * workflow definition can exist (an unknown UUID is found by the foreign key on insert); then
   * type-checks what the trigger reads against the active versions its pattern matches.
   */
  private async validate(
    db: Queryable,
    fields: TriggerFields,
    mode: ConsumerCheckMode,
  ): Promise<ConsumerWarning[]> {
    compileTrigger({ ...fields, id: '', createdAt: '', updatedAt: '', revision: 0 });
    this.checkWaitFor(fields);
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
    if (!isUuid(fields.workflowDefinitionId)) {
      throw notFound(`workflow definition ${fields.workflowDefinitionId}`);
    }
    const workflow = await findDefinition(db, fields.workflowDefinitionId);
    const versions = await activeSchemasMatching(db, fields.eventPattern);
    const spec = triggerConsumerSpec(fields, workflow?.inputSchema ?? undefined);
    const findings = checkConsumer(spec, versions);
    for (const [i, wait] of fields.waitFor.entries())
      findings.push(
        ...checkConsumer(
          waitConsumerSpec(
            { ...wait, correlationKeyPath: wait.correlationKeyPath ?? fields.correlationKey },
            `waitFor[${i}].`,
          ),
          await activeSchemasMatching(db, wait.pattern),
        ),
      );
    return judgeConsumer(findings, mode);
  }

  /** `waitFor`: START only, each wait checked as `POST /v1/waits` checks one (fields prefixed). */
  private checkWaitFor(fields: TriggerFields): void {
    if (fields.waitFor.length === 0) return;
    if (fields.triggerType !== 'START')
      throw validationError('trigger is invalid', [
        fieldError('waitFor', 'trigger_type_mismatch', 'applies only to START triggers'),
      ]);
    const details: ErrorDetail[] = [];
    for (const [i, wait] of fields.waitFor.entries()) {
      try {
        checkWaitInput(wait, this.maxLookbackMs, `waitFor[${i}].`);
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        details.push(...error.details);
      }
    }
    if (details.length > 0) throw validationError('trigger is invalid', details);
  }

  async create(input: TriggerInput, mode: ConsumerCheckMode = 'enforce'): Promise<CheckedTrigger> {
    const fields = fieldsOf(input);
    return this.db.transaction(async (tx) => {
      const warnings = await this.validate(tx, fields, mode);
      const resource = await insertTrigger(tx, fields, this.clock.now());
      await bumpTargetsVersion(tx);
      return { resource, warnings };
    });
  }

  async get(id: string): Promise<WorkflowEventTrigger> {
    const found = isUuid(id) ? await findTrigger(this.db, id) : undefined;
    if (!found) throw notFound(`workflow trigger ${id}`);
    return found;
  }

  async list(filters: TriggerFilters) {
    if (!canMatchUuid(filters.workflowDefinitionId)) return { triggers: [], total: 0 };
    return listTriggers(this.db, filters);
  }

  async update(
    id: string,
    requiredRevision: number | '*',
    changes: Partial<TriggerInput>,
    mode: ConsumerCheckMode = 'enforce',
  ): Promise<CheckedTrigger> {
    return this.db.transaction(async (tx) => {
      const current = isUuid(id) ? await findTrigger(tx, id, true) : undefined;
      if (!current) throw notFound(`workflow trigger ${id}`);
      const fields = fieldsOf({ ...current, ...changes });
      return this.replace(tx, requiredRevision, current, fields, mode);
    });
  }

  /**
   * `PUT /v1/workflow-triggers/by-name/{name}`: creates the trigger, or replaces every field of
   * the existing one with `input` (absent fields take their defaults).
   */
  async upsert(
    name: string,
    requiredRevision: number | '*' | undefined,
    input: TriggerInput,
    mode: ConsumerCheckMode = 'enforce',
  ): Promise<CheckedTrigger & { created: boolean }> {
    const fields = fieldsOf({ ...input, name });
    return this.db.transaction(async (tx) => {
      const current = await findTrigger(tx, name, true, 'name');
      if (current) {
        return {
          ...(await this.replace(tx, requiredRevision, current, fields, mode)),
          created: false,
        };
      }
      assertNoPrecondition(requiredRevision);
      const warnings = await this.validate(tx, fields, mode);
      const resource = await insertTrigger(tx, fields, this.clock.now());
      await bumpTargetsVersion(tx);
      return { resource, warnings, created: true };
    });
  }

  /**
   * Saves `fields` over `current` unless they are what it holds (then nothing reloads, and
   * nothing is checked again).
   */
  private async replace(
    tx: Queryable,
    requiredRevision: number | '*' | undefined,
    current: WorkflowEventTrigger,
    fields: TriggerFields,
    mode: ConsumerCheckMode,
  ): Promise<CheckedTrigger> {
    let warnings: ConsumerWarning[] = [];
    const resource = await reviseIfChanged(requiredRevision, current, fields, async () => {
      warnings = await this.validate(tx, fields, mode);
      const updated = await updateTrigger(tx, current.id, fields, this.clock.now());
      await bumpTargetsVersion(tx);
      return updated;
    });
    return { resource, warnings };
  }

  async remove(id: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (!isUuid(id) || !(await deleteTrigger(tx, id))) throw notFound(`workflow trigger ${id}`);
      await bumpTargetsVersion(tx);
    });
  }
}
