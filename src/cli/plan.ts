import semver from 'semver';
import { mask } from '../delivery/credentials.ts';
import type { Kind, Resource } from './manifest.ts';

/**
 * The plan of `eps apply` / `eps diff`: what the files want against what the service has, as
 * create / update (with the changed fields) / unchanged / delete. Pure: the service's state
 * comes in as listings (see state.ts).
 */

/** The label `eps apply` puts on what it manages; `--prune` only ever deletes such resources. */
export const MANAGED_BY = 'eps.dev/managed-by';

type Json = Record<string, unknown>;

/** What the service has, as its listings answer it. */
export interface ServiceState {
  eventDefinitions: Json[];
  workflowDefinitions: Json[];
  triggers: Json[];
  subscriptions: Json[];
  processors: Json[];
}

export interface FieldChange {
  /** Dotted path of the field, e.g. `retry_policy.max_attempts`. */
  path: string;
  before: unknown;
  after: unknown;
}

export type Step =
  | { action: 'create'; kind: Kind; key: string; resource: Resource; body: Json }
  | {
      action: 'update' | 'unchanged';
      kind: Kind;
      key: string;
      resource: Resource;
      body: Json;
      id: string;
      revision: number;
      changes: FieldChange[];
    }
  | { action: 'delete'; kind: Kind; key: string; id: string };

/** A plan that cannot be carried out as written (a released schema changed, …). */
export interface PlanProblem {
  resource: Resource;
  path: string;
  message: string;
}

export interface Plan {
  steps: Step[];
  problems: PlanProblem[];
}

export interface PlanOptions {
  /** Value of the managed-by label: which apply owns a resource. Default `eps`. */
  owner: string;
  /** Also plan deletes of managed resources the files no longer contain. */
  prune: boolean;
}

/**
 * Kinds in the order their writes must happen: what others refer to first. A processor names the
 * event definition of its output, so it comes after the definitions.
 */
export const APPLY_ORDER: readonly Kind[] = [
  'EventDefinition',
  'WorkflowDefinition',
  'WorkflowTrigger',
  'Subscription',
  'EventProcessor',
];

/**
 * Fields a whole-resource write (PUT) sets back to their default when a file leaves them out, so
 * a value on the service counts as a change to that default. Fields not listed here and absent
 * from the file (ids, times, defaults filled in by the service such as a retry policy) are
 * compared only when the file gives them.
 */
const DEFAULTS: Partial<Record<Kind, Json>> = {
  WorkflowDefinition: {
    description: null,
    inputSchema: null,
    executor: 'builtin',
    executorUrl: null,
  },
  WorkflowTrigger: {
    eventCondition: null,
    inputMapping: null,
    correlationKey: null,
    enabled: true,
    priority: null,
    description: null,
    waitFor: [],
  },
  Subscription: { format: 'native', filter: null, description: null },
  EventProcessor: { eventCondition: null, enabled: true, description: null },
};

/** Plans the files' resources against the service's state. */
export function plan(
  resources: readonly Resource[],
  state: ServiceState,
  options: PlanOptions,
): Plan {
  const result: Plan = { steps: [], problems: [] };
  const workflowRef = workflowResolver(resources, state.workflowDefinitions);
  for (const kind of APPLY_ORDER) {
    for (const resource of resources.filter((r) => r.kind === kind)) {
      const current = findCurrent(resource, state);
      const body = desiredBody(resource, options.owner);
      if (!current) {
        result.steps.push({ action: 'create', kind, key: resource.key, resource, body });
        continue;
      }
      const changes = diffResource(kind, body, current, workflowRef);
      if (kind === 'EventDefinition')
        result.problems.push(...immutableSchema(resource, current, changes));
      result.steps.push({
        action: changes.length > 0 ? 'update' : 'unchanged',
        kind,
        key: resource.key,
        resource,
        body,
        id: idOf(current),
        revision: current.revision as number,
        changes,
      });
    }
  }
  if (options.prune) result.steps.push(...pruneSteps(resources, state, options.owner));
  return result;
}

