import type { Queryable } from '../db/database.ts';
import { ForeignKeyViolation, UniqueViolation } from '../db/pg-errors.ts';
import { equalityFilters, onlyRow } from '../db/sql.ts';
import { conflict, fieldError, notFound } from '../errors.ts';
import type { WaitSpec } from '../waits/wait.ts';
import type { TriggerType, WorkflowEventTrigger } from './trigger.ts';

/** SQL of workflow event triggers. Rows leave here in the wire format. */

interface TriggerRow {
  id: string;
  name: string | null;
  workflow_definition_id: string;
  event_pattern: string;
  trigger_type: TriggerType;
  event_condition: string | null;
  input_mapping: Record<string, unknown> | null;
  correlation_key: string | null;
  enabled: boolean;
  priority: number | null;
  description: string | null;
  labels: Record<string, string>;
  wait_for: WaitSpec[];
  created_at: Date;
  updated_at: Date;
  revision: number;
}

const COLUMNS = `id, name, workflow_definition_id, event_pattern, trigger_type, event_condition,
  input_mapping, correlation_key, enabled, priority, description, labels, wait_for, created_at, updated_at, revision`;

const toTrigger = (r: TriggerRow): WorkflowEventTrigger => ({
  id: r.id,
  name: r.name,
  workflowDefinitionId: r.workflow_definition_id,
  eventPattern: r.event_pattern,
  triggerType: r.trigger_type,
  eventCondition: r.event_condition,
  inputMapping: r.input_mapping,
  correlationKey: r.correlation_key,
  enabled: r.enabled,
  priority: r.priority,
  description: r.description,
  labels: r.labels,
  waitFor: r.wait_for,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  revision: r.revision,
});

export type TriggerFields = Omit<
  WorkflowEventTrigger,
  'id' | 'createdAt' | 'updatedAt' | 'revision'
>;

const fieldParams = (t: TriggerFields) => [
  t.workflowDefinitionId,
  t.eventPattern,
  t.triggerType,
  t.eventCondition,
  t.inputMapping === null ? null : JSON.stringify(t.inputMapping),
  t.correlationKey,
  t.enabled,
  t.priority,
  t.description,
  t.name,
  JSON.stringify(t.labels),
  JSON.stringify(t.waitFor),
];

/** The data layer's translations of a trigger write's failures into client errors. */
function triggerWriteError(error: unknown, fields: TriggerFields): unknown {
  if (error instanceof ForeignKeyViolation) {
    return notFound(`workflow definition ${fields.workflowDefinitionId}`);
  }
  if (error instanceof UniqueViolation) {
    return conflict(`a workflow trigger named ${fields.name} exists`, 'conflict', [
      fieldError('name', 'conflict', 'is taken by another trigger'),
    ]);
  }
  return error;
}

export async function insertTrigger(
  tx: Queryable,
  fields: TriggerFields,
  now: Date,
): Promise<WorkflowEventTrigger> {
  try {
    const { rows } = await tx.query<TriggerRow>(
      `INSERT INTO workflow_event_triggers (workflow_definition_id, event_pattern, trigger_type, event_condition,
         input_mapping, correlation_key, enabled, priority, description, name, labels, wait_for, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11::jsonb, $12::jsonb, $13, $13) RETURNING ${COLUMNS}`,
      [...fieldParams(fields), now],
    );
    return toTrigger(onlyRow({ rows }));
  } catch (error) {
    throw triggerWriteError(error, fields);
  }
}

export async function updateTrigger(
  tx: Queryable,
  id: string,
  fields: TriggerFields,
  now: Date,
): Promise<WorkflowEventTrigger> {
  try {
    const { rows } = await tx.query<TriggerRow>(
      `UPDATE workflow_event_triggers SET workflow_definition_id = $2, event_pattern = $3, trigger_type = $4,
         event_condition = $5, input_mapping = $6::jsonb, correlation_key = $7, enabled = $8, priority = $9,
         description = $10, name = $11, labels = $12::jsonb, wait_for = $13::jsonb, updated_at = $14, revision = revision + 1
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, ...fieldParams(fields), now],
    );
    return toTrigger(onlyRow({ rows }));
  } catch (error) {
    throw triggerWriteError(error, fields);
  }
}

/** One trigger by its id or, with `by: 'name'`, by its name. */
export async function findTrigger(
  db: Queryable,
  key: string,
  forUpdate = false,
  by: 'id' | 'name' = 'id',
): Promise<WorkflowEventTrigger | undefined> {
  const { rows } = await db.query<TriggerRow>(
    `SELECT ${COLUMNS} FROM workflow_event_triggers WHERE ${by === 'id' ? 'id' : 'name'} = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [key],
  );
  return rows[0] && toTrigger(rows[0]);
}

export async function deleteTrigger(tx: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await tx.query('DELETE FROM workflow_event_triggers WHERE id = $1', [id]);
  return rowCount > 0;
}

export async function enabledTriggers(db: Queryable): Promise<WorkflowEventTrigger[]> {
  const { rows } = await db.query<TriggerRow>(
    `SELECT ${COLUMNS} FROM workflow_event_triggers WHERE enabled`,
  );
  return rows.map(toTrigger);
}

export interface TriggerFilters {
  name?: string;
  workflowDefinitionId?: string;
  eventPattern?: string;
  triggerType?: TriggerType;
  enabled?: boolean;
  limit: number;
  offset: number;
}

export async function listTriggers(
  db: Queryable,
  filters: TriggerFilters,
): Promise<{ triggers: WorkflowEventTrigger[]; total: number }> {
  const { whereSql, params } = equalityFilters([
    ['name', filters.name],
    ['workflow_definition_id', filters.workflowDefinitionId],
    ['event_pattern', filters.eventPattern],
    ['trigger_type', filters.triggerType],
    ['enabled', filters.enabled],
  ]);
  const count = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM workflow_event_triggers ${whereSql}`,
    params,
  );
  const { rows } = await db.query<TriggerRow>(
    `SELECT ${COLUMNS} FROM workflow_event_triggers ${whereSql}
      ORDER BY priority ASC NULLS LAST, created_at, id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, filters.limit, filters.offset],
  );
  return { triggers: rows.map(toTrigger), total: onlyRow(count).n };
}

/** Every registered event pattern, to check that a trigger's pattern can ever match. */
export async function registeredPatterns(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ pattern: string }>(
    'SELECT DISTINCT pattern FROM event_definitions',
  );
  return rows.map((r) => r.pattern);
}
