import { EVENT_ENCODINGS, type EventEncoding } from '../cloudevents/format.ts';
import type { ConsumerSpec } from '../compatibility/consumers.ts';
import type { CircuitBreakerConfig, CircuitState } from '../delivery/circuit-breaker.ts';
import type { RetryPolicy } from '../routing/retry.ts';

/** A subscription as stored, with its sealed secrets; never sent as is. */
export interface StoredSubscription {
  id: string;
  /** The natural key, unique; null for subscriptions made without one. */
  name: string | null;
  labels: Record<string, string>;
  eventPattern: string;
  subscriberId: string;
  subscriberType: SubscriberType;
  /** The body and headers events are sent in (see SUBSCRIPTION_FORMATS). */
  format: SubscriptionFormat;
  endpoint: string;
  headers: Record<string, string>;
  authType: AuthType | null;
  authCredentialsSealed: string | null;
  filterExpression: string | null;
  retryPolicy: RetryPolicy;
  circuitBreaker: CircuitBreakerConfig;
  circuitState: CircuitState;
  description: string | null;
  status: SubscriptionStatus;
  disabledReason: string | null;
  signingSecretSealed: string;
  previousSecretSealed: string | null;
  secretRotatedAt: Date | null;
  failingSince: Date | null;
  createdAt: Date;
  updatedAt: Date;
  revision: number;
}

export const SUBSCRIBER_TYPES = ['webhook', 'queue'] as const;
export type SubscriberType = (typeof SUBSCRIBER_TYPES)[number];
/**
 * `native`: the event in the service's wire format; `cloudevents-structured`: a CloudEvent in
 * the JSON format as the body; `cloudevents-binary`: the payload as the body and the attributes
 * as `ce-` headers (for queues: NATS headers, as the CloudEvents NATS binding names them).
 */
export const SUBSCRIPTION_FORMATS = EVENT_ENCODINGS;
export type SubscriptionFormat = EventEncoding;
/**
 * Subscriber types the API also accepts, and the type each one is stored as. The reference API
 * calls an HTTP endpoint subscriber a `service`: it is delivered to (and shown) as a webhook.
 */
export const SUBSCRIBER_TYPE_ALIASES = { service: 'webhook' } as const satisfies Record<
  string,
  SubscriberType
>;
export type SubscriberTypeInput = SubscriberType | keyof typeof SUBSCRIBER_TYPE_ALIASES;
export const SUBSCRIBER_TYPE_INPUTS = [
  ...SUBSCRIBER_TYPES,
  ...(Object.keys(SUBSCRIBER_TYPE_ALIASES) as (keyof typeof SUBSCRIBER_TYPE_ALIASES)[]),
] as const;
export const storedSubscriberType = (type: SubscriberTypeInput): SubscriberType =>
  type === 'service' ? SUBSCRIBER_TYPE_ALIASES[type] : type;

/**
 * The one filter language: conditions (README, "Conditions"), whose paths read like JSONPath
 * (`$.payload.status`). The reference API names this filter type `jsonpath`.
 */
export const FILTER_TYPE = 'jsonpath';
export const AUTH_TYPES = ['basic', 'bearer', 'api-key'] as const;
export type AuthType = (typeof AUTH_TYPES)[number];
export const SUBSCRIPTION_STATUSES = ['active', 'paused', 'disabled'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];
/**
 * Statuses a listing may filter by: ours, and the reference API's `suspended`, which means "not
 * delivering": paused (by a person) or disabled (by the service, e.g. after a 410).
 */
export const SUBSCRIPTION_STATUS_FILTERS = [...SUBSCRIPTION_STATUSES, 'suspended'] as const;
export type SubscriptionStatusFilter = (typeof SUBSCRIPTION_STATUS_FILTERS)[number];
export const statusesMatching = (filter: SubscriptionStatusFilter): SubscriptionStatus[] =>
  filter === 'suspended' ? ['paused', 'disabled'] : [filter];

/** The API's wire format (snake_case), credentials masked. */
export interface SubscriptionView {
  subscription_id: string;
  name: string | null;
  labels: Record<string, string>;
  event_pattern: string;
  format: SubscriptionFormat;
  subscriber: {
    id: string;
    type: SubscriberType;
    endpoint: string;
    headers: Record<string, string>;
    authentication?: { type: AuthType; credentials: string };
  };
  filter?: { type: typeof FILTER_TYPE; expression: string };
  retry_policy: {
    max_attempts: number;
    backoff_factor: number;
    initial_delay_ms: number;
    max_delay_ms: number;
  };
  circuit_breaker: {
    failure_threshold: number;
    reset_timeout_ms: number;
    half_open_max_calls: number;
    state: CircuitState['state'];
    consecutive_failures: number;
    opened_at: string | null;
  };
  description: string | null;
  status: SubscriptionStatus;
  disabled_reason: string | null;
  failing_since: string | null;
  created_at: string;
  updated_at: string;
  revision: number;
}

const iso = (date: Date | null) => date?.toISOString() ?? null;

export function toView(
  s: StoredSubscription,
  maskedCredentials: string | undefined,
): SubscriptionView {
  return {
    subscription_id: s.id,
    name: s.name,
    labels: s.labels,
    event_pattern: s.eventPattern,
    format: s.format,
    subscriber: {
      id: s.subscriberId,
      type: s.subscriberType,
      endpoint: s.endpoint,
      headers: s.headers,
      ...(s.authType && maskedCredentials !== undefined
        ? { authentication: { type: s.authType, credentials: maskedCredentials } }
        : {}),
    },
    ...(s.filterExpression
      ? { filter: { type: FILTER_TYPE, expression: s.filterExpression } }
      : {}),
    retry_policy: {
      max_attempts: s.retryPolicy.maxAttempts,
      backoff_factor: s.retryPolicy.backoffFactor,
      initial_delay_ms: s.retryPolicy.initialDelayMs,
      max_delay_ms: s.retryPolicy.maxDelayMs,
    },
    circuit_breaker: {
      failure_threshold: s.circuitBreaker.failureThreshold,
      reset_timeout_ms: s.circuitBreaker.resetTimeoutMs,
      half_open_max_calls: s.circuitBreaker.halfOpenMaxCalls,
      state: s.circuitState.state,
      consecutive_failures: s.circuitState.consecutiveFailures,
      opened_at:
        s.circuitState.openedAt === null ? null : new Date(s.circuitState.openedAt).toISOString(),
    },
    description: s.description,
    status: s.status,
    disabled_reason: s.disabledReason,
    failing_since: iso(s.failingSince),
    created_at: s.createdAt.toISOString(),
    updated_at: s.updatedAt.toISOString(),
    revision: s.revision,
  };
}

/** What a subscription reads, for the type check: its filter. */
export const subscriptionConsumerSpec = (
  filterExpression: string | null | undefined,
): ConsumerSpec => ({
  conditions: filterExpression ? [{ field: 'filter.expression', text: filterExpression }] : [],
});
