import type { Database } from '../db/database.ts';
import type { CredentialCipher } from '../delivery/credentials.ts';
import { DEFAULT_WEBHOOK_TIMEOUT_MS, type Sender } from '../delivery/senders.ts';
import { traceparentOf } from '../observability/tracing.ts';
import { DEFAULT_RETRY_POLICY, nextAttemptDelay } from '../routing/retry.ts';
import type {
  ClaimedWork,
  EventlessWork,
  Lanes,
  WorkHandler,
  WorkResult,
} from '../routing/work.ts';
import { findResolution } from './repository.ts';
import { type EngineInstance, isSent } from './wait.ts';

/** A notification that is sent: to a URL (its secret sealed) or an http engine's instance. */
type SentNotify = EngineInstance | { url: string; secret: string };

/** What a wait's notification recorded: the answer of the last attempt, or why none was made. */
export interface ResumeOutcome {
  statusCode?: number;
  latencyMs?: number;
  error?: string;
  reason?: string;
}

/** The AAD a wait's secret is sealed under: tied to its wait. */
export const secretAad = (waitId: string) => `wait:${waitId}:secret`;

/** Where an http workflow engine is: its base URL and the timeout of one call. */
export interface EngineEndpoint {
  url: string;
  timeoutMs: number;
}

export interface ResumeDeps {
  db: Database;
  cipher: CredentialCipher;
  sender: Sender;
  /** The engine of a workflow definition using the http executor (undefined: gone, or builtin). */
  engineOf(definitionId: string): Promise<EngineEndpoint | undefined>;
  /** Signs the POSTs to http engines (config `workflowEngineSigningSecret`); unset: none sent. */
  engineSigningSecret: string | undefined;
}

/** One notification POST, or why none is made. */
type ResumeTarget =
  | { endpoint: string; secret: string; timeoutMs: number; headers: Record<string, string> }
  | { kind: 'skipped' | 'dead'; reason: string };

/**
 * Sends a wait's notification once it ended: a POST of `{ waitId, status, correlationKey, event }`
 * — `status` how it ended, `event` the one that resolved it, null when it timed out or was
 * cancelled (as Inngest's `waitForEvent` answers null on a timeout) — to the wait's URL, or to `{executorUrl}/resume` for an http engine's instance (adding
 * `workflowInstanceId` and `workflowDefinitionId`, and the `Idempotency-Key` the engine's
 * /start and /cancel calls carry too). Signed as webhooks are (Standard Webhooks headers;
 * `webhook-id` is the wait's id, the same on every attempt): a URL's with the wait's own
 * secret, an engine's with the deployment's engine signing secret. Sent through the
 * egress-guarded sender of deliveries. It is routing work of kind `resume`, queued in the
 * transaction that ended the wait (tied to its event when one resolved it, to none otherwise), so
 * it is retried with the delivery policy (5 attempts, 2x backoff from 1 s, a receiver's
 * Retry-After honoured) and dead-lettered like any delivery.
 */
export class ResumeHandler implements WorkHandler<ResumeOutcome> {
  readonly kind = 'resume' as const;

  constructor(private readonly deps: ResumeDeps) {}

  handle(works: ClaimedWork[], lanes: Lanes): Promise<Array<WorkResult<ResumeOutcome>>> {
    return this.resumeEach(works, lanes);
  }

  /** Notices of waits that timed out or were cancelled: sent as a resolution's, `event: null`. */
  handleEventless(works: EventlessWork[], lanes: Lanes): Promise<Array<WorkResult<ResumeOutcome>>> {
    return this.resumeEach(works, lanes);
  }

  private resumeEach(works: Array<ClaimedWork | EventlessWork>, lanes: Lanes) {
    return Promise.all(works.map((work) => lanes(() => this.resume(work))));
  }

  private async resume(work: ClaimedWork | EventlessWork): Promise<WorkResult<ResumeOutcome>> {
    const found = await findResolution(this.deps.db, work.targetId);
    if (!found || !isSent(found.notify))
      return { kind: 'skipped', outcome: { reason: 'the wait is gone' } };
    const { notify, wait } = found;
    const target = await this.targetOf(notify, wait.id);
    if ('kind' in target) {
      const outcome = { reason: target.reason };
      return target.kind === 'dead'
        ? { kind: 'dead', outcome, error: target.reason }
        : { kind: 'skipped', outcome };
    }
    const outcome = await this.deps.sender({
      deliveryId: `wait_${wait.id}`,
      endpoint: target.endpoint,
      headers: target.headers,
      secrets: [target.secret],
      body: JSON.stringify({
        waitId: wait.id,
        status: wait.status,
        correlationKey: wait.correlationKey,
        ...('url' in notify ? {} : notify),
        event: work.event,
      }),
      timeoutMs: target.timeoutMs,
      ...traceHeader(work),
    });
    switch (outcome.kind) {
      case 'delivered':
        return {
          kind: 'done',
          outcome: {
            latencyMs: outcome.latencyMs,
            ...(outcome.statusCode ? { statusCode: outcome.statusCode } : {}),
          },
        };
      case 'failed':
        return {
          kind: 'retry',
          outcome: {
            latencyMs: outcome.latencyMs,
            error: outcome.error,
            ...(outcome.statusCode ? { statusCode: outcome.statusCode } : {}),
          },
          error: outcome.error,
          delayMs: nextAttemptDelay(
            DEFAULT_RETRY_POLICY,
            work.attempts,
            Math.random,
            outcome.retryAfterMs,
          ),
        };
      case 'gone':
        return {
          kind: 'dead',
          outcome: { statusCode: 410, latencyMs: outcome.latencyMs },
          error: 'the receiver answered 410 Gone',
        };
      case 'refused':
        return { kind: 'dead', outcome: { latencyMs: outcome.latencyMs }, error: outcome.error };
    }
  }

  private async targetOf(notify: SentNotify, waitId: string): Promise<ResumeTarget> {
    if ('url' in notify)
      return {
        endpoint: notify.url,
        secret: this.deps.cipher.decrypt(notify.secret, secretAad(waitId)),
        timeoutMs: DEFAULT_WEBHOOK_TIMEOUT_MS,
        headers: {},
      };
    const engine = await this.deps.engineOf(notify.workflowDefinitionId);
    if (!engine)
      return {
        kind: 'skipped',
        reason: `workflow definition ${notify.workflowDefinitionId} is gone or no longer uses the http executor`,
      };
    if (this.deps.engineSigningSecret === undefined)
      return {
        kind: 'dead',
        reason:
          'WORKFLOW_ENGINE_SIGNING_SECRET is not set: a resume POST to an http engine is never sent unsigned',
      };
    return {
      endpoint: `${engine.url}/resume`,
      secret: this.deps.engineSigningSecret,
      timeoutMs: engine.timeoutMs,
      headers: { 'idempotency-key': `resume:${waitId}` },
    };
  }

  deadOutcome(lastOutcome: ResumeOutcome, error: string): ResumeOutcome {
    return { ...lastOutcome, error };
  }
}

/** The attempt's trace context, forwarded as `traceparent` when there is one. */
function traceHeader(work: ClaimedWork | EventlessWork): { traceparent?: string } {
  const traceparent = work.trace && traceparentOf(work.trace);
  return traceparent ? { traceparent } : {};
}
