import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { type EncodedEvent, type EventEncoding, encodeEvent } from '../cloudevents/format.ts';
import type { Database } from '../db/database.ts';
import { createCircuitBreaker } from '../delivery/circuit-breaker.ts';
import type { AttemptOutcome, DeliveryRequest, Sender } from '../delivery/senders.ts';
import type { EventInstance } from '../events/event.ts';
import { newUuidV7 } from '../ids.ts';
import type { Metrics } from '../observability/metrics.ts';
import { SpanAttributes, type Tracing, traceparentOf } from '../observability/tracing.ts';
import { nextAttemptDelay } from '../routing/retry.ts';
import type { RoutingIndex } from '../routing/routing-index.ts';
import type { ClaimedWork, Lanes, WorkHandler, WorkResult } from '../routing/work.ts';
import { outgoingAttributes, outgoingSpan, recordOutcome } from './delivery-spans.ts';
import { type AttemptRow, findSubscriptions, insertAttempts, updateHealth } from './repository.ts';
import type { Subscriptions } from './service.ts';
import type { StoredSubscription } from './subscription.ts';
import type { SubscriptionTargets } from './targets.ts';

export interface DeliveryOptions {
  /** Webhook timeout, in ms. Env `DELIVERY_TIMEOUT_MS`, default 15,000. */
  timeoutMs: number;
  /** A subscription failing for longer than this is disabled, in ms. Env `DELIVERY_DISABLE_AFTER_MS`, default 5 days. */
  disableAfterMs: number;
  /** How often a paused subscription's deliveries look again, in ms. Default 10,000. */
  pausedRecheckMs: number;
}

export interface DeliveryDeps {
  db: Database;
  clock: Clock;
  index: RoutingIndex;
  targets: SubscriptionTargets;
  subscriptions: Subscriptions;
  senders: Record<StoredSubscription['subscriberType'], Sender>;
  metrics: Metrics;
  /** Starts each attempt's outgoing span (HTTP CLIENT, NATS PRODUCER) under the attempt's span. */
  tracing: Tracing;
  logger: Logger;
  /** Publishes `subscription.disabled` through the service itself. */
  announceDisabled(subscription: StoredSubscription, reason: string): Promise<void>;
  options: DeliveryOptions;
}

/**
 * A delivery's outcome as its work row (and a dead letter's `last_outcome`) records it: the
 * attempt's outcome under `status`, or why no attempt was made.
 */
export type DeliveryOutcome =
  | ({ status: AttemptOutcome['kind'] } & AttemptOutcome)
  | { status: 'skipped'; reason: string }
  | { status: 'paused' }
  | { status: 'circuit_open' }
  | { status: 'filtered'; error?: string }
  | { status: 'dead'; error: string };

type DeliveryResult = WorkResult<DeliveryOutcome>;
/** The results of an attempt that was made (and logged). */
type AttemptResult = Extract<DeliveryResult, { kind: 'done' | 'retry' | 'dead' }>;

/** The decision about a healthy subscription's attempt, shared: it needs no stored change. */
const ALLOWED = { allowed: true } as const;

/** Closed circuit, no failures, not failing: nothing about its health to record on success. */
const healthy = (s: StoredSubscription) =>
  s.circuitState.state === 'closed' &&
  s.circuitState.consecutiveFailures === 0 &&
  s.failingSince === null;

/** One round's deliveries: the subscriptions read once, each event encoded once per format, attempts logged together. */
interface Round {
  subscriptions: Map<string, StoredSubscription>;
  encoded: Map<EventInstance, Map<EventEncoding, EncodedEvent>>;
  attempts: AttemptRow[];
}

/**
 * Delivers events to subscribers: one attempt per claim, logged, with breaker and retries.
 * A round reads its subscriptions once, at its start: a circuit that opens during the round
 * stops the round's later deliveries of that subscription only through `updateHealth`, which
 * every failure goes through with the row locked; the round's successes are not held back.
 */
export class DeliveryHandler implements WorkHandler<DeliveryOutcome> {
  readonly kind = 'delivery' as const;

  constructor(private readonly deps: DeliveryDeps) {}

  prepare(): Promise<void> {
    return this.deps.index.refresh(this.deps.db);
  }

  async handle(works: ClaimedWork[], lanes: Lanes): Promise<DeliveryResult[]> {
    const round: Round = {
      subscriptions: await findSubscriptions(this.deps.db, [
        ...new Set(works.map((w) => w.targetId)),
      ]),
      encoded: new Map(),
      attempts: [],
    };
    const results = await Promise.all(works.map((work) => this.deliver(work, round, lanes)));
    // One statement (one commit) logs the round's attempts, before their results are recorded.
    await insertAttempts(this.deps.db, round.attempts);
    return results;
  }

