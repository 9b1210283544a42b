import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { ErrorDetail } from '../errors.ts';
import { isUuid } from '../ids.ts';
import type { Tracing } from '../observability/tracing.ts';
import type { Lanes } from '../routing/work.ts';
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
  type WorkflowBatchExecutor,
  type WorkflowExecutor,
  WorkflowExecutorError,
  WorkflowInputError,
} from './port.ts';
import { findDefinition, findRunningByCorrelation } from './repository.ts';

export interface WorkflowServiceDeps {
  db: Database;
  clock: Clock;
  /** Compiles input schemas (the same bounded, RE2-backed compiler as payload schemas). */
  compiler: SchemaCompiler;
  /** Connection pool of the http executor; owned and closed by the caller. */
  dispatcher: Dispatcher;
  /** Traces the http executor's calls as CLIENT spans (none without it). */
  tracing?: Tracing;
  /**
   * How long a definition read for a firing is reused, in ms (the routing engine fires
   * thousands per second). Changes made through this process apply at once ({@link forget});
   * those of another process sharing the database within this time. Default 0: read every time.
   */
  definitionCacheTtlMs?: number;
}

/**
 * The workflow service port as the routing engine uses it: reads the workflow definition,
 * validates a start's input against its inputSchema, and hands the call to the executor the
 * definition names. It rejects only with {@link WorkflowExecutorError}: an unexpected failure
 * (a database outage, a bug) is wrapped as retryable, so the caller has one rule to follow.
 */
export class WorkflowService implements WorkflowBatchExecutor {
  private readonly builtin: BuiltinExecutor;
  /** Compiled input schemas by definition id, tagged with the revision they came from. */
  private readonly validators = new Map<string, { revision: number; validate: PayloadValidator }>();
  private readonly definitions = new Map<string, { definition: WorkflowDefinition; at: number }>();

  constructor(private readonly deps: WorkflowServiceDeps) {
    this.builtin = new BuiltinExecutor(deps);
  }

  startWorkflow(req: StartRequest): Promise<StartResult> {
    return this.guarded(async () => {
      const definition = this.checkInput(await this.definition(req.definitionId), req);
      return this.executorFor(definition).startWorkflow(req);
    });
  }

  /**
   * Reads each definition once, validates every input, and starts the builtin ones in one
   * insert; http ones are called one by one, at most `lanes` at a time.
   */
  async startWorkflows(
    reqs: StartRequest[],
    lanes: Lanes,
  ): Promise<Array<StartResult | WorkflowExecutorError>> {
    const definitions = new Map<string, WorkflowDefinition | WorkflowExecutorError>();
    for (const id of new Set(reqs.map((r) => r.definitionId)))
      definitions.set(id, await this.settled(() => this.definition(id)));
    const results: Array<StartResult | WorkflowExecutorError> = [];
    const builtin: number[] = [];
    const calls: Array<Promise<void>> = [];
    for (const [i, req] of reqs.entries()) {
      const definition = definitions.get(req.definitionId)!;
      const checked =
        definition instanceof WorkflowExecutorError
          ? definition
          : this.settledSync(() => this.checkInput(definition, req));
      if (checked instanceof WorkflowExecutorError) results[i] = checked;
      else if (checked.executor === 'builtin') builtin.push(i);
      else
        calls.push(
          lanes(() => this.settled(() => this.executorFor(checked).startWorkflow(req))).then(
            (result) => {
              results[i] = result;
            },
          ),
        );
    }
    calls.push(
      this.settled(() => this.builtin.startWorkflows(builtin.map((i) => reqs[i]!))).then(
        (started) => {
          for (const [j, i] of builtin.entries())
            results[i] = started instanceof WorkflowExecutorError ? started : started[j]!;
        },
      ),
    );
    await Promise.all(calls);
    return results;
  }

  cancelWorkflowsByCorrelation(req: CancelRequest): Promise<CancelResult> {
    return this.guarded(async () => {
      const definition = await this.definition(req.definitionId);
      return this.executorFor(definition).cancelWorkflowsByCorrelation(req);
    });
  }

  /**
   * What a start with `input` would be told about it, without starting anything: the input's
   * problems against the definition's inputSchema (none: it would be accepted).
   */
  async inputProblems(definitionId: string, input: unknown): Promise<ErrorDetail[]> {
    const definition = await this.definition(definitionId);
    return this.validatorOf(definition)?.(input) ?? [];
  }

  /** The running instances a cancel for (definition, key) would cancel, without cancelling. */
  runningInstances(definitionId: string, correlationKey: string): Promise<string[]> {
    return findRunningByCorrelation(this.deps.db, definitionId, correlationKey);
  }

  /** Forgets what is cached about a definition (it was changed or deleted). */
  forget(definitionId: string): void {
    this.validators.delete(definitionId);
    this.definitions.delete(definitionId);
  }

  /**
   * A builtin definition read within the cache time: its starts are one insert with the batch's
   * other builtin starts, and its read needs no database (which could fail for it alone).
   */
  startsTogether(definitionId: string): boolean {
    return this.cached(definitionId)?.executor === 'builtin';
  }

  private cached(id: string): WorkflowDefinition | undefined {
    const cached = this.definitions.get(id);
    const now = this.deps.clock.now().getTime();
    if (cached && now - cached.at < (this.deps.definitionCacheTtlMs ?? 0)) return cached.definition;
    return undefined;
  }

  private async definition(id: string): Promise<WorkflowDefinition> {
    const cached = this.cached(id);
    if (cached) return cached;
    const now = this.deps.clock.now().getTime();
    const found = isUuid(id) ? await findDefinition(this.deps.db, id) : undefined;
    if (found) this.definitions.set(id, { definition: found, at: now });
    else {
      this.forget(id);
      throw new WorkflowExecutorError(`workflow definition ${id} not found`, {
        code: 'definition_not_found',
        retryable: false,
      });
    }
    return found;
  }

  /** A newer revision of the definition recompiles its schema. */
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

  /** The definition, when the start's input satisfies its inputSchema. */
  private checkInput(definition: WorkflowDefinition, req: StartRequest): WorkflowDefinition {
    const problems = this.validatorOf(definition)?.(req.input) ?? [];
    if (problems.length > 0) throw new WorkflowInputError(definition.id, problems);
    return definition;
  }

  /** The call's result, or the error it rejects with (as {@link guarded} words it). */
  private settled<T>(call: () => Promise<T>): Promise<T | WorkflowExecutorError> {
    return this.guarded(call).catch((error: WorkflowExecutorError) => error);
  }

  private settledSync<T>(call: () => T): T | WorkflowExecutorError {
    try {
      return call();
    } catch (error) {
      return toExecutorError(error);
    }
  }

  private async guarded<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw toExecutorError(error);
    }
  }
}

/** Unexpected failures (a database outage, a bug) become retryable executor errors. */
function toExecutorError(error: unknown): WorkflowExecutorError {
  if (error instanceof WorkflowExecutorError) return error;
  return new WorkflowExecutorError(`workflow call failed: ${(error as Error).message}`, {
    code: 'internal',
    retryable: true,
    cause: error,
  });
}
