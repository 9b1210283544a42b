import type { Database } from '../db/database.ts';
import type { CredentialCipher } from '../delivery/credentials.ts';
import { DEFAULT_WEBHOOK_TIMEOUT_MS, type Sender } from '../delivery/senders.ts';
import { traceparentOf } from '../observability/tracing.ts';
import { DEFAULT_RETRY_POLICY, nextAttemptDelay } from '../routing/retry.ts';
import type { ClaimedWork, Lanes, WorkHandler, WorkResult } from '../routing/work.ts';
import { findResolution } from './repository.ts';

/** What a wait's notification recorded: the answer of the last attempt, or why none was made. */
export interface ResumeOutcome {
  statusCode?: number;
  latencyMs?: number;
  error?: string;
  reason?: string;
}

/** The AAD a wait's secret is sealed under: tied to its wait. */
export const secretAad = (waitId: string) => `wait:${waitId}:secret`;

/**
 * Sends a resolved wait's notification: a POST of `{ waitId, status, correlationKey, event }`
 * to the wait's URL, signed as webhooks are (Standard Webhooks headers; `webhook-id` is the
 * wait's id, the same on every attempt), through the egress-guarded sender of deliveries. It is
 * routing work of kind `resume`, queued in the transaction that resolved the wait, so it is
 * retried with the delivery policy (5 attempts, 2x backoff from 1 s, a receiver's Retry-After
 * honoured) and dead-lettered like any delivery.
 */
export class ResumeHandler implements WorkHandler<ResumeOutcome> {
  readonly kind = 'resume' as const;

  constructor(private readonly deps: { db: Database; cipher: CredentialCipher; sender: Sender }) {}

  handle(works: ClaimedWork[], lanes: Lanes): Promise<Array<WorkResult<ResumeOutcome>>> {
    return Promise.all(works.map((work) => lanes(() => this.resume(work))));
  }

  private async resume(work: ClaimedWork): Promise<WorkResult<ResumeOutcome>> {
    const found = await findResolution(this.deps.db, work.targetId);
    if (!found || !('url' in found.notify))
      return { kind: 'skipped', outcome: { reason: 'the wait is gone' } };
    const { notify, wait } = found;
    const outcome = await this.deps.sender({
      deliveryId: `wait_${wait.id}`,
      endpoint: notify.url,
      headers: {},
      secrets: [this.deps.cipher.decrypt(notify.secret, secretAad(wait.id))],
      body: JSON.stringify({
        waitId: wait.id,
        status: wait.status,
        correlationKey: wait.correlationKey,
        event: work.event,
      }),
      timeoutMs: DEFAULT_WEBHOOK_TIMEOUT_MS,
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

  deadOutcome(lastOutcome: ResumeOutcome, error: string): ResumeOutcome {
    return { ...lastOutcome, error };
  }
}

/** The attempt's trace context, forwarded as `traceparent` when there is one. */
function traceHeader(work: ClaimedWork): { traceparent?: string } {
  const traceparent = work.trace && traceparentOf(work.trace);
  return traceparent ? { traceparent } : {};
}