  /**
   * A delivery's attempt, in a lane of the worker pool, whose number (ROUTING_CONCURRENCY) bounds
   * requests in flight: the breaker's decision, the attempt and its settlement together, so
   * that a circuit opening during the round stops the round's later attempts (at most a lane's
   * worth go out meanwhile). A sender that bounds its attempts in flight itself (the webhook
   * threads) takes a healthy subscription's attempt outside any lane — the thread starts it
   * when one of its own ends, and a success needs nothing from the database — and only the
   * settlement of its failure (the subscription's health, under its row's lock) takes a lane.
   * (The outgoing span then also covers the attempt's wait for a thread's slot.)
   */
  private async deliver(work: ClaimedWork, round: Round, lanes: Lanes): Promise<DeliveryResult> {
    const subscription = round.subscriptions.get(work.targetId);
    if (!subscription || subscription.status === 'disabled') {
      return {
        kind: 'skipped',
        outcome: {
          status: 'skipped',
          reason: subscription ? 'the subscription is disabled' : 'the subscription was deleted',
        },
      };
    }
    if (subscription.status === 'paused') {
      return {
        kind: 'deferred',
        outcome: { status: 'paused' },
        delayMs: this.deps.options.pausedRecheckMs,
      };
    }
    const filter = this.deps.targets.filterOf(subscription.id);
    if (filter) {
      const verdict = filter.evaluate(work.event);
      if (!('result' in verdict) || !verdict.result) {
        return {
          kind: 'filtered',
          outcome: { status: 'filtered', ...('error' in verdict ? { error: verdict.error } : {}) },
        };
      }
    }
    if (!this.deps.senders[subscription.subscriberType].limitsInFlight || !healthy(subscription))
      return lanes(
        async () =>
          (await this.refusal(subscription)) ??
          this.settle(subscription, work, await this.send(subscription, work, round), round),
      );
    const outcome = await this.send(subscription, work, round);
    if (outcome.kind === 'delivered') return this.settle(subscription, work, outcome, round);
    return lanes(() => this.settle(subscription, work, outcome, round));
  }

  /**
   * Why the breaker lets no attempt through now (or the subscription is gone); undefined when
   * it does.
   */
  private async refusal(subscription: StoredSubscription): Promise<DeliveryResult | undefined> {
    const now = this.deps.clock.now();
    // A closed circuit allows without a change (the common case needs no locked write, nor a
    // breaker); letting a probe through a half-open circuit takes a slot, so that decision is
    // stored.
    const decision = healthy(subscription)
      ? ALLOWED
      : await updateHealth(this.deps.db, subscription.id, now, (health) => {
          const verdict = createCircuitBreaker(subscription.circuitBreaker).canAttempt(
            health.circuitState,
            now.getTime(),
          );
          return { health: { ...health, circuitState: verdict.state }, result: verdict };
        });
    if (!decision)
      return {
        kind: 'skipped',
        outcome: { status: 'skipped', reason: 'the subscription was deleted' },
      };
    if (!decision.allowed) {
      return {
        kind: 'deferred',
        outcome: { status: 'circuit_open' },
        delayMs: Math.max(0, decision.retryAt - now.getTime()),
      };
    }
    return undefined;
  }

  private encode(event: EventInstance, format: EventEncoding, round: Round): EncodedEvent {
    let formats = round.encoded.get(event);
    if (!formats) {
      formats = new Map();
      round.encoded.set(event, formats);
    }
    let encoded = formats.get(format);
    if (!encoded) {
      encoded = encodeEvent(event, format);
      formats.set(format, encoded);
    }
    return encoded;
  }

  /**
   * One attempt in an outgoing span, a child of the attempt's span; the receiver gets the
   * outgoing span's traceparent, so its own spans hang below the call that reached it.
   */
  private async send(
    subscription: StoredSubscription,
    work: ClaimedWork,
    round: Round,
  ): Promise<AttemptOutcome> {
    const encoded = this.encode(work.event, subscription.format, round);
    const { subscriptions, clock, options, tracing } = this.deps;
    const parent = work.trace ?? ROOT_CONTEXT;
    const attemptSpan = trace.getSpan(parent);
    if (attemptSpan?.isRecording())
      attemptSpan.setAttributes({
        [SpanAttributes.SUBSCRIBER_ID]: subscription.subscriberId,
        [SpanAttributes.SUBSCRIPTION_ID]: subscription.id,
      });
    const { subscriberType: type, endpoint } = subscription;
    const { name, kind } = outgoingSpan(type, endpoint);
    const { span, context } = tracing.startSpan(name, parent, {
      kind,
      attributes: tracing.exporting ? outgoingAttributes(type, endpoint, work.id) : undefined,
    });
    const traceparent = traceparentOf(context);
    const request = deliveryRequestOf(subscriptions, subscription, encoded, work, {
      now: clock.now(),
      timeoutMs: options.timeoutMs,
      traceparent,
    });
    const outcome = await this.deps.senders[subscription.subscriberType](request);
    recordOutcome(span, outcome);
    span.end();
    return outcome;
  }

