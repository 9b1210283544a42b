import { createSecretKey, type KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type Dispatcher, errors as undiciErrors } from 'undici';
import type { Clock } from '../clock.ts';
import { BoundedMemo } from '../memo.ts';
import { parseRetryAfter } from '../routing/retry.ts';
import { EgressDeniedError, egressRefusalOf } from './egress.ts';
import type { NatsPublisher } from './nats.ts';
import { secretKey, signatureHeaders } from './signature.ts';

/**
 * The senders: one delivery attempt to one subscriber, classified. They never retry, never
 * throw for a failed attempt and keep no state; the delivery handler owns retries, the circuit
 * breaker and the delivery log, and decides from the {@link AttemptOutcome}.
 *
 * Latency is measured with `performance.now()` (monotonic, so neither a wall-clock step nor a
 * test clock distorts it): from the start of the attempt until the receiver's status line and
 * headers arrived (webhooks) or JetStream acknowledged (queues), or until the attempt failed.
 */

/** One attempt to deliver one event to one subscriber. */
export interface DeliveryRequest {
  /**
   * Stable per (event, subscription), identical on every attempt: the `webhook-id` receivers
   * deduplicate by, and the `Nats-Msg-Id` JetStream deduplicates by. No `.` (it is signed
   * dot-delimited, see signature.ts).
   */
  deliveryId: string;
  /** The webhook URL (http or https), or the NATS subject of a queue subscriber. */
  endpoint: string;
  /**
   * The subscriber's custom headers, decrypted. Webhooks only. Names are case-insensitive; those
   * in {@link RESERVED_WEBHOOK_HEADERS} and the header of a configured `authentication` are
   * dropped, since the service sets them.
   */
  headers: Record<string, string>;
  /**
   * Decrypted credentials, webhooks only: `basic` takes `"user:password"` and sends
   * `Authorization: Basic <base64 of it>`; `bearer` sends `Authorization: Bearer <credentials>`;
   * `api-key` sends `X-API-Key: <credentials>` (a key under another header name is a custom
   * header: headers are encrypted at rest like credentials).
   */
  authentication?: { type: 'basic' | 'bearer' | 'api-key'; credentials: string };
  /**
   * Active signing secrets (see `activeSecrets`): one, or two during a rotation's grace period;
   * every one signs. Webhooks only.
   */
  secrets: string[];
  /** The event as the subscription receives it, serialised: sent byte for byte and signed as is. */
  body: string;
  /** The body's media type; default `application/json`. */
  contentType?: string;
  /**
   * Headers that describe the event (a binary-mode CloudEvent's `ce-*` attributes): sent on
   * webhooks and as NATS headers, over any custom header of the same name.
   */
  eventHeaders?: Record<string, string>;
  /**
   * W3C trace context of the outgoing call's span (in the trace of the request that published
   * the event), sent as the `traceparent` header when present.
   */
  traceparent?: string;
  /**
   * Limit on the whole webhook attempt (connect, send, response), in ms; use
   * {@link DEFAULT_WEBHOOK_TIMEOUT_MS} unless the subscription says otherwise. Queue attempts are
   * bounded by the publisher's own acknowledgement timeout instead (nats.ts, default 5000).
   */
  timeoutMs: number;
}

/** What one attempt came to. `latencyMs` is measured as described at the top of this module. */
export type AttemptOutcome =
  /** A 2xx within the timeout, or a JetStream acknowledgement (also for a duplicate). */
  | { kind: 'delivered'; statusCode?: number; latencyMs: number }
  /**
   * Worth retrying: any non-2xx status other than 410 (3xx included, as redirects are not
   * followed), a timeout, a connection error, a failed publish. `retryAfterMs` is the receiver's
   * `Retry-After` (seconds or HTTP date) when a response carried one.
   */
  | { kind: 'failed'; statusCode?: number; latencyMs: number; error: string; retryAfterMs?: number }
  /** The receiver answered 410 Gone: the caller disables the subscription. */
  | { kind: 'gone'; statusCode: 410; latencyMs: number }
  /**
   * Permanent, never retried: the egress policy refused the address, the endpoint is not an
   * http(s) URL or NATS subject, or the request cannot be built (a header value no HTTP request
   * can carry, a secret or delivery id that cannot be signed).
   */
  | { kind: 'refused'; error: string; latencyMs: number };