/** The API body a resource is written with: the document minus `kind`, with the managed label. */
function desiredBody(resource: Resource, owner: string): Json {
  if (resource.kind === 'EventDefinition') return { ...resource.body };
  const labels = (resource.body.labels ?? {}) as Record<string, string>;
  return { ...resource.body, labels: { ...labels, [MANAGED_BY]: owner } };
}

function findCurrent(resource: Resource, state: ServiceState): Json | undefined {
  const { body } = resource;
  switch (resource.kind) {
    case 'EventDefinition':
      return state.eventDefinitions.find(
        (d) => d.event_id === body.event_id && d.version === body.version,
      );
    case 'WorkflowDefinition':
      return state.workflowDefinitions.find(
        (d) => d.name === body.name && d.version === body.version,
      );
    case 'WorkflowTrigger':
      return state.triggers.find((t) => t.name === body.name);
    case 'Subscription':
      return state.subscriptions.find((s) => s.name === body.name);
    case 'EventProcessor':
      return state.processors.find((p) => p.name === body.name);
  }
}

/**
 * How a trigger's workflow reads in a plan: `name@version`. A bare `name` means its highest
 * version among those on the service and in the files, as the service resolves it on write.
 */
function workflowResolver(resources: readonly Resource[], workflows: readonly Json[]) {
  const versions = new Map<string, string[]>();
  const add = (name: unknown, version: unknown) => {
    if (typeof name !== 'string' || typeof version !== 'string') return;
    versions.set(name, [...(versions.get(name) ?? []), version]);
  };
  for (const w of workflows) add(w.name, w.version);
  for (const r of resources) if (r.kind === 'WorkflowDefinition') add(r.body.name, r.body.version);
  return {
    byReference(reference: string): string {
      if (reference.includes('@')) return reference;
      const highest = semver.rsort(
        (versions.get(reference) ?? []).filter((v) => semver.valid(v)),
      )[0];
      return highest ? `${reference}@${highest}` : reference;
    },
    byId(id: unknown): string {
      const found = workflows.find((w) => w.id === id);
      return found ? `${found.name}@${found.version}` : String(id);
    },
  };
}

function diffResource(
  kind: Kind,
  desired: Json,
  current: Json,
  workflowRef: ReturnType<typeof workflowResolver>,
): FieldChange[] {
  const want: Json = { ...desired };
  const have: Json = { ...current };
  switch (kind) {
    case 'EventDefinition':
      // PATCH semantics: only the fields the file gives are compared and written.
      if (typeof want.compatibility === 'string') want.compatibility = { mode: want.compatibility };
      return diffValues(pick(have, Object.keys(want)), want, '', new Set());
    case 'WorkflowDefinition':
      for (const field of ['name', 'version']) delete want[field];
      break;
    case 'WorkflowTrigger':
      delete want.name;
      if (typeof want.workflowDefinition === 'string' || want.workflowDefinitionId === undefined) {
        have.workflowDefinition = workflowRef.byId(have.workflowDefinitionId);
        want.workflowDefinition = workflowRef.byReference(String(want.workflowDefinition));
        delete want.workflowDefinitionId;
      }
      break;
    case 'Subscription':
      delete want.name;
      // Write-only: a secret in the file cannot be compared with the sealed one.
      delete want.signing_secret;
      normaliseSubscription(want, have);
      break;
    case 'EventProcessor':
      delete want.name;
      break;
  }
  for (const [field, value] of Object.entries(DEFAULTS[kind] ?? {})) {
    if (want[field] === undefined) want[field] = value;
  }
  return diffValues(
    pick(have, Object.keys(want)),
    want,
    '',
    new Set(['retry_policy', 'circuit_breaker']),
  );
}

