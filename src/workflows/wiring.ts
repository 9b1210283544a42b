import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { EgressOptions } from '../delivery/egress.ts';
import type { Tracing } from '../observability/tracing.ts';
import type { SchemaCompiler } from '../schema/compiler.ts';
import { WorkflowDefinitions } from './definitions.ts';
import { WorkflowInstances } from './instances.ts';
import { DEFAULT_EXECUTOR_TIMEOUT_MS, type ExecutorKind } from './model.ts';
import { findDefinition, findInstance } from './repository.ts';
import { WorkflowService } from './service.ts';

export interface WorkflowWiring {
  /** The workflow service port (start, cancel by correlation) the routing engine calls. */
  service: WorkflowService;
  /** Workflow definitions; a change makes the service forget its cached copy. */
  definitions: WorkflowDefinitions;
  instances: WorkflowInstances;
  /** The workflow definition of an instance, if it exists (a wait may notify it). */
  definitionOfInstance(instanceId: string): Promise<string | undefined>;
  /** The executor of a workflow definition, if it exists. */
  executorOf(definitionId: string): Promise<ExecutorKind | undefined>;
  /** Where a definition's http engine is (undefined: gone, or builtin): waits resume it there. */
  engineOf(definitionId: string): Promise<{ url: string; timeoutMs: number } | undefined>;
}

/** Workflow definitions, instances and the service that starts them (builtin or http executor). */
export function wireWorkflows(deps: {
  db: Database;
  clock: Clock;
  compiler: SchemaCompiler;
  /** The egress policy an http executor's URL is checked against when written. */
  egress: EgressOptions;
  /** The egress-guarded connection pool the http executor calls through; owned by the caller. */
  dispatcher: Dispatcher;
  /** Traces the http executor's calls to engines as CLIENT spans. */
  tracing: Tracing;
  definitionCacheTtlMs: number;
}): WorkflowWiring {
  const { db, clock, compiler } = deps;
  const service = new WorkflowService({
    db,
    clock,
    compiler,
    dispatcher: deps.dispatcher,
    tracing: deps.tracing,
    definitionCacheTtlMs: deps.definitionCacheTtlMs,
  });
  return {
    service,
    definitions: new WorkflowDefinitions({
      db,
      clock,
      compiler,
      egress: deps.egress,
      onChange: (id) => service.forget(id),
    }),
    instances: new WorkflowInstances({ db, clock }),
    definitionOfInstance: async (id) => (await findInstance(db, id))?.workflowDefinitionId,
    executorOf: async (id) => (await findDefinition(db, id))?.executor,
    async engineOf(id) {
      const definition = await findDefinition(db, id);
      return definition?.executor === 'http' && definition.executorUrl
        ? {
            url: definition.executorUrl,
            timeoutMs: definition.executorTimeoutMs ?? DEFAULT_EXECUTOR_TIMEOUT_MS,
          }
        : undefined;
    },
  };
}
