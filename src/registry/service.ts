import { isDeepStrictEqual } from 'node:util';
import semver from 'semver';
import type { Clock } from '../clock.ts';
import type { CompatibilityMode, CompatibilityReport } from '../compatibility/check.ts';
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
  currentVersionOf,
  type EventDefinition,
} from './definition.ts';
import { assertEvolution, checkEvolution } from './evolution.ts';
import { assertNoImpact, type ConsumersOf, type ImpactEntry, impactOf } from './impact.ts';
import {
  bumpRevisions,
  claimPattern,
  type DefinitionChanges,
  type DefinitionFilters,
  deleteDefinition,
  findActive,
  findByEventId,
  findById,
  findVersions,
  insertDefinition,
  listDefinitions,
  listProducers,
  lockEventId,
  type NewDefinition,
  type Producer,
  refreshLatest,
  releaseUnusedClaims,
  setCompatibilityMode,
  updateDefinition,
} from './repository.ts';
import type { ValidatorCache } from './validator-cache.ts';

export interface RegistryDeps {
  db: Database;
  clock: Clock;
  compiler: SchemaCompiler;
  validators: ValidatorCache;
  /** Where the consumers a change may break are found: one source per consuming capability. */
  consumers: ConsumersOf[];
  /** Told the pattern of every definition that changed (cache invalidation). */
  onChange?: (pattern: string) => void;
}

type Checked = Pick<EventDefinition, 'payload_schema' | 'examples' | 'ui_metadata'>;

/**
 * A definition with the compatibility check its registration or release passed, and the
 * consumers the change impacts.
 */
export type CheckedDefinition = Omit<EventDefinition, 'compatibility'> & {
  compatibility: CompatibilityReport;
  impact: ImpactEntry[];
};

/** A changed definition; `impact` when the change moved it in or out of the active versions. */
export type ChangedDefinition =
  | EventDefinition
  | CheckedDefinition
  | (EventDefinition & { impact: ImpactEntry[] });

/** A schema to check against an event's versions, as if registered as `version`. */
export interface CompatibilityQuestion {
  payload_schema: Record<string, unknown>;
  /** Default: the next minor version after the highest released one. */
  version?: string;
}

/** The registry's rules around its SQL: validation, versions, status moves, concurrency. */
export class Registry {
  constructor(private readonly deps: RegistryDeps) {}

