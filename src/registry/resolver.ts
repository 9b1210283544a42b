import type { Clock } from '../clock.ts';
import type { Queryable } from '../db/database.ts';
import { fieldError, validationError } from '../errors.ts';
import type { PayloadValidator } from '../schema/compiler.ts';
import { byVersionDescending, defaultVersionOf, type EventDefinition } from './definition.ts';
import { findByPattern } from './repository.ts';
import type { ValidatorCache } from './validator-cache.ts';

/** The definition an incoming event is held to. */
export interface ResolvedDefinition {
  definition: EventDefinition;
  validate: PayloadValidator;
}

export interface ResolverOptions {
  /**
   * How long the versions of a pattern are served from memory before they are read again, in
   * ms. Changes made through this instance apply at once; changes made through another
   * instance sharing the database apply within this time. Env `DEFINITION_CACHE_TTL_MS`,
   * default 2000.
   */
  ttlMs: number;
}

/** A pattern's versions, highest first, and its default version, worked out once per load. */
interface PatternVersions {
  versions: EventDefinition[];
  defaultVersion: EventDefinition | undefined;
}

/**
 * Finds the definition for (pattern, version?) on the ingest hot path without a database round
 * trip per event: the versions of each pattern are cached briefly (with the default version
 * picked when they are loaded, not per event: comparing semver strings parses them), their
 * validators for good.
 */
export class DefinitionResolver {
  private readonly byPattern = new Map<
    string,
    { loadedAt: number; versions: Promise<PatternVersions> }
  >();

  constructor(
    private readonly db: Queryable,
    private readonly validators: ValidatorCache,
    private readonly clock: Clock,
    private readonly options: ResolverOptions,
  ) {}

  invalidate(pattern: string): void {
    this.byPattern.delete(pattern);
  }

  private versionsOf(pattern: string): Promise<PatternVersions> {
    const now = this.clock.now().getTime();
    const cached = this.byPattern.get(pattern);
    if (cached && now - cached.loadedAt < this.options.ttlMs) return cached.versions;
    const versions = findByPattern(this.db, pattern).then((found) => ({
      versions: found.sort(byVersionDescending),
      defaultVersion: defaultVersionOf(found),
    }));
    // A failed load is not cached: the next event tries again.
    versions.catch(() => this.byPattern.delete(pattern));
    this.byPattern.set(pattern, { loadedAt: now, versions });
    return versions;
  }

  /** The given version, else the default version; 400 naming the field otherwise. */
  async resolve(pattern: string, version: string | undefined): Promise<ResolvedDefinition> {
    const { versions, defaultVersion } = await this.versionsOf(pattern);
    if (versions.length === 0) {
      throw validationError(`no event definition for pattern ${pattern}`, [
        fieldError(
          'pattern',
          'unknown_pattern',
          `no event definition is registered for ${pattern}`,
        ),
      ]);
    }
    const definition = version === undefined ? defaultVersion : this.exact(versions, version);
    if (!definition) {
      throw validationError(`pattern ${pattern} has no active version`, [
        fieldError(
          'pattern',
          'no_active_version',
          `${pattern} has only draft or deprecated versions; name a version`,
        ),
      ]);
    }
    return { definition, validate: this.validators.get(definition) };
  }

  private exact(versions: EventDefinition[], version: string): EventDefinition {
    const found = versions.find((d) => d.version === version);
    if (!found) {
      throw validationError(`unknown version ${version}`, [
        fieldError(
          'version',
          'unknown_version',
          `version ${version} is not registered for this pattern`,
        ),
      ]);
    }
    if (found.status === 'draft') {
      throw validationError(`version ${version} is a draft`, [
        fieldError(
          'version',
          'draft_version',
          `version ${version} is a draft; activate it before publishing`,
        ),
      ]);
    }
    return found;
  }
}
