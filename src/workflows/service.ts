import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { isUuid } from '../ids.ts';
import {
  type PayloadValidator,
  SchemaCompileError,
  type SchemaCompiler,
} from '../schema/compiler.ts';
import { BuiltinExecutor } from './builtin-executor.ts';
import { HttpExecutor } from './http-executor.ts';
import type { WorkflowDefinition } from './model.ts';
import {
  type CancelRequest,
  type CancelResult,
  type StartRequest,
  type StartResult,
  type WorkflowExecutor,
  WorkflowExecutorError,
  WorkflowInputError,
} from './port.ts';
import { findDefinition } from './repository.ts';

export interface WorkflowServiceDeps {
  db: Database;
  clock: Clock;
  /** Compiles input schemas (the same bounded, RE2-backed compiler as payload schemas). */
  compiler: SchemaCompiler;
  /** Connection pool of the http executor; owned and closed by the caller. */
  dispatcher: Dispatcher;
}

/**
 * The workflow service port as the routing engine uses it: reads the workflow definition,
 * validates a start's input against its inputSchema, and hands the call to the executor the
 * definition names. It rejects only with {@link WorkflowExecutorError}: an unexpected failure
 * (a database outage, a bug) is wrapped as retryable, so the caller has one rule to follow.
 */
export class WorkflowService implements WorkflowExecutor {
  private readonly builtin: BuiltinExecutor;
  /** Compiled input schemas by definition id, tagged with the revision they came from. */
  private readonly validators = new Map<string, { revision: number; validate: PayloadValidator }>();

  constructor(private readonly deps: WorkflowServiceDeps) {
    this.builtin = new BuiltinExecutor(deps);
  }

  startWorkflow(req: StartRequest): Promise<StartResult> {
    return this.guarded(async () => {
      const definition = await this.definition(req.definitionId);
      const problems = this.validatorOf(definition)?.(req.input) ?? [];
      if (problems.length > 0) throw new WorkflowInputError(definition.id, problems);
      return this.executorFor(definition).startWorkflow(req);
    });
  }

  cancelWorkflowsByCorrelation(req: CancelRequest): Promise<CancelResult> {
    return this.guarded(async () => {
      const definition = await this.definition(req.definitionId);
      return this.executorFor(definition).cancelWorkflowsByCorrelation(req);
    });
  }

  /** Forgets what is cached about a definition (it was deleted). */
  forget(definitionId: string): void {
    this.validators.delete(definitionId);
  }

  private async definition(id: string): Promise<WorkflowDefinition> {
    const found = isUuid(id) ? await findDefinition(this.deps.db, id) : undefined;
    if (!found) {
      this.forget(id);
      throw new WorkflowExecutorError(`workflow definition ${id} not found`, {
        code: 'definition_not_found',
        retryable: false,
      });
    }
    return found;
  }

  /** The definition is read on every call, so a newer revision recompiles its schema. */
  private validatorOf(definition: WorkflowDefinition): PayloadValidator | undefined {
    if (definition.inputSchema === null) return undefined;
    const cached = this.validators.get(definition.id);
    if (cached && cached.revision === definition.revision) return cached.validate;
    let validate: PayloadValidator;
    try {
      validate = this.deps.compiler.compile(definition.inputSchema, 'input');
    } catch (error) {
      // Checked when stored; only a stricter compiler since then gets here, and it stays so.
      if (!(error instanceof SchemaCompileError)) throw error;
      throw new WorkflowExecutorError(
        `the inputSchema of workflow definition ${definition.id} no longer compiles: ${error.message}`,
        { code: 'invalid_schema', retryable: false, cause: error },
      );
    }
    this.validators.set(definition.id, { revision: definition.revision, validate });
    return validate;
  }

  private executorFor(definition: WorkflowDefinition): WorkflowExecutor {
    if (definition.executor === 'builtin') return this.builtin;
    return new HttpExecutor(
      { url: definition.executorUrl!, timeoutMs: definition.executorTimeoutMs! },
      this.deps,
    );
  }

  private async guarded<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof WorkflowExecutorError) throw error;
      throw new WorkflowExecutorError(`workflow call failed: ${(error as Error).message}`, {
        code: 'internal',
        retryable: true,
        cause: error,
      });
    }
  }
}
