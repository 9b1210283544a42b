import pLimit from 'p-limit';
import type { EpsClient } from '../client/index.ts';
import { type CliContext, CliError, unwrap } from './context.ts';
import { formatPosition, type Kind } from './manifest.ts';
import { APPLY_ORDER, type FieldChange, type Plan, type ServiceState, type Step } from './plan.ts';

/**
 * The I/O half of `eps apply` / `eps diff`: reading the service's state, printing a plan, and
 * carrying it out in dependency order.
 */

type Json = Record<string, unknown>;

const PAGE = 1000;

/** Every page of a listing. */
export async function listAll(
  fetchPage: (offset: number) => Promise<{ items: Json[]; hasMore: boolean }>,
): Promise<Json[]> {
  const all: Json[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const { items, hasMore } = await fetchPage(offset);
    all.push(...items);
    if (!hasMore || items.length === 0) return all;
  }
}

type Page = { pagination?: { hasMore?: boolean } } & Record<string, unknown>;

/** Every item of one listing, whose page holds them under `key`. */
function listing(
  what: string,
  key: string,
  get: (query: { params: { query: { limit: number; offset: number } } }) => Promise<{
    data?: Page;
    error?: unknown;
    response: Response;
  }>,
): Promise<Json[]> {
  return listAll(async (offset) => {
    const page = await unwrap(get({ params: { query: { limit: PAGE, offset } } }), what);
    return { items: (page[key] ?? []) as Json[], hasMore: page.pagination?.hasMore ?? false };
  });
}

/** What the service has, read through its listings. */
export async function readState(client: EpsClient): Promise<ServiceState> {
  const [eventDefinitions, workflowDefinitions, triggers, subscriptions, processors] =
    await Promise.all([
      listing('listing event definitions', 'definitions', (q) =>
        client.GET('/v1/event-definitions', q),
      ),
      listing('listing workflow definitions', 'workflowDefinitions', (q) =>
        client.GET('/v1/workflow-definitions', q),
      ),
      listing('listing workflow triggers', 'triggers', (q) =>
        client.GET('/v1/workflow-triggers', q),
      ),
      listing('listing subscriptions', 'subscriptions', (q) => client.GET('/v1/subscriptions', q)),
      listing('listing event processors', 'processors', (q) =>
        client.GET('/v1/event-processors', q),
      ),
    ]);
  return { eventDefinitions, workflowDefinitions, triggers, subscriptions, processors };
}

const show = (value: unknown) => (value === undefined ? 'null' : JSON.stringify(value));

/** The plan as a coloured diff, one line per resource and one per changed field. */
export function printPlan(context: CliContext, plan: Plan, verbose: boolean): void {
  const { style, out } = context;
  for (const step of plan.steps) {
    const name = `${step.kind} ${step.key}`;
    switch (step.action) {
      case 'create':
        out(style.green(`+ create    ${name}`));
        break;
      case 'update':
        out(style.yellow(`~ update    ${name}`));
        for (const change of step.changes) out(describeChange(context, change));
        break;
      case 'unchanged':
        if (verbose) out(style.dim(`= unchanged ${name}`));
        break;
      case 'delete':
        out(style.red(`- delete    ${name}`));
        break;
    }
  }
  out(summary(plan));
}

function describeChange({ style }: CliContext, change: FieldChange): string {
  return `    ${change.path}: ${style.red(show(change.before))} → ${style.green(show(change.after))}`;
}

export function countActions(plan: Plan): Record<Step['action'], number> {
  const counts = { create: 0, update: 0, unchanged: 0, delete: 0 };
  for (const step of plan.steps) counts[step.action]++;
  return counts;
}

export function hasChanges(plan: Plan): boolean {
  const { create, update, delete: deletes } = countActions(plan);
  return create + update + deletes > 0;
}

function summary(plan: Plan): string {
  const counts = countActions(plan);
  if (!hasChanges(plan)) return `No changes: ${counts.unchanged} resources unchanged.`;
  return `Plan: ${counts.create} to create, ${counts.update} to update, ${counts.delete} to delete, ${counts.unchanged} unchanged.`;
}

/** Plan problems (a released schema edited, …) as file:line errors. */
export function planError(plan: Plan): CliError | undefined {
  if (plan.problems.length === 0) return undefined;
  return new CliError(
    'the plan cannot be applied',
    plan.problems.map((p) => ({
      field: formatPosition(p.resource.positionOf([p.path])),
      message: p.message,
    })),
  );
}

