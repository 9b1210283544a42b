import type { Queryable } from '../db/database.ts';
import { UniqueViolation } from '../db/pg-errors.ts';
import { equalityFilters, onlyRow } from '../db/sql.ts';
import { conflict, fieldError } from '../errors.ts';
import type { EventProcessor, ProcessorOutput } from './processor.ts';

/** SQL of event processors (`event_processors`). Rows leave here in the wire format. */

interface ProcessorRow {
  id: string;
  name: string;
  event_pattern: string;
  event_condition: string | null;
  output: ProcessorOutput;
  enabled: boolean;
  description: string | null;
  labels: Record<string, string>;
  created_at: Date;
  updated_at: Date;
  revision: number;
}

const COLUMNS = `id, name, event_pattern, event_condition, output, enabled, description, labels,
  created_at, updated_at, revision`;

const toProcessor = (r: ProcessorRow): EventProcessor => ({
  id: r.id,
  name: r.name,
  eventPattern: r.event_pattern,
  eventCondition: r.event_condition,
  output: r.output,
  enabled: r.enabled,
  description: r.description,
  labels: r.labels,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  revision: r.revision,
});

export type ProcessorFields = Omit<EventProcessor, 'id' | 'createdAt' | 'updatedAt' | 'revision'>;

const fieldParams = (p: ProcessorFields) => [
  p.name,
  p.eventPattern,
  p.eventCondition,
  JSON.stringify(p.output),
  p.enabled,
  p.description,
  JSON.stringify(p.labels),
];

function writeError(error: unknown, fields: ProcessorFields): unknown {
  if (error instanceof UniqueViolation) {
    return conflict(`an event processor named ${fields.name} exists`, 'conflict', [
      fieldError('name', 'conflict', 'is taken by another event processor'),
    ]);
  }
  return error;
}

export async function insertProcessor(
  tx: Queryable,
  fields: ProcessorFields,
  now: Date,
): Promise<EventProcessor> {
  try {
    const { rows } = await tx.query<ProcessorRow>(
      `INSERT INTO event_processors (name, event_pattern, event_condition, output, enabled, description,
         labels, created_at, updated_at)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7::jsonb, $8, $8) RETURNING ${COLUMNS}`,
      [...fieldParams(fields), now],
    );
    return toProcessor(onlyRow({ rows }));
  } catch (error) {
    throw writeError(error, fields);
  }
}

export async function updateProcessor(
  tx: Queryable,
  id: string,
  fields: ProcessorFields,
  now: Date,
): Promise<EventProcessor> {
  try {
    const { rows } = await tx.query<ProcessorRow>(
      `UPDATE event_processors SET name = $2, event_pattern = $3, event_condition = $4, output = $5::jsonb,
         enabled = $6, description = $7, labels = $8::jsonb, updated_at = $9, revision = revision + 1
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, ...fieldParams(fields), now],
    );
    return toProcessor(onlyRow({ rows }));
  } catch (error) {
    throw writeError(error, fields);
  }
}

/** A processor by id, or by its unique name (`by: 'name'`). */
export async function findProcessor(
  db: Queryable,
  key: string,
  forUpdate = false,
  by: 'id' | 'name' = 'id',
): Promise<EventProcessor | undefined> {
  const { rows } = await db.query<ProcessorRow>(
    `SELECT ${COLUMNS} FROM event_processors WHERE ${by === 'id' ? 'id' : 'name'} = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [key],
  );
  return rows[0] && toProcessor(rows[0]);
}

export async function deleteProcessor(tx: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await tx.query('DELETE FROM event_processors WHERE id = $1', [id]);
  return rowCount > 0;
}

export async function enabledProcessors(db: Queryable): Promise<EventProcessor[]> {
  const { rows } = await db.query<ProcessorRow>(
    `SELECT ${COLUMNS} FROM event_processors WHERE enabled`,
  );
  return rows.map(toProcessor);
}

/**
 * Serialises the writes that change the processor graph until the transaction ends, so two
 * processors created at once cannot each pass the loop check and close a loop together.
 * Reads go on (SHARE ROW EXCLUSIVE conflicts with writes and with itself only).
 */
export async function lockProcessorGraph(tx: Queryable): Promise<void> {
  await tx.query('LOCK TABLE event_processors IN SHARE ROW EXCLUSIVE MODE');
}

export interface ProcessorFilters {
  name?: string;
  eventPattern?: string;
  enabled?: boolean;
  limit: number;
  offset: number;
}

export async function listProcessors(
  db: Queryable,
  filters: ProcessorFilters,
): Promise<{ processors: EventProcessor[]; total: number }> {
  const { whereSql, params } = equalityFilters([
    ['name', filters.name],
    ['event_pattern', filters.eventPattern],
    ['enabled', filters.enabled],
  ]);
  const count = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM event_processors ${whereSql}`,
    params,
  );
  const { rows } = await db.query<ProcessorRow>(
    `SELECT ${COLUMNS} FROM event_processors ${whereSql}
      ORDER BY created_at, id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, filters.limit, filters.offset],
  );
  return { processors: rows.map(toProcessor), total: onlyRow(count).n };
}
