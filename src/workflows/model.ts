import { conflict, fieldError, validationError } from '../errors.ts';

/** Workflow definitions and instances as sent on the wire (camelCase, like the spec's triggers). */

export const EXECUTORS = ['builtin', 'http'] as const;
export type ExecutorKind = (typeof EXECUTORS)[number];

/** The per-definition timeout of the http executor when none is given, in ms. */
export const DEFAULT_EXECUTOR_TIMEOUT_MS = 10_000;
/**
 * Bounds of `executorTimeoutMs`. The upper bound keeps one attempt well inside any sensible work
 * lease of the routing engine (a claim must outlive the call it covers).
 */
export const EXECUTOR_TIMEOUT_BOUNDS = { min: 100, max: 60_000 } as const;

export interface ExecutorSettings {
  executor: ExecutorKind;
  /** Base URL of the external engine (http only; no trailing slash), else null. */
  executorUrl: string | null;
  /** Timeout of one call to the engine in ms (http only), else null. */
  executorTimeoutMs: number | null;
}

export interface WorkflowDefinition extends ExecutorSettings {
  id: string;
  name: string;
  version: string;
  description: string;
  /** JSON Schema the input of a start must satisfy, or null (any object). */
  inputSchema: Record<string, unknown> | null;
  /** Labels (string → string); `eps apply` marks the definitions it manages here. */
  labels: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  /** Optimistic concurrency: increases on every change; carried by the ETag. */
  revision: number;
}

/** What a client sends to register a definition; absent fields take their defaults. */
export interface WorkflowDefinitionInput {
  name: string;
  version?: string;
  description?: string;
  inputSchema?: Record<string, unknown> | null;
  executor?: ExecutorKind;
  executorUrl?: string;
  executorTimeoutMs?: number;
  labels?: Record<string, string>;
}

/** Fields a PATCH may change (`inputSchema: null` removes the schema). */
export type WorkflowDefinitionChanges = Partial<WorkflowDefinitionInput>;

/** A definition's stored fields, before the database gives it an id and times. */
export type WorkflowDefinitionFields = Omit<
  WorkflowDefinition,
  'id' | 'createdAt' | 'updatedAt' | 'revision'
>;

export const INSTANCE_STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

export interface WorkflowInstance {
  id: string;
  workflowDefinitionId: string;
  status: InstanceStatus;
  correlationKey: string | null;
  input: Record<string, unknown>;
  /** What the engine reported on completion, or null. */
  output: unknown;
  /** Why the instance failed, or null. */
  error: string | null;
  triggerId: string | null;
  triggerEventId: string | null;
  cancelledByEventId: string | null;
  idempotencyKey: string | null;
  createdAt: string;
  updatedAt: string;
}

const invalidUrl = (message: string) =>
  validationError('executorUrl is invalid', [fieldError('executorUrl', 'invalid_url', message)]);

/**
 * An engine's base URL, checked and normalised (no trailing slash, so `/start` can be appended).
 * Credentials, query strings and fragments are refused: the URL is shown by every read of the
 * definition, and the adapter appends paths to it.
 */
export function normalizeExecutorUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidUrl('must be an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw invalidUrl(`must use http or https, not ${url.protocol.slice(0, -1)}`);
  if (url.username !== '' || url.password !== '') throw invalidUrl('must not contain credentials');
  if (url.search !== '' || url.hash !== '' || raw.includes('?') || raw.includes('#'))
    throw invalidUrl('must not have a query string or fragment');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * The executor settings after `changes` are applied to `current` (none when registering).
 * Switching to `builtin` drops the http settings; switching to `http` needs a URL; the timeout
 * defaults to {@link DEFAULT_EXECUTOR_TIMEOUT_MS}. Contradictions are a 400 naming the field.
 */
export function resolveExecutorSettings(
  current: ExecutorSettings | undefined,
  changes: Pick<WorkflowDefinitionChanges, 'executor' | 'executorUrl' | 'executorTimeoutMs'>,
): ExecutorSettings {
  const executor = changes.executor ?? current?.executor ?? 'builtin';
  if (executor === 'builtin') {
    const misplaced = (['executorUrl', 'executorTimeoutMs'] as const).filter(
      (field) => changes[field] !== undefined,
    );
    if (misplaced.length > 0) {
      throw validationError(
        'executor settings are invalid',
        misplaced.map((field) =>
          fieldError(field, 'executor_mismatch', 'applies only to executor http'),
        ),
      );
    }
    return { executor, executorUrl: null, executorTimeoutMs: null };
  }
  const keep = current?.executor === 'http' ? current : undefined;
  const rawUrl = changes.executorUrl ?? keep?.executorUrl;
  if (rawUrl == null) {
    throw validationError('executor settings are invalid', [
      fieldError('executorUrl', 'required', 'is required for executor http'),
    ]);
  }
  return {
    executor,
    executorUrl: normalizeExecutorUrl(rawUrl),
    executorTimeoutMs:
      changes.executorTimeoutMs ?? keep?.executorTimeoutMs ?? DEFAULT_EXECUTOR_TIMEOUT_MS,
  };
}

/** An engine may report only on a running instance: completed, failed and cancelled are final. */
export const notRunning = (instance: WorkflowInstance, to: InstanceStatus) =>
  conflict(
    `workflow instance ${instance.id} is ${instance.status}; it cannot become ${to}`,
    'invalid_transition',
    [fieldError('status', 'invalid_transition', 'only a running instance can complete or fail')],
  );