/** Sends one attempt; resolves to its outcome and never rejects. */
export type Sender = ((req: DeliveryRequest) => Promise<AttemptOutcome>) & {
  /**
   * The sender bounds its attempts in flight itself (the webhook threads: sender-threads.ts),
   * so a caller hands it attempts without holding a lane of its own for them.
   */
  readonly limitsInFlight?: true;
};

/** The spec's webhook timeout: 15 s. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 15_000;

/** The `user-agent` of every webhook request. */
export const WEBHOOK_USER_AGENT = 'event-processing-service/0.1';

/**
 * Most bytes of a response body read: a failure quotes them in its error; the rest is
 * discarded (the connection is then closed rather than reused, which is cheaper than reading
 * an arbitrarily large body).
 */
export const MAX_RESPONSE_BODY_BYTES = 4096;

/** Most parsed endpoints and decoded signing keys a webhook sender keeps. */
const MEMO_ENTRIES = 10_000;

/**
 * Header names (lower case) a subscriber's custom headers cannot set; such entries are dropped
 * at send time (the subscription API may also refuse them up front). Two groups:
 * - what the service itself asserts: the Standard Webhooks headers (a custom `webhook-id` would
 *   break receivers' deduplication and verification), `content-type`, `user-agent` and
 *   `traceparent` (the outgoing call's span);
 * - what the HTTP client owns (message framing and routing), which undici either refuses or
 *   would send inconsistently with the body: `host`, `content-length`, `transfer-encoding`,
 *   `connection`, `keep-alive`, `upgrade`, `expect`, `te`, `trailer`, `proxy-connection`.
 * `authorization` and `x-api-key` are dropped only when `authentication` sets them; without
 * it a custom `Authorization` passes, for schemes the service does not model.
 */
export const RESERVED_WEBHOOK_HEADERS: ReadonlySet<string> = new Set([
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'content-type',
  'user-agent',
  'traceparent',
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'proxy-connection',
]);

export interface WebhookSenderDeps {
  /**
   * The connection pool requests go through: in production `createEgressDispatcher` (egress.ts),
   * which checks every connection against the SSRF policy. Owned and closed by the caller.
   */
  dispatcher: Dispatcher;
  /** Gives `webhook-timestamp` (the attempt's time) and reads a `Retry-After` HTTP date. */
  clock: Clock;
}

/**
 * The webhook sender: POSTs `body` as `application/json` to `endpoint`, signed with every
 * active secret. Redirects are not followed (undici's `dispatch` has no redirect handling); a
 * 3xx is a failure. The response body is read up to {@link MAX_RESPONSE_BODY_BYTES} and then
 * discarded, so a keep-alive connection is reused when the body is small.
 */
export function createWebhookSender({ dispatcher, clock }: WebhookSenderDeps): Sender {
  // Parsing the endpoint and decoding the signing keys on every attempt showed in the delivery
  // profile; both are pure functions of text that rarely changes.
  const targets = new BoundedMemo<string, WebhookTarget>(MEMO_ENTRIES);
  // A KeyObject, not the decoded Buffer: a small Buffer is a slice of a shared 8 KiB pool
  // slab, which a kept key would keep alive.
  const keys = new BoundedMemo<string, KeyObject>(MEMO_ENTRIES);
  const keyOf = (secret: string) => keys.get(secret, (s) => createSecretKey(secretKey(s)));
  return async (req) => {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);

    let target: WebhookTarget;
    let headers: Record<string, string>;
    try {
      target = targets.get(req.endpoint, webhookTarget);
      headers = webhookHeaders(req, clock.now(), keyOf);
    } catch (error) {
      return { kind: 'refused', error: (error as Error).message, latencyMs: elapsed() };
    }

    return new Promise((resolve) => {
      const handler = new WebhookAttempt(req.timeoutMs, clock, elapsed, resolve);
      dispatcher.dispatch(
        { origin: target.origin, path: target.path, method: 'POST', headers, body: req.body },
        handler,
      );
    });
  };
}

/** Where a webhook goes, in the form the dispatcher takes (no URL parsing per request). */
interface WebhookTarget {
  origin: string;
  path: string;
}

