import type { ErrorDetail } from '../errors.ts';
import type { RetryPolicy } from '../routing/retry.ts';
import type { Lanes } from '../routing/work.ts';

/**
 * The workflow service port: what the routing engine calls when a trigger fires. One adapter per
 * executor kind (`builtin`, `http`); `WorkflowService` picks it per workflow definition.
 *
 * Every call carries an idempotency key, one per (event, trigger): a repeated call with the same
 * key has the effect of one call, so the caller may retry whenever it does not know the outcome.
 */

export interface StartRequest {
  definitionId: string;
  input: Record<string, unknown>;
  triggerId?: string;
  triggerEventId?: string;
  correlationKey?: string;
  idempotencyKey: string;
  /** W3C trace context of the event, passed on to an external engine. */
  traceparent?: string;
}

export interface StartResult {
  instanceId: string;
  /** False when the idempotency key had already started it (the call was a repeat). */
  created: boolean;
}

export interface CancelRequest {
  definitionId: string;
  correlationKey: string;
  /** The event that asked for the cancellation (recorded on each cancelled instance). */
  eventId: string;
  idempotencyKey: string;
  traceparent?: string;
}

export interface CancelResult {
  /** Every instance this cancellation stopped, also when the call is a repeat. */
  cancelledInstanceIds: string[];
}

export interface WorkflowExecutor {
  startWorkflow(req: StartRequest): Promise<StartResult>;
  cancelWorkflowsByCorrelation(req: CancelRequest): Promise<CancelResult>;
}

/**
 * Starts many workflows at once — how the routing engine fires a round's START triggers, so
 * the builtin executor writes them in one statement. Results in the order of `reqs`; one
 * start's failure is its result and does not reject the others.
 */
export interface WorkflowBatchExecutor extends WorkflowExecutor {
  startWorkflows(
    reqs: StartRequest[],
    lanes: Lanes,
  ): Promise<Array<StartResult | WorkflowExecutorError>>;
  /**
   * Whether starts of `definitionId` may share a batch with the starts they follow in firing
   * order: only when a start of it cannot fail retryably on its own in a batch (the builtin
   * executor's one insert fails whole), so that none takes effect while an earlier one of the
   * same batch waits for its retry. False when that is not known.
   */
  startsTogether(definitionId: string): boolean;
}

export interface WorkflowExecutorErrorOptions {
  /** Stable reason, e.g. `timeout`, `http_status`, `invalid_input`, `definition_not_found`. */
  code: string;
  retryable: boolean;
  /** How long the engine asked the caller to wait (its `Retry-After`), when it said. */
  retryAfterMs?: number;
  /** The engine's HTTP status, when it answered. */
  status?: number;
  /** Field-level reasons (for `invalid_input`: each failing field of the input). */
  details?: ErrorDetail[];
  cause?: unknown;
}

/**
 * Why a start or cancel failed; the port rejects with nothing else. The caller retries only
 * when `retryable` (engine unreachable, timed out, 5xx, 408, 429, a database outage); anything
 * else would fail the same way again and is recorded as a failed firing at once.
 */
export class WorkflowExecutorError extends Error {
  override name = 'WorkflowExecutorError';
  readonly code: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;
  readonly details: ErrorDetail[];

  constructor(message: string, options: WorkflowExecutorErrorOptions) {
    super(message, { cause: options.cause });
    this.code = options.code;
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
    this.details = options.details ?? [];
  }
}

/** The mapped input does not satisfy the definition's inputSchema: never retryable. */
export class WorkflowInputError extends WorkflowExecutorError {
  override name = 'WorkflowInputError';
  constructor(definitionId: string, details: ErrorDetail[]) {
    super(`input does not match the inputSchema of workflow definition ${definitionId}`, {
      code: 'invalid_input',
      retryable: false,
      details,
    });
  }
}

/**
 * The spec's retry policy for triggering workflows, applied by the routing engine (the adapters
 * never retry on their own): at most 3 attempts, the delay doubling from 500 ms. A retryable
 * error may also carry the engine's own wish in `retryAfterMs`.
 */
export const WORKFLOW_TRIGGER_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 3,
  backoffFactor: 2,
  initialDelayMs: 500,
  maxDelayMs: 60_000,
});