/** Subscriptions as answered: credentials masked, `service` shown as `webhook`. */
function normaliseSubscription(want: Json, have: Json): void {
  const subscriber = { ...(want.subscriber as Json | undefined) };
  if (subscriber.type === 'service') subscriber.type = 'webhook';
  const authentication = subscriber.authentication as Json | undefined;
  if (authentication && typeof authentication.credentials === 'string') {
    subscriber.authentication = {
      ...authentication,
      credentials: mask(authentication.credentials),
    };
  }
  want.subscriber = subscriber;
  const current = have.subscriber as Json | undefined;
  if (current) {
    have.subscriber = Object.fromEntries(
      Object.entries(current).filter(([field]) => field in subscriber || field === 'endpoint'),
    );
  }
}

/** A resource's id as listings answer it (subscriptions call it `subscription_id`). */
function idOf(resource: Json): string {
  return String(resource.id ?? resource.subscription_id);
}

function pick(object: Json, fields: readonly string[]): Json {
  return Object.fromEntries(fields.map((field) => [field, object[field]]));
}

/**
 * Field-by-field differences of `want` against `have`: objects are compared key by key (absent
 * and null count as the same), everything else as JSON. Under `partial` paths only the keys the
 * file gives are compared (the service fills in the rest, e.g. a retry policy's defaults).
 */
export function diffValues(
  have: unknown,
  want: unknown,
  path: string,
  partial: ReadonlySet<string>,
): FieldChange[] {
  if (isPlainObject(want) && isPlainObject(have)) {
    const keys = new Set(Object.keys(want));
    if (!partial.has(path)) for (const key of Object.keys(have)) keys.add(key);
    return [...keys]
      .sort()
      .flatMap((key) => diffValues(have[key], want[key], path ? `${path}.${key}` : key, partial));
  }
  if (sameJson(have ?? null, want ?? null)) return [];
  return [{ path, before: have ?? null, after: want ?? null }];
}

function isPlainObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep equality of JSON values, keys in any order. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, index) => sameJson(item, b[index]))
    );
  }
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const keys = Object.keys(a);
  return (
    keys.length === Object.keys(b).length &&
    keys.every((key) => key in b && sameJson(a[key], b[key]))
  );
}

/** A released version's schema cannot change: say so before anything is written. */
function immutableSchema(resource: Resource, current: Json, changes: FieldChange[]): PlanProblem[] {
  if (current.status === 'draft') return [];
  return changes
    .filter((c) => c.path === 'payload_schema' || c.path.startsWith('payload_schema.'))
    .slice(0, 1)
    .map(() => ({
      resource,
      path: 'payload_schema',
      message: `the schema of ${resource.key} is released (${current.status}) and cannot change: register it as a new version`,
    }));
}

/**
 * Deletes for `--prune`: resources carrying this owner's managed-by label that no file holds, in
 * reverse dependency order. Event definitions are never pruned: they carry no labels, and a
 * released contract stays (deprecate it in its file instead).
 */
function pruneSteps(resources: readonly Resource[], state: ServiceState, owner: string): Step[] {
  const keys = new Set(resources.map((r) => `${r.kind} ${r.key}`));
  const managed = (r: Json) =>
    (r.labels as Record<string, string> | undefined)?.[MANAGED_BY] === owner;
  const candidates: [Kind, Json[], (r: Json) => string][] = [
    ['EventProcessor', state.processors, (r) => String(r.name)],
    ['Subscription', state.subscriptions, (r) => String(r.name)],
    ['WorkflowTrigger', state.triggers, (r) => String(r.name)],
    ['WorkflowDefinition', state.workflowDefinitions, (r) => `${r.name}@${r.version}`],
  ];
  return candidates.flatMap(([kind, list, keyOf]) =>
    list
      .filter((r) => managed(r) && !keys.has(`${kind} ${keyOf(r)}`))
      .map((r): Step => ({ action: 'delete', kind, key: keyOf(r), id: idOf(r) })),
  );
}