/**
 * One webhook attempt as undici's dispatch handler: its outcome once the answer's status line
 * and headers and a bounded prefix of its body arrived, or once it failed.
 *
 * A handler rather than `dispatcher.request`: `request` wraps every answer in a Readable stream
 * (read here through an async iterator) and every attempt in an AsyncResource and an abort
 * listener, which together cost the sender more CPU time than the rest of undici's work per
 * attempt (bench/delivery-cost.ts). What it did is kept:
 * - one timer bounds the whole attempt (connect, send, response, body prefix); at its end the
 *   attempt is aborted (a queued attempt as soon as it reaches a connection, as `request`'s
 *   signal did) and its connection closed;
 * - a body is read up to {@link MAX_RESPONSE_BODY_BYTES}; beyond that the attempt is aborted,
 *   which closes the connection instead of reading an arbitrarily large body; a small body is
 *   read to its end, so a keep-alive connection is reused;
 * - the status decides: a 2xx stays delivered however its body ends.
 */
class WebhookAttempt implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private readonly timer: NodeJS.Timeout;
  private timedOut = false;
  private settled = false;
  private answer: Answer | undefined;
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly timeoutMs: number,
    private readonly clock: Clock,
    private readonly elapsed: () => number,
    private readonly resolve: (outcome: AttemptOutcome) => void,
  ) {
    // A plain timer: AbortSignal.timeout cost about 12 µs of the event loop per attempt.
    this.timer = setTimeout(() => this.expire(), timeoutMs).unref();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.timedOut) controller.abort(this.timeoutError());
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    // 1xx answers are informational: the real one follows.
    if (statusCode >= 200) this.answer = { statusCode, headers, latencyMs: this.elapsed() };
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    this.chunks.push(chunk.subarray(0, Math.max(0, MAX_RESPONSE_BODY_BYTES - this.size)));
    this.size += chunk.length;
    if (this.size <= MAX_RESPONSE_BODY_BYTES) return;
    // A multi-byte character cut at the limit decodes to U+FFFD; drop it.
    this.answered(this.bodyText().replace(/\uFFFD$/, ''));
    controller.abort(new Error('the answer is longer than the sender reads'));
  }

  onResponseEnd(): void {
    this.answered(this.bodyText());
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    // After the answer's head, only the body failed (timeout, reset): the status decides.
    if (this.answer) this.answered('');
    else this.settle(transportOutcome(error, this.timedOut, this.timeoutMs, this.elapsed()));
  }

  private expire(): void {
    this.timedOut = true;
    this.controller?.abort(this.timeoutError());
  }

  private timeoutError(): Error {
    return new Error(`timeout: no response within ${this.timeoutMs} ms`);
  }

  private bodyText(): string {
    return this.chunks.length === 0 ? '' : Buffer.concat(this.chunks).toString('utf8');
  }

  private answered(text: string): void {
    if (!this.answer) return;
    this.settle(answerOutcome(this.answer, text, this.clock));
  }

  private settle(outcome: AttemptOutcome): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.resolve(outcome);
  }
}

/** A webhook's answer as far as the sender reads it before its body. */
interface Answer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  latencyMs: number;
}

/** What a webhook's answer (status, headers, the start of its body) makes of the attempt. */
function answerOutcome(
  { statusCode, headers, latencyMs }: Answer,
  text: string,
  clock: Clock,
): AttemptOutcome {
  if (statusCode >= 200 && statusCode < 300) {
    return { kind: 'delivered', statusCode, latencyMs };
  }
  if (statusCode === 410) return { kind: 'gone', statusCode, latencyMs };
  const retryAfterMs = parseRetryAfter(firstHeader(headers['retry-after']), clock.now().getTime());
  return {
    kind: 'failed',
    statusCode,
    latencyMs,
    error: statusError(statusCode, firstHeader(headers.location), text),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}

/** http(s) URLs only; anything else is refused the way the egress policy words it. */
function webhookTarget(endpoint: string): WebhookTarget {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new EgressDeniedError('invalid_url', endpoint);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new EgressDeniedError('unsupported_scheme', url.protocol.replace(/:$/, ''));
  }
  // As undici's own request(url) does: the fragment is not sent, nor is any userinfo.
  return { origin: url.origin, path: `${url.pathname}${url.search}` };
}

/**
 * Custom headers minus the reserved ones, then everything the service sets, so that ours win
 * even if the filter were to miss a spelling. Throws when the request cannot be signed.
 */
