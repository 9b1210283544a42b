import type { CompatibilityMode } from '../compatibility/check.ts';
import type { Queryable } from '../db/database.ts';
import { UniqueViolation } from '../db/pg-errors.ts';
import { SqlConditions } from '../db/sql.ts';
import { conflict, fieldError } from '../errors.ts';
import { currentVersionOf, type DefinitionStatus, type EventDefinition } from './definition.ts';

/** SQL of the registry. Rows leave here in the wire format. */

interface DefinitionRow
  extends Omit<
    EventDefinition,
    'created_at' | 'updated_at' | 'deprecated_at' | 'sunset_at' | 'compatibility'
  > {
  created_at: Date;
  updated_at: Date;
  deprecated_at: Date | null;
  sunset_at: Date | null;
  compatibility_mode: CompatibilityMode | null;
}

/** The mode of the event_id beside each row (BACKWARD when it has none). */
const COLUMNS = `id, event_id, name, description, pattern, version, source_types, payload_schema,
  examples, ui_metadata, status, deprecated_at, sunset_at, created_at, updated_at, revision,
  (SELECT c.mode FROM event_compatibility c WHERE c.event_id = event_definitions.event_id)
    AS compatibility_mode`;

export const DEFAULT_COMPATIBILITY_MODE: CompatibilityMode = 'BACKWARD';