  /** Records the attempt and the subscription's health, and decides what happens next. */
  private async settle(
    subscription: StoredSubscription,
    work: ClaimedWork,
    outcome: AttemptOutcome,
    round: Round,
  ): Promise<DeliveryResult> {
    const { db, clock, metrics } = this.deps;
    const now = clock.now();
    const delivered = outcome.kind === 'delivered';
    // A success on a healthy subscription changes nothing: skip the locked write (and the breaker).
    const failingSince =
      delivered && healthy(subscription)
        ? null
        : ((await updateHealth(
            db,
            subscription.id,
            now,
            ({ circuitState, failingSince: since }) => {
              const breaker = createCircuitBreaker(subscription.circuitBreaker);
              const nextSince = delivered ? null : (since ?? now);
              const nextState = delivered
                ? breaker.onSuccess(circuitState)
                : breaker.onFailure(circuitState, now.getTime());
              return {
                health: { circuitState: nextState, failingSince: nextSince },
                result: nextSince,
              };
            },
          )) ?? null);
    metrics.deliveryAttempted(subscription.id, delivered, outcome.latencyMs / 1000);
    const result = await this.decide(subscription, work, outcome, failingSince, now);
    result.logged = true;
    round.attempts.push({
      id: newUuidV7(),
      workId: work.id,
      subscriptionId: subscription.id,
      eventId: work.eventId,
      attempt: work.attempts,
      outcome: outcome.kind,
      statusCode: 'statusCode' in outcome ? (outcome.statusCode ?? null) : null,
      latencyMs: Math.round(outcome.latencyMs),
      error: 'error' in outcome ? outcome.error : null,
      replay: work.replay,
      nextAttemptAt:
        result.kind === 'retry' && work.attempts < work.maxAttempts
          ? new Date(now.getTime() + result.delayMs)
          : null,
      createdAt: now,
    });
    return result;
  }

  private async decide(
    subscription: StoredSubscription,
    work: ClaimedWork,
    outcome: AttemptOutcome,
    failingSince: Date | null,
    now: Date,
  ): Promise<AttemptResult> {
    const record: DeliveryOutcome = { status: outcome.kind, ...outcome };
    switch (outcome.kind) {
      case 'delivered':
        return { kind: 'done', outcome: record };
      case 'gone':
        await this.disable(subscription, 'the endpoint answered 410 Gone');
        return { kind: 'done', outcome: record };
      case 'refused':
        return { kind: 'dead', outcome: record, error: outcome.error };
      case 'failed': {
        if (
          failingSince &&
          now.getTime() - failingSince.getTime() > this.deps.options.disableAfterMs
        ) {
          await this.disable(subscription, `failing since ${failingSince.toISOString()}`);
          return { kind: 'dead', outcome: record, error: outcome.error };
        }
        const delayMs = nextAttemptDelay(
          subscription.retryPolicy,
          work.attempts,
          Math.random,
          outcome.retryAfterMs,
        );
        return { kind: 'retry', outcome: record, error: outcome.error, delayMs };
      }
    }
  }

  private async disable(subscription: StoredSubscription, reason: string): Promise<void> {
    if (!(await this.deps.subscriptions.disable(subscription.id, reason))) return;
    this.deps.logger.warn({ subscriptionId: subscription.id, reason }, 'subscription disabled');
    await this.deps.announceDisabled(subscription, reason).catch((error: unknown) => {
      this.deps.logger.error(
        { err: error, subscriptionId: subscription.id },
        'could not publish subscription.disabled',
      );
    });
  }

  deadOutcome(lastOutcome: DeliveryOutcome, error: string): DeliveryOutcome {
    return { ...lastOutcome, status: 'dead', error };
  }
}

/** The attempt a subscription makes with an encoded event: what its sender is handed. */
export function deliveryRequestOf(
  subscriptions: Pick<Subscriptions, 'credentials' | 'signingSecrets'>,
  subscription: StoredSubscription,
  encoded: EncodedEvent,
  work: Pick<ClaimedWork, 'id' | 'replay'>,
  at: { now: Date; timeoutMs: number; traceparent?: string | undefined },
): DeliveryRequest {
  const request: DeliveryRequest = {
    deliveryId: work.id,
    endpoint: subscription.endpoint,
    headers: work.replay
      ? { ...subscription.headers, 'x-eps-replay': 'true' }
      : subscription.headers,
    secrets: subscriptions.signingSecrets(subscription, at.now),
    body: encoded.body,
    timeoutMs: at.timeoutMs,
  };
  // Optional fields set in place: spreads of them copied the request per attempt.
  const authentication = subscriptions.credentials(subscription);
  if (authentication) request.authentication = authentication;
  if (subscription.format !== 'native') {
    request.contentType = encoded.contentType;
    request.eventHeaders = encoded.headers;
  }
  if (at.traceparent !== undefined) request.traceparent = at.traceparent;
  return request;
}
