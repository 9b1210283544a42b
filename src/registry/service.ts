import { isDeepStrictEqual } from 'node:util';
import type { Clock } from '../clock.ts';
import type { Database, Queryable } from '../db/database.ts';
import { conflict, type ErrorDetail, fieldError, notFound, validationError } from '../errors.ts';
import { reviseIfChanged } from '../http/etag.ts';
import { isUuid } from '../ids.ts';
import {
  type PayloadValidator,
  SchemaCompileError,
  type SchemaCompiler,
} from '../schema/compiler.ts';
import {
  assertTransition,
  byVersionDescending,
  colorDetails,
  type EventDefinition,
  latestOf,
} from './definition.ts';
import {
  claimPattern,
  type DefinitionChanges,
  type DefinitionFilters,
  deleteDefinition,
  findById,
  findVersions,
  insertDefinition,
  listDefinitions,
  listProducers,
  lockEventId,
  type NewDefinition,
  type Producer,
  refreshLatest,
  releaseUnusedPatterns,
  updateDefinition,
} from './repository.ts';
import type { ValidatorCache } from './validator-cache.ts';

export interface RegistryDeps {
  db: Database;
  clock: Clock;
  compiler: SchemaCompiler;
  validators: ValidatorCache;
  /** Told the pattern of every definition that changed (cache invalidation). */
  onChange?: (pattern: string) => void;
}

type Checked = Pick<EventDefinition, 'payload_schema' | 'examples' | 'ui_metadata'>;

/** The registry's rules around its SQL: validation, versions, status moves, concurrency. */
export class Registry {
  constructor(private readonly deps: RegistryDeps) {}

  /**
   * Compiles the schema and checks examples and colors; every failure is a detail. The compiled
   * validator is not cached: the write may still fail, and the cache fills from stored rows.
   */
  private validateContent(def: Checked): void {
    let validate: PayloadValidator;
    try {
      validate = this.deps.compiler.compile(def.payload_schema);
    } catch (error) {
      if (!(error instanceof SchemaCompileError)) throw error;
      throw validationError('payload_schema is not a valid JSON Schema', [
        fieldError('payload_schema', 'invalid_schema', error.message),
      ]);
    }
    const details: ErrorDetail[] = [
      ...def.examples.flatMap((example, i) =>
        validate(example).map((d) => ({
          ...d,
          field: d.field.replace(/^payload/, `examples[${i}]`),
        })),
      ),
      ...colorDetails(def.ui_metadata),
    ];
    if (details.length > 0) throw validationError('event definition is invalid', details);
  }

  async create(input: NewDefinition): Promise<EventDefinition> {
    this.validateContent(input);
    return this.deps.db
      .transaction(async (tx) => {
        await lockEventId(tx, input.event_id);
        await claimPattern(tx, input.pattern, input.event_id);
        const created = await insertDefinition(tx, input, this.deps.clock.now());
        await refreshLatest(tx, input.event_id);
        return created;
      })
      .finally(() => this.changed(input.pattern));
  }

  private changed(pattern: string): void {
    this.deps.onChange?.(pattern);
  }

  /** By UUID, event_id or pattern: the latest version, or `version` when given. */
  async get(ref: string, version?: string): Promise<EventDefinition> {
    const versions = await this.versionsOf(ref);
    const found =
      version === undefined ? latestOf(versions) : versions.find((d) => d.version === version);
    if (!found)
      throw notFound(
        version === undefined ? `event definition ${ref}` : `version ${version} of ${ref}`,
      );
    return found;
  }

  /** Every version of the referenced event, newest first. */
  async versions(ref: string): Promise<EventDefinition[]> {
    const versions = await this.versionsOf(ref);
    if (versions.length === 0) throw notFound(`event definition ${ref}`);
    return versions.sort(byVersionDescending);
  }

  /** Sources that published deprecated versions of the referenced event. */
  async producers(ref: string): Promise<Producer[]> {
    const versions = await this.versions(ref);
    return listProducers(
      this.deps.db,
      versions.map((d) => d.id),
    );
  }

  private async versionsOf(ref: string): Promise<EventDefinition[]> {
    if (!isUuid(ref)) return findVersions(this.deps.db, ref);
    const byId = await findById(this.deps.db, ref);
    return byId ? findVersions(this.deps.db, byId.event_id) : [];
  }

  async getById(id: string): Promise<EventDefinition> {
    const found = isUuid(id) ? await findById(this.deps.db, id) : undefined;
    if (!found) throw notFound(`event definition ${id}`);
    return found;
  }

  list(filters: DefinitionFilters) {
    return listDefinitions(this.deps.db, filters);
  }

  private async lockedById(tx: Queryable, id: string): Promise<EventDefinition> {
    const found = isUuid(id) ? await findById(tx, id, true) : undefined;
    if (!found) throw notFound(`event definition ${id}`);
    await lockEventId(tx, found.event_id);
    return found;
  }

  async update(
    id: string,
    requiredRevision: number | '*',
    changes: DefinitionChanges,
  ): Promise<EventDefinition> {
    let changed = false;
    const updated = await this.deps.db.transaction(async (tx) => {
      const current = await this.lockedById(tx, id);
      // Times compare as instants: "…T00:00:00Z" and "…T00:00:00.000Z" are the same sunset.
      const next =
        typeof changes.sunset_at === 'string'
          ? { ...changes, sunset_at: new Date(changes.sunset_at).toISOString() }
          : changes;
      return reviseIfChanged(requiredRevision, current, next, async () => {
        changed = true;
        return this.write(tx, current, changes);
      });
    });
    if (!changed) return updated;
    this.deps.validators.invalidate(updated.pattern, updated.version);
    this.changed(updated.pattern);
    return updated;
  }

  /** Checks and stores `changes` to a locked, revision-checked definition. */
  private async write(
    tx: Queryable,
    current: EventDefinition,
    changes: DefinitionChanges,
  ): Promise<EventDefinition> {
    const schemaChanged =
      changes.payload_schema !== undefined &&
      !isDeepStrictEqual(changes.payload_schema, current.payload_schema);
    if (schemaChanged && current.status !== 'draft') {
      throw conflict(
        `the payload_schema of ${current.status} version ${current.version} is immutable; register a new version`,
        'immutable_schema',
        [fieldError('payload_schema', 'immutable_schema', 'only drafts may change their schema')],
      );
    }
    if (changes.status !== undefined) assertTransition(current.status, changes.status);
    const next = { ...current, ...changes };
    if (schemaChanged || changes.examples !== undefined || changes.ui_metadata !== undefined) {
      this.validateContent(next);
    }
    const result = await updateDefinition(tx, current.id, changes, this.deps.clock.now());
    if (changes.status !== undefined) await refreshLatest(tx, current.event_id);
    return result;
  }

  async remove(id: string): Promise<void> {
    const removed = await this.deps.db.transaction(async (tx) => {
      const current = await this.lockedById(tx, id);
      if (current.status !== 'draft') {
        throw conflict(
          `version ${current.version} is ${current.status}; only drafts can be deleted (deprecate it instead)`,
        );
      }
      await deleteDefinition(tx, id);
      await refreshLatest(tx, current.event_id);
      await releaseUnusedPatterns(tx, current.event_id);
      return current;
    });
    this.deps.validators.invalidate(removed.pattern, removed.version);
    this.changed(removed.pattern);
  }
}
