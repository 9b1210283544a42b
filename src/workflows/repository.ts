import type { Queryable } from '../db/database.ts';
import { DataError, ForeignKeyViolation, UniqueViolation } from '../db/pg-errors.ts';
import { type AgedRows, equalityFilters } from '../db/sql.ts';
import { conflict, fieldError, validationError } from '../errors.ts';
import type {
  ExecutorKind,
  InstanceStatus,
  WorkflowDefinition,
  WorkflowDefinitionFields,
  WorkflowInstance,
} from './model.ts';
import { WorkflowExecutorError } from './port.ts';

/** SQL of workflow definitions and instances. Rows leave here in the wire format. */

interface DefinitionRow {
  id: string;
  name: string;
  version: string;
  description: string;
  input_schema: Record<string, unknown> | null;
  executor: ExecutorKind;
  executor_url: string | null;
  executor_timeout_ms: number | null;
  labels: Record<string, string>;
  created_at: Date;
  updated_at: Date;
  revision: number;
}

const DEFINITION_COLUMNS = `id, name, version, description, input_schema, executor, executor_url,
  executor_timeout_ms, labels, created_at, updated_at, revision`;

const toDefinition = (row: DefinitionRow): WorkflowDefinition => ({
  id: row.id,
  name: row.name,
  version: row.version,
  description: row.description,
  inputSchema: row.input_schema,
  executor: row.executor,
  executorUrl: row.executor_url,
  executorTimeoutMs: row.executor_timeout_ms,
  labels: row.labels,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
  revision: row.revision,
});

const json = (value: unknown) => (value === null ? null : JSON.stringify(value));

/** The data layer's translations of a definition write's failures into client errors. */
function definitionWriteError(error: unknown, fields: WorkflowDefinitionFields): unknown {
  if (error instanceof UniqueViolation) {
    return conflict(
      `workflow definition ${fields.name} version ${fields.version} already exists`,
      'conflict',
      [fieldError('version', 'conflict', `${fields.name} already has version ${fields.version}`)],
    );
  }
  if (error instanceof DataError) {
    return validationError(`the workflow definition could not be stored: ${error.message}`);
  }
  return error;
}

export function insertDefinition(
  db: Queryable,
  fields: WorkflowDefinitionFields,
  now: Date,
): Promise<WorkflowDefinition> {
  return writeDefinition(
    db,
    `INSERT INTO workflow_definitions (name, version, description, input_schema, executor,
       executor_url, executor_timeout_ms, labels, created_at, updated_at)
     VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8::jsonb, $9, $9)
     RETURNING ${DEFINITION_COLUMNS}`,
    [...fieldParams(fields), now],
    fields,
  );
}

export async function findDefinition(
  db: Queryable,
  id: string,
  forUpdate = false,
): Promise<WorkflowDefinition | undefined> {
  const { rows } = await db.query<DefinitionRow>(
    `SELECT ${DEFINITION_COLUMNS} FROM workflow_definitions WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] && toDefinition(rows[0]);
}

export interface DefinitionFilters {
  /** Exactly this name (every version of it). */
  name?: string;
  limit: number;
  offset: number;
}

/** Every version of the definition called `name`, in no particular order. */
export async function findDefinitionsByName(
  db: Queryable,
  name: string,
  forUpdate = false,
): Promise<WorkflowDefinition[]> {
  const { rows } = await db.query<DefinitionRow>(
    `SELECT ${DEFINITION_COLUMNS} FROM workflow_definitions WHERE name = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [name],
  );
  return rows.map(toDefinition);
}