  /**
   * Compiles the schema and checks examples and colors; every failure is a detail. The compiled
   * validator is not cached: the write may still fail, and the cache fills from stored rows.
   */
  private validateContent(def: Checked): void {
    const validate = this.compileSchema(def.payload_schema);
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

  private compileSchema(schema: Record<string, unknown>): PayloadValidator {
    try {
      return this.deps.compiler.compile(schema);
    } catch (error) {
      if (!(error instanceof SchemaCompileError)) throw error;
      throw validationError('payload_schema is not a valid JSON Schema', [
        fieldError('payload_schema', 'invalid_schema', error.message),
      ]);
    }
  }

  /**
   * Registers a version. Unless it is a draft, its schema must be compatible with the earlier
   * versions under the event's mode (`mode`, when given, becomes the event's mode first). An
   * active version reports the consumers it impacts; `strict` refuses it when there are any.
   */
  async create(
    input: NewDefinition,
    mode?: CompatibilityMode,
    strict = false,
  ): Promise<CheckedDefinition> {
    this.validateContent(input);
    return this.deps.db
      .transaction(async (tx) => {
        await lockEventId(tx, input.event_id);
        await claimPattern(tx, input.pattern, input.event_id);
        const now = this.deps.clock.now();
        const earlier = await findByEventId(tx, input.event_id);
        if (mode !== undefined && (await setCompatibilityMode(tx, input.event_id, mode, now))) {
          await bumpRevisions(tx, input.event_id, null, now);
        }
        const activeBefore = await findActive(tx);
        const created = await insertDefinition(tx, input, now);
        const check = checkEvolution(created.compatibility.mode, input, earlier);
        if (input.status !== 'draft') assertEvolution(check, input.version);
        const impact = await this.impactOf(tx, created.pattern, activeBefore, [
          ...activeBefore,
          created,
        ]);
        assertNoImpact(impact, strict);
        await refreshLatest(tx, input.event_id);
        return { ...created, compatibility: check.report, impact };
      })
      .finally(() => this.changed(input.pattern));
  }

  /** The consumers of `pattern` that `after` (the active versions) breaks and `before` did not. */
  private async impactOf(
    db: Queryable,
    pattern: string,
    before: EventDefinition[],
    after: EventDefinition[],
  ): Promise<ImpactEntry[]> {
    const consumers = [];
    for (const consumersOf of this.deps.consumers)
      consumers.push(...(await consumersOf(db, pattern)));
    return impactOf(consumers, pattern, before, after);
  }

  /** What registering `question.version` with `question.payload_schema` would be told. */
  async checkCompatibility(
    ref: string,
    question: CompatibilityQuestion,
  ): Promise<CompatibilityReport & { version: string; impact: ImpactEntry[] }> {
    const versions = await this.versions(ref);
    this.compileSchema(question.payload_schema);
    const version = question.version ?? nextMinorOf(versions);
    const candidate = { version, payload_schema: question.payload_schema };
    const mode = versions[0]!.compatibility.mode;
    const others = versions.filter((d) => d.version !== version);
    const { event_id, pattern } = versions[0]!;
    const active = await findActive(this.deps.db);
    const replaced = (d: EventDefinition) => d.event_id === event_id && d.version === version;
    const asActive = { ...versions[0]!, ...candidate, status: 'active' as const };
    const impact = await this.impactOf(this.deps.db, pattern, active, [
      ...active.filter((d) => !replaced(d)),
      asActive,
    ]);
    return { ...checkEvolution(mode, candidate, others).report, version, impact };
  }

  private changed(pattern: string): void {
    this.deps.onChange?.(pattern);
  }

  /**
   * By UUID: that version; by event_id or pattern: the current version (see
   * {@link currentVersionOf}); `version`, when given, picks a version of the event instead.
   */
  async get(ref: string, version?: string): Promise<EventDefinition> {
    if (version === undefined && isUuid(ref)) return this.getById(ref);
    const versions = await this.versionsOf(ref);
    const found =
      version === undefined
        ? currentVersionOf(versions)
        : versions.find((d) => d.version === version);
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

  /**
   * Changes a version. `mode` changes the event's compatibility mode (for all its versions);
   * releasing a draft (→ active) checks its schema like registering a released version does,
   * and answers with that check.
   */
  async update(
    id: string,
    requiredRevision: number | '*',
    changes: DefinitionChanges,
    mode?: CompatibilityMode,
    strict = false,
  ): Promise<ChangedDefinition> {
    let changed = false;
    const updated = await this.deps.db.transaction(async (tx) => {
      const current = await this.lockedById(tx, id);
      // Times compare as instants: "…T00:00:00Z" and "…T00:00:00.000Z" are the same sunset.
      const next = {
        ...(typeof changes.sunset_at === 'string'
          ? { ...changes, sunset_at: new Date(changes.sunset_at).toISOString() }
          : changes),
        ...(mode === undefined ? {} : { compatibility: { mode } }),
      };
      return reviseIfChanged<ChangedDefinition>(requiredRevision, current, next, async () => {
        changed = true;
        return this.write(tx, current, changes, mode, strict);
      });
    });
    if (!changed) return updated;
    this.deps.validators.invalidate(updated.pattern, updated.version);
    this.changed(updated.pattern);
    return updated;
  }

  /**
   * Checks and stores `changes` to a locked, revision-checked definition. A new `mode` is the
   * event's (every version gets a new revision); releasing a draft checks its schema. A status
   * change reports the consumers it impacts (`strict` refuses it when there are any).
   */
  private async write(
    tx: Queryable,
    current: EventDefinition,
    changes: DefinitionChanges,
    mode: CompatibilityMode | undefined,
    strict: boolean,
  ): Promise<ChangedDefinition> {
    const now = this.deps.clock.now();
    if (mode !== undefined && (await setCompatibilityMode(tx, current.event_id, mode, now))) {
      await bumpRevisions(tx, current.event_id, current.id, now);
    }
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
    const statusChanged = changes.status !== undefined && changes.status !== current.status;
    const activeBefore = statusChanged ? await findActive(tx) : [];
    const result = await updateDefinition(tx, current.id, changes, now);
    if (changes.status !== undefined) await refreshLatest(tx, current.event_id);
    if (!statusChanged) return result;
    const impact = await this.impactOf(tx, current.pattern, activeBefore, [
      ...activeBefore.filter((d) => d.id !== current.id),
      ...(result.status === 'active' ? [result] : []),
    ]);
    if (current.status === 'draft') {
      const others = (await findByEventId(tx, current.event_id)).filter((d) => d.id !== current.id);
      const check = checkEvolution(result.compatibility.mode, result, others);
      assertEvolution(check, result.version);
      assertNoImpact(impact, strict);
      return { ...result, compatibility: check.report, impact };
    }
    assertNoImpact(impact, strict);
    return { ...result, impact };
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
      await releaseUnusedClaims(tx, current.event_id);
      return current;
    });
    this.deps.validators.invalidate(removed.pattern, removed.version);
    this.changed(removed.pattern);
  }
}

/** The version a schema is checked as when none is named: the next minor after the released. */
function nextMinorOf(versions: EventDefinition[]): string {
  const released = versions.filter((d) => d.status !== 'draft').sort(byVersionDescending)[0];
  return released ? (semver.inc(released.version, 'minor') ?? released.version) : '1.0.0';
}
