import { type Span, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { type Dispatcher, request, errors as undiciErrors } from 'undici';
import type { Clock } from '../clock.ts';
import { egressRefusalOf } from '../delivery/egress.ts';
import { readBodyPrefix } from '../delivery/response-body.ts';
import { httpClientAttributes, type Tracing, traceparentOf } from '../observability/tracing.ts';
import { parseRetryAfter } from '../routing/retry.ts';
import {
  type CancelRequest,
  type CancelResult,
  type StartRequest,
  type StartResult,
  type WorkflowExecutor,
  WorkflowExecutorError,
} from './port.ts';

/**
 * The `http` executor: an external workflow engine reached by two JSON POSTs (the contract is
 * in the README, "Workflow executors"). It makes exactly one attempt per call and classifies the
 * failure as retryable or not; the routing engine owns retries. Redirects are never followed
 * (undici's `request` does not follow them, and a 3xx is refused as a misconfigured URL).
 */

export interface HttpExecutorTarget {
  /** Base URL of the engine, without a trailing slash; `/start` and `/cancel` are appended. */
  url: string;
  /** Limit on one whole call (connect, send, response headers and body), in ms. */
  timeoutMs: number;
}

export interface HttpExecutorDeps {
  /** The connection pool (undici Agent) calls go through; owned and closed by the caller. */
  dispatcher: Dispatcher;
  /** For `Retry-After` given as an HTTP date. */
  clock: Clock;
  /**
   * Each call is an HTTP CLIENT span under the caller's `traceparent` (the firing's span), and
   * the engine gets the call's own `traceparent`, as webhooks do. Without it the caller's
   * `traceparent` is passed on as it is.
   */
  tracing?: Tracing;
}

/** Most bytes of an engine's response that are read; a longer success body is malformed. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** Most characters of an engine's error body quoted in the error message. */
const QUOTED_ERROR_CHARS = 500;
/** Instance ids an engine returns are stored by the caller: bounded like event ids. */
const MAX_INSTANCE_ID_LENGTH = 255;

const isInstanceId = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= MAX_INSTANCE_ID_LENGTH;

export class HttpExecutor implements WorkflowExecutor {
  constructor(
    private readonly target: HttpExecutorTarget,
    private readonly deps: HttpExecutorDeps,
  ) {}

  async startWorkflow(req: StartRequest): Promise<StartResult> {
    const body = await this.post('/start', req, {
      definitionId: req.definitionId,
      input: req.input,
      triggerId: req.triggerId,
      triggerEventId: req.triggerEventId,
      correlationKey: req.correlationKey,
    });
    const instanceId = (body as { instanceId?: unknown } | null)?.instanceId;
    if (!isInstanceId(instanceId)) {
      throw this.malformed('/start', `instanceId must be a string of 1 to 255 characters`);
    }
    // The contract has no way to tell a repeat apart; the Idempotency-Key made it harmless.
    return { instanceId, created: true };
  }

  async cancelWorkflowsByCorrelation(req: CancelRequest): Promise<CancelResult> {
    const body = await this.post('/cancel', req, {
      definitionId: req.definitionId,
      correlationKey: req.correlationKey,
      eventId: req.eventId,
    });
    const ids = (body as { cancelledInstanceIds?: unknown } | null)?.cancelledInstanceIds;
    if (!Array.isArray(ids) || !ids.every(isInstanceId)) {
      throw this.malformed('/cancel', 'cancelledInstanceIds must be an array of instance ids');
    }
    return { cancelledInstanceIds: ids };
  }

  /**
   * A success body that is not what the contract says is retryable: the engine may well have
   * acted, and asking again under the same Idempotency-Key is the only safe way to learn the
   * outcome (a transient proxy page or a truncated body answers properly the next time).
   */
  private malformed(path: string, reason: string): WorkflowExecutorError {
    return new WorkflowExecutorError(
      `workflow engine answered POST ${this.target.url}${path} with a malformed body: ${reason}`,
      { code: 'malformed_response', retryable: true },
    );
  }

  private async post(
    path: '/start' | '/cancel',
    req: { idempotencyKey: string; traceparent?: string },
    payload: Record<string, unknown>,
  ): Promise<unknown> {
    const url = `${this.target.url}${path}`;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
      'idempotency-key': req.idempotencyKey,
    };
    const span = this.clientSpan(url, req.traceparent);
    const traceparent = span ? traceparentOf(span.context) : req.traceparent;
    if (traceparent !== undefined) headers.traceparent = traceparent;
    try {
      return await this.call(path, url, headers, payload, span?.span);
    } catch (error) {
      // Every failure of a call is a WorkflowExecutorError (transportError, assertSuccess, malformed).
      if (error instanceof WorkflowExecutorError) {
        span?.span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
        span?.span.setAttribute('error.type', error.code);
      }
      throw error;
    } finally {
      span?.span.end();
    }
  }

  /** The call's CLIENT span under the firing's, when traced. */
  private clientSpan(url: string, parent: string | undefined) {
    const tracing = this.deps.tracing;
    if (!tracing) return undefined;
    const { span, context } = tracing.startSpan(
      'POST',
      tracing.extract(parent === undefined ? {} : { traceparent: parent }),
      {
        kind: SpanKind.CLIENT,
        attributes: tracing.exporting ? httpClientAttributes('POST', url) : undefined,
      },
    );
    return { span, context };
  }

  private async call(
    path: '/start' | '/cancel',
    url: string,
    headers: Record<string, string>,
    payload: Record<string, unknown>,
    span: Span | undefined,
  ): Promise<unknown> {
    const signal = AbortSignal.timeout(this.target.timeoutMs);
    let response: Dispatcher.ResponseData;
    let text: { text: string; complete: boolean };
    try {
      response = await request(url, {
        dispatcher: this.deps.dispatcher,
        method: 'POST',
        headers,
        body: JSON.stringify(payload),
        signal,
      });
      span?.setAttribute('http.response.status_code', response.statusCode);
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      text = await readBodyPrefix(response.body, ok ? MAX_RESPONSE_BYTES : QUOTED_ERROR_CHARS * 4);
    } catch (error) {
      throw this.transportError(url, error, signal);
    }
    this.assertSuccess(url, response, text.text);
    if (!text.complete) throw this.malformed(path, `longer than ${MAX_RESPONSE_BYTES} bytes`);
    try {
      return JSON.parse(text.text);
    } catch {
      throw this.malformed(path, 'not JSON');
    }
  }

  private transportError(url: string, error: unknown, signal: AbortSignal): WorkflowExecutorError {
    if (signal.aborted) {
      return new WorkflowExecutorError(
        `workflow engine did not answer POST ${url} within ${this.target.timeoutMs} ms`,
        { code: 'timeout', retryable: true, cause: error },
      );
    }
    // A header value the engine could never accept (e.g. a line break in a key): no retry helps.
    if (error instanceof undiciErrors.InvalidArgumentError) {
      return new WorkflowExecutorError(`cannot call POST ${url}: ${error.message}`, {
        code: 'invalid_request',
        retryable: false,
        cause: error,
      });
    }
    // The egress policy refused the address: permanent, as for webhooks; fix URL or allowlist.
    const denied = egressRefusalOf(error);
    if (denied) {
      return new WorkflowExecutorError(`cannot call POST ${url}: ${denied.message}`, {
        code: denied.code,
        retryable: false,
        cause: error,
      });
    }
    // Refused, reset, unresolvable, TLS: the engine may be back by the next attempt.
    return new WorkflowExecutorError(
      `workflow engine unreachable at POST ${url}: ${(error as Error).message}`,
      { code: 'unreachable', retryable: true, cause: error },
    );
  }

  private assertSuccess(url: string, response: Dispatcher.ResponseData, body: string): void {
    const status = response.statusCode;
    if (status >= 200 && status < 300) return;
    const quoted = body.slice(0, QUOTED_ERROR_CHARS).trim();
    const header = response.headers['retry-after'];
    if (status >= 300 && status < 400) {
      throw new WorkflowExecutorError(
        `workflow engine redirected POST ${url} (${status}); redirects are not followed, fix executorUrl`,
        { code: 'redirect', retryable: false, status },
      );
    }
    const retryable = status >= 500 || status === 408 || status === 429;
    throw new WorkflowExecutorError(
      `workflow engine answered POST ${url} with ${status}${quoted ? `: ${quoted}` : ''}`,
      {
        code: 'http_status',
        retryable,
        status,
        retryAfterMs: retryable
          ? parseRetryAfter(
              Array.isArray(header) ? header[0] : header,
              this.deps.clock.now().getTime(),
            )
          : undefined,
      },
    );
  }
}