export async function listDefinitions(
  db: Queryable,
  filters: DefinitionFilters,
): Promise<{ workflowDefinitions: WorkflowDefinition[]; total: number }> {
  const { whereSql, params } = equalityFilters([['name', filters.name]]);
  const count = await db.query<{ total: number }>(
    `SELECT count(*)::int AS total FROM workflow_definitions ${whereSql}`,
    params,
  );
  const { rows } = await db.query<DefinitionRow>(
    `SELECT ${DEFINITION_COLUMNS} FROM workflow_definitions ${whereSql}
      ORDER BY created_at DESC, id DESC LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, filters.limit, filters.offset],
  );
  return { workflowDefinitions: rows.map(toDefinition), total: count.rows[0]?.total ?? 0 };
}

/** Writes every field of `fields` (the merged definition) and moves the revision. */
export function updateDefinition(
  tx: Queryable,
  id: string,
  fields: WorkflowDefinitionFields,
  now: Date,
): Promise<WorkflowDefinition> {
  return writeDefinition(
    tx,
    `UPDATE workflow_definitions SET name = $1, version = $2, description = $3,
       input_schema = $4::jsonb, executor = $5, executor_url = $6, executor_timeout_ms = $7,
       labels = $8::jsonb, updated_at = $9, revision = revision + 1
     WHERE id = $10
     RETURNING ${DEFINITION_COLUMNS}`,
    [...fieldParams(fields), now, id],
    fields,
  );
}

/** The definition's fields as parameters $1–$8, in the column order both writes use. */
const fieldParams = (fields: WorkflowDefinitionFields): unknown[] => [
  fields.name,
  fields.version,
  fields.description,
  json(fields.inputSchema),
  fields.executor,
  fields.executorUrl,
  fields.executorTimeoutMs,
  JSON.stringify(fields.labels),
];

async function writeDefinition(
  db: Queryable,
  sql: string,
  params: unknown[],
  fields: WorkflowDefinitionFields,
): Promise<WorkflowDefinition> {
  try {
    const { rows } = await db.query<DefinitionRow>(sql, params);
    return toDefinition(rows[0]!);
  } catch (error) {
    throw definitionWriteError(error, fields);
  }
}

/**
 * Deletes a definition (and its instances' history); false when there was none. A definition
 * still referenced by a foreign key (workflow triggers, ON DELETE RESTRICT) is a 409.
 */
export async function deleteDefinition(db: Queryable, id: string): Promise<boolean> {
  try {
    const { rows } = await db.query('DELETE FROM workflow_definitions WHERE id = $1 RETURNING id', [
      id,
    ]);
    return rows.length > 0;
  } catch (error) {
    if (error instanceof ForeignKeyViolation) {
      throw conflict(
        `workflow definition ${id} is still referenced by workflow triggers; delete or change them first`,
        'conflict',
        [
          fieldError(
            'id',
            'referenced',
            `referenced through ${error.constraint ?? 'a foreign key'}`,
          ),
        ],
      );
    }
    throw error;
  }
}

interface InstanceRow {
  id: string;
  workflow_definition_id: string;
  status: InstanceStatus;
  correlation_key: string | null;
  input: Record<string, unknown>;
  output: unknown;
  error: string | null;
  trigger_id: string | null;
  trigger_event_id: string | null;
  cancelled_by_event_id: string | null;
  idempotency_key: string | null;
  created_at: Date;
  updated_at: Date;
}

const INSTANCE_COLUMNS = `id, workflow_definition_id, status, correlation_key, input, output, error,
  trigger_id, trigger_event_id, cancelled_by_event_id, idempotency_key, created_at, updated_at`;

const toInstance = (row: InstanceRow): WorkflowInstance => ({
  id: row.id,
  workflowDefinitionId: row.workflow_definition_id,
  status: row.status,
  correlationKey: row.correlation_key,
  input: row.input,
  output: row.output,
  error: row.error,
  triggerId: row.trigger_id,
  triggerEventId: row.trigger_event_id,
  cancelledByEventId: row.cancelled_by_event_id,
  idempotencyKey: row.idempotency_key,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

const definitionGone = (definitionId: string) =>
  new WorkflowExecutorError(`workflow definition ${definitionId} not found`, {
    code: 'definition_not_found',
    retryable: false,
  });

export interface NewInstance {
  definitionId: string;
  input: Record<string, unknown>;
  triggerId?: string;
  triggerEventId?: string;
  correlationKey?: string;
  idempotencyKey: string;
}

/**
 * Inserts a running instance unless one with the idempotency key exists; either way returns the
 * key's instance. A concurrent insert of the same key waits for the first and then finds it.
 */
export async function insertInstanceOnce(
  db: Queryable,
  instance: NewInstance,
  now: Date,
): Promise<{ id: string; definitionId: string; created: boolean }> {
  let inserted: { id: string }[];
  try {
    ({ rows: inserted } = await db.query<{ id: string }>(
      `INSERT INTO workflow_instances (workflow_definition_id, status, correlation_key, input,
         trigger_id, trigger_event_id, idempotency_key, created_at, updated_at)
       VALUES ($1, 'running', $2, $3::jsonb, $4, $5, $6, $7, $7)
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING id`,
      [
        instance.definitionId,
        instance.correlationKey ?? null,
        JSON.stringify(instance.input),
        instance.triggerId ?? null,
        instance.triggerEventId ?? null,
        instance.idempotencyKey,
        now,
      ],
    ));
  } catch (error) {
    if (error instanceof ForeignKeyViolation) throw definitionGone(instance.definitionId);
    if (error instanceof DataError) {
      throw new WorkflowExecutorError(`the workflow instance cannot be stored: ${error.message}`, {
        code: 'unstorable_input',
        retryable: false,
        cause: error,
      });
    }
    throw error;
  }
  if (inserted[0])
    return { id: inserted[0].id, definitionId: instance.definitionId, created: true };
  const { rows } = await db.query<{ id: string; workflow_definition_id: string }>(
    'SELECT id, workflow_definition_id FROM workflow_instances WHERE idempotency_key = $1',
    [instance.idempotencyKey],
  );
  const existing = rows[0];
  // Gone again between the two statements: only when its definition was deleted meanwhile.
  if (!existing) throw definitionGone(instance.definitionId);
  return { id: existing.id, definitionId: existing.workflow_definition_id, created: false };
}

/**
 * {@link insertInstanceOnce} for many instances in two statements (one insert, one read of the
 * keys that existed), results in the order given. When the insert fails as a whole — a deleted
 * definition or an unstorable input among them — each instance is inserted on its own, so the
 * failure lands on the instance that caused it.
 */
export async function insertInstancesOnce(
  db: Queryable,
  instances: NewInstance[],
  now: Date,
): Promise<Array<{ id: string; definitionId: string; created: boolean } | WorkflowExecutorError>> {
  let inserted: Array<{ id: string; idempotency_key: string }>;
  try {
    ({ rows: inserted } = await db.query<{ id: string; idempotency_key: string }>(
      `INSERT INTO workflow_instances (workflow_definition_id, status, correlation_key, input,
         trigger_id, trigger_event_id, idempotency_key, created_at, updated_at)
       SELECT d, 'running', k, i, t, e, key, $7::timestamp, $7::timestamp
         FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::uuid[], $5::text[], $6::text[])
           AS n(d, k, i, t, e, key)
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING id, idempotency_key`,
      [
        instances.map((n) => n.definitionId),
        instances.map((n) => n.correlationKey ?? null),
        instances.map((n) => JSON.stringify(n.input)),
        instances.map((n) => n.triggerId ?? null),
        instances.map((n) => n.triggerEventId ?? null),
        instances.map((n) => n.idempotencyKey),
        now,
      ],
    ));
  } catch (error) {
    if (!(error instanceof ForeignKeyViolation || error instanceof DataError)) throw error;
    return Promise.all(
      instances.map((n) =>
        insertInstanceOnce(db, n, now).catch((e: unknown) => {
          if (e instanceof WorkflowExecutorError) return e;
          throw e;
        }),
      ),
    );
  }
  const found = new Map(
    inserted.map((r) => [r.idempotency_key, { id: r.id, definitionId: '', created: true }]),
  );
  const repeated = instances.filter((n) => !found.has(n.idempotencyKey));
  if (repeated.length > 0) {
    const { rows } = await db.query<{ id: string; workflow_definition_id: string; key: string }>(
      `SELECT id, workflow_definition_id, idempotency_key AS key FROM workflow_instances
        WHERE idempotency_key = ANY($1::text[])`,
      [repeated.map((n) => n.idempotencyKey)],
    );
    for (const r of rows)
      found.set(r.key, { id: r.id, definitionId: r.workflow_definition_id, created: false });
  }
  return instances.map((n) => {
    const instance = found.get(n.idempotencyKey);
    if (!instance) return definitionGone(n.definitionId);
    return { ...instance, definitionId: instance.definitionId || n.definitionId };
  });
}

/**
 * Cancels the running instances of (definition, correlation key) on behalf of `eventId` and
 * returns them together with those this event had cancelled before, so a repeat returns the
 * same ids. Serialised per (definition, key): a concurrent repeat sees the first one's effect.
 */
export async function cancelByCorrelation(
  tx: Queryable,
  cancel: { definitionId: string; correlationKey: string; eventId: string },
  now: Date,
): Promise<string[]> {
  await tx.query('SELECT pg_advisory_xact_lock(2, hashtext($1))', [
    `${cancel.definitionId}/${cancel.correlationKey}`,
  ]);
  try {
    const { rows } = await tx.query<{ id: string }>(
      `WITH cancelled AS (
         UPDATE workflow_instances SET status = 'cancelled', cancelled_by_event_id = $3,
                updated_at = $4
          WHERE workflow_definition_id = $1 AND correlation_key = $2 AND status = 'running'
          RETURNING id, created_at
       ), earlier AS (
         SELECT id, created_at FROM workflow_instances
          WHERE workflow_definition_id = $1 AND correlation_key = $2
            AND cancelled_by_event_id = $3
       )
       SELECT id FROM (SELECT * FROM cancelled UNION SELECT * FROM earlier) both_
        ORDER BY created_at, id`,
      [cancel.definitionId, cancel.correlationKey, cancel.eventId, now],
    );
    return rows.map((r) => r.id);
  } catch (error) {
    if (error instanceof DataError) {
      throw new WorkflowExecutorError(`the cancellation cannot be stored: ${error.message}`, {
        code: 'unstorable_input',
        retryable: false,
        cause: error,
      });
    }
    throw error;
  }
}

/** The running instances of (definition, correlation key), oldest first. */
export async function findRunningByCorrelation(
  db: Queryable,
  definitionId: string,
  correlationKey: string,
): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM workflow_instances
      WHERE workflow_definition_id = $1 AND correlation_key = $2 AND status = 'running'
      ORDER BY created_at, id`,
    [definitionId, correlationKey],
  );
  return rows.map((r) => r.id);
}