/** Concurrent writes within one kind; kinds one after another (definitions before triggers). */
const WRITE_CONCURRENCY = 4;
/** Above this many writes a progress bar is drawn on a terminal. */
const PROGRESS_THRESHOLD = 36;

export async function executePlan(
  context: CliContext,
  plan: Plan,
  progress: { enabled: boolean; write: (text: string) => void },
): Promise<void> {
  const writes = plan.steps.filter((s) => s.action !== 'unchanged');
  const phases: Step[][] = [
    ...APPLY_ORDER.map((kind) => writes.filter((s) => s.kind === kind && s.action !== 'delete')),
    ...[...APPLY_ORDER]
      .reverse()
      .map((kind) => writes.filter((s) => s.kind === kind && s.action === 'delete')),
  ];
  const bar = progressBar(
    writes.length,
    progress.enabled && writes.length > PROGRESS_THRESHOLD,
    progress.write,
  );
  const limit = pLimit(WRITE_CONCURRENCY);
  for (const phase of phases) {
    await Promise.all(
      phase.map((step) =>
        limit(async () => {
          await writeStep(context.client, step);
          bar.tick();
        }),
      ),
    );
  }
  bar.done();
}

function progressBar(total: number, enabled: boolean, write: (text: string) => void) {
  let done = 0;
  const width = 30;
  const draw = () => {
    const filled = Math.round((done / total) * width);
    write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
  };
  return {
    tick() {
      done++;
      if (enabled) draw();
    },
    done() {
      if (enabled) write('\n');
    },
  };
}

const ifMatch = (revision: number) => ({ 'if-match': `"${revision}"` });

/** One write: POST or PATCH for event definitions, PUT by name for the rest, DELETE for prunes. */
async function writeStep(client: EpsClient, step: Step): Promise<void> {
  const what = `${step.action} ${step.kind} ${step.key}`;
  if (step.action === 'unchanged') return;
  if (step.action === 'delete') {
    await deleteResource(client, step.kind, step.id, what);
    return;
  }
  const body = step.body as never;
  // An update names the revision it planned against: a change made meanwhile is a 412.
  const headers = step.action === 'update' ? ifMatch(step.revision) : {};
  switch (step.kind) {
    case 'EventDefinition': {
      if (step.action === 'create') {
        await unwrap(client.POST('/v1/event-definitions', { body }), what);
        return;
      }
      const changed = Object.fromEntries(
        [...new Set(step.changes.map((c) => c.path.split('.')[0]!))].map((field) => [
          field,
          step.body[field],
        ]),
      );
      await unwrap(
        client.PATCH('/v1/event-definitions/{ref}', {
          params: { path: { ref: step.id }, header: ifMatch(step.revision) } as never,
          body: changed as never,
        }),
        what,
      );
      return;
    }
    case 'WorkflowDefinition': {
      const { name, version, ...rest } = step.body;
      await unwrap(
        client.PUT('/v1/by-name/workflow-definitions/{name}/{version}', {
          params: { path: { name: String(name), version: String(version) }, header: headers },
          body: rest as never,
        }),
        what,
      );
      return;
    }
    case 'WorkflowTrigger':
    case 'Subscription':
    case 'EventProcessor': {
      const { name, ...rest } = step.body;
      await unwrap(
        client.PUT(BY_NAME[step.kind], {
          params: { path: { name: String(name) }, header: headers },
          body: rest as never,
        }),
        what,
      );
      return;
    }
  }
}

/** The create-or-replace route of each kind keyed by a bare name. */
const BY_NAME = {
  WorkflowTrigger: '/v1/by-name/workflow-triggers/{name}',
  Subscription: '/v1/by-name/subscriptions/{name}',
  EventProcessor: '/v1/by-name/event-processors/{name}',
} as const;

async function deleteResource(
  client: EpsClient,
  kind: Kind,
  id: string,
  what: string,
): Promise<void> {
  const path = { params: { path: { id } } };
  switch (kind) {
    case 'WorkflowDefinition':
      await unwrap(client.DELETE('/v1/workflow-definitions/{id}', path), what);
      return;
    case 'WorkflowTrigger':
      await unwrap(client.DELETE('/v1/workflow-triggers/{id}', path), what);
      return;
    case 'Subscription':
      await unwrap(client.DELETE('/v1/subscriptions/{id}', path), what);
      return;
    case 'EventProcessor':
      await unwrap(client.DELETE('/v1/event-processors/{id}', path), what);
      return;
    case 'EventDefinition':
      await unwrap(
        client.DELETE('/v1/event-definitions/{ref}', { params: { path: { ref: id } } }),
        what,
      );
      return;
  }
}
