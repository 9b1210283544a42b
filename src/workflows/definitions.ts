import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { fieldError, notFound, validationError } from '../errors.ts';
import { assertRevision } from '../http/etag.ts';
import { isUuid } from '../ids.ts';
import { SchemaCompileError, type SchemaCompiler } from '../schema/compiler.ts';
import {
  resolveExecutorSettings,
  type WorkflowDefinition,
  type WorkflowDefinitionChanges,
  type WorkflowDefinitionFields,
  type WorkflowDefinitionInput,
} from './model.ts';
import {
  deleteDefinition,
  findDefinition,
  insertDefinition,
  listDefinitions,
  updateDefinition,
} from './repository.ts';

export interface WorkflowDefinitionsDeps {
  db: Database;
  clock: Clock;
  compiler: SchemaCompiler;
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

  async create(input: WorkflowDefinitionInput): Promise<WorkflowDefinition> {
    const fields: WorkflowDefinitionFields = {
      name: input.name,
      version: input.version ?? '1.0.0',
      description: input.description ?? '',
      inputSchema: input.inputSchema ?? null,
      ...resolveExecutorSettings(undefined, input),
    };
    this.checkInputSchema(fields.inputSchema);
    return insertDefinition(this.deps.db, fields, this.deps.clock.now());
  }

  async get(id: string): Promise<WorkflowDefinition> {
    const found = isUuid(id) ? await findDefinition(this.deps.db, id) : undefined;
    if (!found) throw notFound(`workflow definition ${id}`);
    return found;
  }

  list(page: { limit: number; offset: number }) {
    return listDefinitions(this.deps.db, page);
  }

  async update(
    id: string,
    requiredRevision: number | '*',
    changes: WorkflowDefinitionChanges,
  ): Promise<WorkflowDefinition> {
    return this.deps.db
      .transaction(async (tx) => {
        const current = isUuid(id) ? await findDefinition(tx, id, true) : undefined;
        if (!current) throw notFound(`workflow definition ${id}`);
        assertRevision(requiredRevision, current.revision);
        const fields: WorkflowDefinitionFields = {
          name: changes.name ?? current.name,
          version: changes.version ?? current.version,
          description: changes.description ?? current.description,
          inputSchema:
            changes.inputSchema === undefined ? current.inputSchema : changes.inputSchema,
          ...resolveExecutorSettings(current, changes),
        };
        if (changes.inputSchema !== undefined) this.checkInputSchema(fields.inputSchema);
        return updateDefinition(tx, id, fields, this.deps.clock.now());
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