export function webhookHeaders(
  req: DeliveryRequest,
  now: Date,
  keyOf: (secret: string) => KeyObject,
): Record<string, string> {
  const auth = req.authentication && authenticationHeader(req.authentication);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    const lower = name.toLowerCase();
    if (RESERVED_WEBHOOK_HEADERS.has(lower) || lower === auth?.name) continue;
    headers[lower] = value;
  }
  if (auth) headers[auth.name] = auth.value;
  Object.assign(headers, req.eventHeaders);
  if (req.traceparent !== undefined) headers.traceparent = req.traceparent;
  headers['content-type'] = req.contentType ?? 'application/json';
  headers['user-agent'] = WEBHOOK_USER_AGENT;
  try {
    Object.assign(
      headers,
      signatureHeaders({
        msgId: req.deliveryId,
        timestamp: now,
        body: req.body,
        secrets: req.secrets,
        keyOf,
      }),
    );
  } catch (error) {
    throw new Error(`cannot sign the delivery: ${(error as Error).message}`, { cause: error });
  }
  return headers;
}

function authenticationHeader({
  type,
  credentials,
}: NonNullable<DeliveryRequest['authentication']>): { name: string; value: string } {
  switch (type) {
    case 'basic':
      // RFC 7617 with charset=UTF-8: the credentials' UTF-8 bytes, base64-encoded.
      return {
        name: 'authorization',
        value: `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`,
      };
    case 'bearer':
      return { name: 'authorization', value: `Bearer ${credentials}` };
    case 'api-key':
      return { name: 'x-api-key', value: credentials };
    default:
      // Unreachable for typed callers; a value read from storage is not checked by the compiler.
      throw new Error(`unsupported authentication type ${JSON.stringify(type satisfies never)}`);
  }
}

function transportOutcome(
  error: unknown,
  timedOut: boolean,
  timeoutMs: number,
  latencyMs: number,
): AttemptOutcome {
  const denied = egressRefusalOf(error);
  if (denied) return { kind: 'refused', error: denied.message, latencyMs };
  if (timedOut) {
    return { kind: 'failed', latencyMs, error: `timeout: no response within ${timeoutMs} ms` };
  }
  // undici refuses a request it cannot write, e.g. a header value with a line break: the same
  // request would be refused on every attempt.
  if (error instanceof undiciErrors.InvalidArgumentError) {
    return { kind: 'refused', latencyMs, error: `invalid request: ${error.message}` };
  }
  // Refused, reset, unresolvable, TLS: the receiver may be back by the next attempt.
  const message = error instanceof Error ? error.message : String(error);
  return { kind: 'failed', latencyMs, error: `connection failed: ${message}` };
}

function statusError(status: number, location: string | undefined, body: string): string {
  const quoted = body.replace(/\s+/g, ' ').trim();
  const redirect =
    status >= 300 && status < 400
      ? ` redirect${location ? ` to ${location.slice(0, 200)}` : ''} (redirects are not followed)`
      : '';
  return `HTTP ${status}${redirect}${quoted ? `: ${quoted}` : ''}`;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export interface QueueSenderDeps {
  /** The JetStream publisher (`createNatsPublisher`), owned and closed by the caller. */
  publisher: Pick<NatsPublisher, 'publish'>;
}

/**
 * The queue sender: publishes `body` to the subject `endpoint` with `Nats-Msg-Id` = deliveryId
 * (JetStream stores a repeat within its duplicate window once and acknowledges it as a
 * duplicate, which is delivered too) and `traceparent` when given. Custom headers,
 * authentication and signing secrets are webhook concerns and not sent: the NATS connection is
 * the service's own. Any publish failure (no stream for the subject, no acknowledgement in
 * time, connection down) is a retryable failure, except a subject no NATS message can have
 * (empty or with whitespace), which is refused.
 */
export function createQueueSender({ publisher }: QueueSenderDeps): Sender {
  return async (req) => {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      await publisher.publish(req.endpoint, req.body, req.deliveryId, queueHeaders(req));
      return { kind: 'delivered', latencyMs: elapsed() };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // nats.ts wraps the client's error; its cause says whether the subject itself is invalid.
      const cause = error instanceof Error ? error.cause : undefined;
      if (cause instanceof Error && cause.name === 'InvalidSubjectError') {
        return { kind: 'refused', latencyMs: elapsed(), error: message };
      }
      return { kind: 'failed', latencyMs: elapsed(), error: message };
    }
  };
}

/** The NATS headers of a queue delivery besides `Nats-Msg-Id` (the delivery id). */
export function queueHeaders(req: DeliveryRequest): Record<string, string> {
  return {
    ...req.eventHeaders,
    ...(req.contentType === undefined ? {} : { 'content-type': req.contentType }),
    ...(req.traceparent === undefined ? {} : { traceparent: req.traceparent }),
  };
}
