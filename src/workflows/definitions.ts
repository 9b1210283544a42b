import semver from 'semver';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { checkEndpointUrl, EgressDeniedError, type EgressOptions } from '../delivery/egress.ts';
import { fieldError, notFound, validationError } from '../errors.ts';
import { assertNoPrecondition, reviseIfChanged } from '../http/etag.ts';
import { isUuid } from '../ids.ts';
import { SchemaCompileError, type SchemaCompiler } from '../schema/compiler.ts';
import {
  normalizeExecutorUrl,
  resolveExecutorSettings,
  type WorkflowDefinition,
  type WorkflowDefinitionChanges,
  type WorkflowDefinitionFields,
  type WorkflowDefinitionInput,
} from './model.ts';
import {
  type DefinitionFilters,
  deleteDefinition,
  findDefinition,
  findDefinitionsByName,
  insertDefinition,
  listDefinitions,
  updateDefinition,
} from './repository.ts';

export interface WorkflowDefinitionsDeps {
  db: Database;
  clock: Clock;
  compiler: SchemaCompiler;
  /** The egress policy an http executor's URL is checked against, as webhook endpoints are. */
  egress: EgressOptions;
  /** Told the id of every updated or deleted definition (so caches can forget it). */
  onChange?: (id: string) => void;
}

/** Rules of workflow definitions around their SQL: schema, executor settings, concurrency. */
export class WorkflowDefinitions {
  constructor(private readonly deps: WorkflowDefinitionsDeps) {}

  /** Compiles the input schema, so a definition never holds one that cannot validate. */
  private checkInputSchema(schema: Record<string, unknown> | null): void {
    if (schema === null) return;
    try {
      this.deps.compiler.compile(schema, 'input');
    } catch (error) {
      if (!(error instanceof SchemaCompileError)) throw error;
      throw validationError('inputSchema is not a valid JSON Schema', [
        fieldError('inputSchema', 'invalid_schema', error.message),
      ]);
    }
  }

  /** The stored fields of a definition registered (or replaced) with `input`: defaults applied. */
  private fieldsOf(input: WorkflowDefinitionInput): WorkflowDefinitionFields {
    const fields: WorkflowDefinitionFields = {
      name: input.name,
      version: input.version ?? '1.0.0',
      description: input.description ?? '',
      inputSchema: input.inputSchema ?? null,
      labels: input.labels ?? {},
      ...resolveExecutorSettings(undefined, input),
    };
    this.checkInputSchema(fields.inputSchema);
    return fields;
  }

  /**
   * Refuses (400 `egress_denied` on `executorUrl`) an engine URL the egress policy would not let
   * a call reach, as a webhook endpoint is refused; every connection is checked again anyway.
   * Done outside any transaction: it may wait for DNS.
   */
  private async checkEgress(executorUrl: string | null | undefined): Promise<void> {
    if (executorUrl == null) return;
    try {
      await checkEndpointUrl(executorUrl, this.deps.egress);
    } catch (error) {
      if (!(error instanceof EgressDeniedError)) throw error;
      throw validationError('executorUrl is not allowed', [error.toDetail('executorUrl')]);
    }
  }

  async create(input: WorkflowDefinitionInput): Promise<WorkflowDefinition> {
    const fields = this.fieldsOf(input);
    await this.checkEgress(fields.executorUrl);
    return insertDefinition(this.deps.db, fields, this.deps.clock.now());
  }

  /**
   * `PUT /v1/workflow-definitions/by-name/{name}/{version}`: registers the definition, or
   * replaces every field of the existing one with `input` (absent fields take their defaults).
   */
  async upsert(
    name: string,
    version: string,
    requiredRevision: number | '*' | undefined,
    input: Omit<WorkflowDefinitionInput, 'name' | 'version'>,
  ): Promise<{ resource: WorkflowDefinition; created: boolean }> {
    const fields = this.fieldsOf({ ...input, name, version });
    await this.checkEgress(fields.executorUrl);
    const now = this.deps.clock.now();
    const result = await this.deps.db.transaction(async (tx) => {
      const current = (await findDefinitionsByName(tx, name, true)).find(
        (d) => d.version === version,
      );
      if (!current) {
        assertNoPrecondition(requiredRevision);
        return { resource: await insertDefinition(tx, fields, now), created: true };
      }
      const resource = await reviseIfChanged(requiredRevision, current, fields, () =>
        updateDefinition(tx, current.id, fields, now),
      );
      return { resource, created: false };
    });
    if (!result.created) this.deps.onChange?.(result.resource.id);
    return result;
  }

  /** By `name@version`, or by `name` alone: its highest version (semver order). */
  async resolve(ref: string): Promise<WorkflowDefinition> {
    // A name may itself hold an `@`: only a valid version after the last one is split off.
    const at = ref.lastIndexOf('@');
    const [name, version] =
      at > 0 && semver.valid(ref.slice(at + 1)) ? [ref.slice(0, at), ref.slice(at + 1)] : [ref];
    const versions = await findDefinitionsByName(this.deps.db, name);
    const found =
      version === undefined
        ? versions.sort((a, b) => semver.rcompare(a.version, b.version))[0]
        : versions.find((d) => d.version === version);
    if (!found) throw notFound(`workflow definition ${ref}`);
    return found;
  }

  async get(id: string): Promise<WorkflowDefinition> {
    const found = isUuid(id) ? await findDefinition(this.deps.db, id) : undefined;
    if (!found) throw notFound(`workflow definition ${id}`);
    return found;
  }

  list(filters: DefinitionFilters) {
    return listDefinitions(this.deps.db, filters);
  }

  async update(
    id: string,
    requiredRevision: number | '*',
    changes: WorkflowDefinitionChanges,
  ): Promise<WorkflowDefinition> {
    // Only a new URL is checked: the stored one passed when it was written.
    if (changes.executorUrl != null)
      await this.checkEgress(normalizeExecutorUrl(changes.executorUrl));
    return this.deps.db
      .transaction(async (tx) => {
        const current = isUuid(id) ? await findDefinition(tx, id, true) : undefined;
        if (!current) throw notFound(`workflow definition ${id}`);
        const fields: WorkflowDefinitionFields = {
          name: changes.name ?? current.name,
          version: changes.version ?? current.version,
          description: changes.description ?? current.description,
          inputSchema:
            changes.inputSchema === undefined ? current.inputSchema : changes.inputSchema,
          labels: changes.labels ?? current.labels,
          ...resolveExecutorSettings(current, changes),
        };
        if (changes.inputSchema !== undefined) this.checkInputSchema(fields.inputSchema);
        return reviseIfChanged(requiredRevision, current, fields, () =>
          updateDefinition(tx, id, fields, this.deps.clock.now()),
        );
      })
      .finally(() => this.deps.onChange?.(id));
  }

  async remove(id: string): Promise<void> {
    if (!isUuid(id) || !(await deleteDefinition(this.deps.db, id))) {
      throw notFound(`workflow definition ${id}`);
    }
    this.deps.onChange?.(id);
  }
}