export async function findInstance(
  db: Queryable,
  id: string,
): Promise<WorkflowInstance | undefined> {
  const { rows } = await db.query<InstanceRow>(
    `SELECT ${INSTANCE_COLUMNS} FROM workflow_instances WHERE id = $1`,
    [id],
  );
  return rows[0] && toInstance(rows[0]);
}

export interface InstanceFilters {
  workflowDefinitionId?: string;
  correlationKey?: string;
  status?: InstanceStatus;
  limit: number;
  offset: number;
}

export async function listInstances(
  db: Queryable,
  filters: InstanceFilters,
): Promise<{ workflowInstances: WorkflowInstance[]; total: number }> {
  const { whereSql, params } = equalityFilters([
    ['workflow_definition_id', filters.workflowDefinitionId],
    ['correlation_key', filters.correlationKey],
    ['status', filters.status],
  ]);
  const count = await db.query<{ total: number }>(
    `SELECT count(*)::int AS total FROM workflow_instances ${whereSql}`,
    params,
  );
  const { rows } = await db.query<InstanceRow>(
    `SELECT ${INSTANCE_COLUMNS} FROM workflow_instances ${whereSql}
      ORDER BY created_at DESC, id DESC LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, filters.limit, filters.offset],
  );
  return { workflowInstances: rows.map(toInstance), total: count.rows[0]?.total ?? 0 };
}

/**
 * Moves a running instance to `completed` (with its output) or `failed` (with the reason).
 * Undefined when the instance is not running (or does not exist): the caller tells which.
 */
export async function finishInstance(
  db: Queryable,
  id: string,
  outcome: { status: 'completed'; output: unknown } | { status: 'failed'; error: string },
  now: Date,
): Promise<WorkflowInstance | undefined> {
  try {
    const { rows } = await db.query<InstanceRow>(
      `UPDATE workflow_instances SET status = $2, output = $3::jsonb, error = $4, updated_at = $5
        WHERE id = $1 AND status = 'running'
        RETURNING ${INSTANCE_COLUMNS}`,
      [
        id,
        outcome.status,
        outcome.status === 'completed' ? json(outcome.output ?? null) : null,
        outcome.status === 'failed' ? outcome.error : null,
        now,
      ],
    );
    return rows[0] && toInstance(rows[0]);
  } catch (error) {
    if (error instanceof DataError) {
      throw validationError(`the outcome could not be stored: ${error.message}`, [
        fieldError(
          outcome.status === 'completed' ? 'output' : 'error',
          'unstorable',
          error.message,
        ),
      ]);
    }
    throw error;
  }
}

/**
 * What retention deletes of workflow instances: finished ones (completed, failed, cancelled), by
 * finish time (index of migration 0015). Running instances are never deleted.
 */
export const FINISHED_INSTANCES: AgedRows = {
  table: 'workflow_instances',
  time: 'updated_at',
  finished: "status <> 'running'",
};