const toDefinition = ({ compatibility_mode, ...row }: DefinitionRow): EventDefinition => ({
  ...row,
  compatibility: { mode: compatibility_mode ?? DEFAULT_COMPATIBILITY_MODE },
  deprecated_at: row.deprecated_at?.toISOString() ?? null,
  sunset_at: row.sunset_at?.toISOString() ?? null,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

export type NewDefinition = Omit<
  EventDefinition,
  'id' | 'created_at' | 'updated_at' | 'revision' | 'deprecated_at' | 'sunset_at' | 'compatibility'
>;

/** Fields a PATCH may change. */
export type DefinitionChanges = Partial<
  Pick<
    EventDefinition,
    | 'name'
    | 'description'
    | 'examples'
    | 'ui_metadata'
    | 'source_types'
    | 'status'
    | 'payload_schema'
    | 'sunset_at'
  >
>;

export interface DefinitionFilters {
  pattern?: string;
  event_id?: string;
  source_type?: string;
  status?: DefinitionStatus;
  category?: string;
  q?: string;
  latest?: boolean;
  limit: number;
  offset: number;
}

const json = (value: unknown) => JSON.stringify(value);

/** Serialises writes to one event_id (its versions, its latest flag, its pattern claim). */
export async function lockEventId(tx: Queryable, eventId: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(1, hashtext($1))', [eventId]);
}

/** Claims `pattern` for `eventId`; a pattern another event_id owns is a 409. */
export async function claimPattern(tx: Queryable, pattern: string, eventId: string): Promise<void> {
  await tx.query(
    'INSERT INTO event_pattern_owners (pattern, event_id) VALUES ($1, $2) ON CONFLICT (pattern) DO NOTHING',
    [pattern, eventId],
  );
  const { rows } = await tx.query<{ event_id: string }>(
    'SELECT event_id FROM event_pattern_owners WHERE pattern = $1',
    [pattern],
  );
  const owner = rows[0]?.event_id;
  if (owner !== eventId) {
    throw conflict(`pattern ${pattern} belongs to event ${owner}`, 'conflict', [
      fieldError('pattern', 'conflict', `already registered by event_id ${owner}`),
    ]);
  }
}

/** Sets the compatibility mode of `eventId`; true when it changed. */
export async function setCompatibilityMode(
  tx: Queryable,
  eventId: string,
  mode: CompatibilityMode,
  now: Date,
): Promise<boolean> {
  const { rows } = await tx.query<{ previous: CompatibilityMode | null }>(
    `WITH previous AS (SELECT mode FROM event_compatibility WHERE event_id = $1)
     INSERT INTO event_compatibility (event_id, mode, updated_at) VALUES ($1, $2, $3)
     ON CONFLICT (event_id) DO UPDATE SET mode = EXCLUDED.mode, updated_at = EXCLUDED.updated_at
     RETURNING (SELECT mode FROM previous) AS previous`,
    [eventId, mode, now],
  );
  return (rows[0]?.previous ?? DEFAULT_COMPATIBILITY_MODE) !== mode;
}

/**
 * A new revision for every version of `eventId` but `exceptId` (null: all of them): their
 * representation changed
 * (the event's compatibility mode is part of each), so their ETags must change too.
 */
export async function bumpRevisions(
  tx: Queryable,
  eventId: string,
  exceptId: string | null,
  now: Date,
): Promise<void> {
  await tx.query(
    `UPDATE event_definitions SET revision = revision + 1, updated_at = $3
      WHERE event_id = $1 AND ($2::uuid IS NULL OR id <> $2::uuid)`,
    [eventId, exceptId, now],
  );
}

/**
 * After a delete: releases the patterns no version uses any more, and the compatibility
 * setting of an event_id that has no version left.
 */
export async function releaseUnusedClaims(tx: Queryable, eventId: string): Promise<void> {
  await tx.query(
    `DELETE FROM event_pattern_owners o WHERE o.event_id = $1
       AND NOT EXISTS (SELECT 1 FROM event_definitions d WHERE d.pattern = o.pattern)`,
    [eventId],
  );
  // An event_id registered again after its last version was deleted starts from the default.
  await tx.query(
    `DELETE FROM event_compatibility c WHERE c.event_id = $1
       AND NOT EXISTS (SELECT 1 FROM event_definitions d WHERE d.event_id = c.event_id)`,
    [eventId],
  );
}

/** Recomputes which version of `eventId` a plain reference resolves to. */
export async function refreshLatest(tx: Queryable, eventId: string): Promise<void> {
  const { rows } = await tx.query<{ id: string; version: string; status: DefinitionStatus }>(
    'SELECT id, version, status FROM event_definitions WHERE event_id = $1',
    [eventId],
  );
  const latest = currentVersionOf(rows);
  await tx.query('UPDATE event_definitions SET is_latest = (id = $2) WHERE event_id = $1', [
    eventId,
    latest?.id ?? null,
  ]);
}

export async function insertDefinition(
  tx: Queryable,
  def: NewDefinition,
  now: Date,
): Promise<EventDefinition> {
  try {
    const { rows } = await tx.query<DefinitionRow>(
      `INSERT INTO event_definitions (event_id, name, description, pattern, version, source_types,
         payload_schema, examples, ui_metadata, status, created_at, updated_at, deprecated_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11, $11,
         CASE WHEN $10::varchar = 'deprecated' THEN $11::timestamp END)
       RETURNING ${COLUMNS}`,
      [
        def.event_id,
        def.name,
        def.description,
        def.pattern,
        def.version,
        json(def.source_types),
        json(def.payload_schema),
        json(def.examples),
        json(def.ui_metadata),
        def.status,
        now,
      ],
    );
    return toDefinition(rows[0]!);
  } catch (error) {
    if (error instanceof UniqueViolation) {
      throw conflict(`event ${def.event_id} version ${def.version} already exists`, 'conflict', [
        fieldError(
          'version',
          'conflict',
          `version ${def.version} of ${def.event_id} already exists`,
        ),
      ]);
    }
    throw error;
  }
}

export async function findById(
  db: Queryable,
  id: string,
  forUpdate = false,
): Promise<EventDefinition | undefined> {
  const { rows } = await db.query<DefinitionRow>(
    `SELECT ${COLUMNS} FROM event_definitions WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] && toDefinition(rows[0]);
}

export async function findByPattern(db: Queryable, pattern: string): Promise<EventDefinition[]> {
  const { rows } = await db.query<DefinitionRow>(
    `SELECT ${COLUMNS} FROM event_definitions WHERE pattern = $1`,
    [pattern],
  );
  return rows.map(toDefinition);
}

export async function findByEventId(db: Queryable, eventId: string): Promise<EventDefinition[]> {
  const { rows } = await db.query<DefinitionRow>(
    `SELECT ${COLUMNS} FROM event_definitions WHERE event_id = $1`,
    [eventId],
  );
  return rows.map(toDefinition);
}

/** Every version registered under an event_id or, failing that, under a pattern. */
export async function findVersions(db: Queryable, ref: string): Promise<EventDefinition[]> {
  const byEventId = await findByEventId(db, ref);
  return byEventId.length > 0 ? byEventId : findByPattern(db, ref);
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

export async function listDefinitions(
  db: Queryable,
  filters: DefinitionFilters,
): Promise<{ definitions: EventDefinition[]; total: number }> {
  const conditions = new SqlConditions()
    .equal('pattern', filters.pattern)
    .equal('event_id', filters.event_id)
    .equal(`ui_metadata->>'category'`, filters.category);
  if (filters.source_type !== undefined)
    conditions.add((p) => `source_types ? ${p}`, filters.source_type);
  conditions.equal('status', filters.status);
  if (filters.q !== undefined)
    conditions.add(
      (p) => `(name ILIKE ${p} OR description ILIKE ${p})`,
      `%${escapeLike(filters.q)}%`,
    );
  if (filters.latest) conditions.raw('is_latest');
  const { whereSql, params } = conditions;
  const count = await db.query<{ total: number }>(
    `SELECT count(*)::int AS total FROM event_definitions ${whereSql}`,
    params,
  );
  const { rows } = await db.query<DefinitionRow>(
    `SELECT ${COLUMNS} FROM event_definitions ${whereSql}
     ORDER BY created_at DESC, id DESC LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, filters.limit, filters.offset],
  );
  return { definitions: rows.map(toDefinition), total: count.rows[0]?.total ?? 0 };
}

export async function updateDefinition(
  tx: Queryable,
  id: string,
  changes: DefinitionChanges,
  now: Date,
): Promise<EventDefinition> {
  const { rows } = await tx.query<DefinitionRow>(
    `UPDATE event_definitions SET
       name = COALESCE($2, name),
       description = COALESCE($3, description),
       examples = COALESCE($4::jsonb, examples),
       ui_metadata = COALESCE($5::jsonb, ui_metadata),
       source_types = COALESCE($6::jsonb, source_types),
       status = COALESCE($7, status),
       payload_schema = COALESCE($8::jsonb, payload_schema),
       deprecated_at = CASE
         WHEN $7::varchar = 'deprecated' AND status <> 'deprecated' THEN $9
         WHEN $7::varchar IS NOT NULL AND $7::varchar <> 'deprecated' THEN NULL
         ELSE deprecated_at END,
       sunset_at = CASE WHEN $10 THEN ($11::timestamptz AT TIME ZONE 'UTC') ELSE sunset_at END,
       updated_at = $9,
       revision = revision + 1
     WHERE id = $1
     RETURNING ${COLUMNS}`,
    [
      id,
      changes.name ?? null,
      changes.description ?? null,
      changes.examples === undefined ? null : json(changes.examples),
      changes.ui_metadata === undefined ? null : json(changes.ui_metadata),
      changes.source_types === undefined ? null : json(changes.source_types),
      changes.status ?? null,
      changes.payload_schema === undefined ? null : json(changes.payload_schema),
      now,
      changes.sunset_at !== undefined,
      changes.sunset_at ?? null,
    ],
  );
  return toDefinition(rows[0]!);
}

export async function deleteDefinition(tx: Queryable, id: string): Promise<void> {
  await tx.query('DELETE FROM event_definitions WHERE id = $1', [id]);
}

export interface Producer {
  definition_id: string;
  version: string;
  source_type: string;
  source_id: string;
  count: number;
  first_seen_at: string;
  last_seen_at: string;
}

/** Who published deprecated versions among `definitionIds`, most recent first. */
export async function listProducers(db: Queryable, definitionIds: string[]): Promise<Producer[]> {
  const { rows } = await db.query<
    Omit<Producer, 'first_seen_at' | 'last_seen_at'> & { first_seen_at: Date; last_seen_at: Date }
  >(
    // event_count is a bigint, which pg reads as a string; as a float8 it is a number, exact
    // to 2^53 events.
    `SELECT p.definition_id, d.version, p.source_type, p.source_id, p.event_count::float8 AS count,
            p.first_seen_at, p.last_seen_at
       FROM definition_producers p JOIN event_definitions d ON d.id = p.definition_id
      WHERE p.definition_id = ANY($1::uuid[])
      ORDER BY p.last_seen_at DESC, p.source_type, p.source_id`,
    [definitionIds],
  );
  return rows.map((r) => ({
    ...r,
    first_seen_at: r.first_seen_at.toISOString(),
    last_seen_at: r.last_seen_at.toISOString(),
  }));
}

/** Every active version of every event (what a consumer of a pattern may receive). */
export async function findActive(db: Queryable): Promise<EventDefinition[]> {
  const { rows } = await db.query<DefinitionRow>(
    `SELECT ${COLUMNS} FROM event_definitions WHERE status = 'active'`,
  );
  return rows.map(toDefinition);
}
