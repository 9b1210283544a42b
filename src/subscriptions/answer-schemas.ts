import type { AttemptOutcome } from '../delivery/senders.ts';
import {
  exactObject,
  nullableTimeSchema,
  sharedSchema,
  timeSchema,
  warningsSchema,
} from '../http/common.ts';
import type { PendingReason } from './dead-letters.ts';
import {
  AUTH_TYPES,
  FILTER_TYPE,
  SUBSCRIBER_TYPES,
  SUBSCRIPTION_FORMATS,
  SUBSCRIPTION_STATUSES,
} from './subscription.ts';

/**
 * What the subscription routes answer, as shared schemas of the description: subscriptions, the
 * delivery log, pending deliveries and dead letters (views of dead-letters.ts, repository.ts and
 * subscription.ts, field for field).
 */

const nullableText = { type: ['string', 'null'] } as const;
const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;

/** A subscription as answered (`SubscriptionView`), its signing secret only right after it is set. */
export const subscription = sharedSchema(
  'Subscription',
  exactObject(
    {
      subscription_id: { type: 'string', format: 'uuid' },
      name: nullableText,
      labels: stringMap,
      event_pattern: { type: 'string' },
      format: { type: 'string', enum: SUBSCRIPTION_FORMATS },
      subscriber: exactObject(
        {
          id: { type: 'string' },
          type: { type: 'string', enum: SUBSCRIBER_TYPES },
          endpoint: { type: 'string' },
          headers: stringMap,
          authentication: exactObject(
            {
              type: { type: 'string', enum: AUTH_TYPES },
              credentials: { type: 'string', description: 'masked' },
            },
            ['type', 'credentials'],
          ),
        },
        ['id', 'type', 'endpoint', 'headers'],
      ),
      filter: exactObject(
        { type: { type: 'string', enum: [FILTER_TYPE] }, expression: { type: 'string' } },
        ['type', 'expression'],
      ),
      retry_policy: exactObject(
        {
          max_attempts: { type: 'integer' },
          backoff_factor: { type: 'number' },
          initial_delay_ms: { type: 'integer' },
          max_delay_ms: { type: 'integer' },
        },
        ['max_attempts', 'backoff_factor', 'initial_delay_ms', 'max_delay_ms'],
      ),
      circuit_breaker: exactObject(
        {
          failure_threshold: { type: 'integer' },
          reset_timeout_ms: { type: 'integer' },
          half_open_max_calls: { type: 'integer' },
          state: { type: 'string', enum: ['closed', 'open', 'half_open'] },
          consecutive_failures: { type: 'integer' },
          opened_at: nullableTimeSchema,
        },
        [
          'failure_threshold',
          'reset_timeout_ms',
          'half_open_max_calls',
          'state',
          'consecutive_failures',
          'opened_at',
        ],
      ),
      description: nullableText,
      status: { type: 'string', enum: SUBSCRIPTION_STATUSES },
      disabled_reason: nullableText,
      failing_since: nullableTimeSchema,
      created_at: timeSchema,
      updated_at: timeSchema,
      revision: { type: 'integer' },
      signing_secret: {
        type: 'string',
        description: 'the signing secret: only in the answer that set it (creation, rotation)',
      },
      warnings: warningsSchema,
    },
    [
      'subscription_id',
      'name',
      'labels',
      'event_pattern',
      'format',
      'subscriber',
      'retry_policy',
      'circuit_breaker',
      'description',
      'status',
      'disabled_reason',
      'failing_since',
      'created_at',
      'updated_at',
      'revision',
    ],
  ),
);

const ATTEMPT_OUTCOMES = [
  'delivered',
  'failed',
  'gone',
  'refused',
] as const satisfies ReadonlyArray<AttemptOutcome['kind']>;

/** One attempt of the delivery log, newest first. */
export const deliveryAttempt = sharedSchema(
  'DeliveryAttempt',
  exactObject(
    {
      id: { type: 'string', format: 'uuid' },
      delivery_id: {
        type: 'string',
        format: 'uuid',
        description: 'the delivery (the same for all its attempts; a dead letter has this id)',
      },
      subscription_id: { type: 'string', format: 'uuid' },
      event_id: { type: 'string' },
      attempt: { type: 'integer', description: '1 for the first attempt' },
      outcome: { type: 'string', enum: ATTEMPT_OUTCOMES },
      status_code: { type: ['integer', 'null'], description: "the receiver's status, if any" },
      latency_ms: { type: ['integer', 'null'] },
      error: nullableText,
      replay: { type: 'boolean' },
      next_attempt_at: {
        ...nullableTimeSchema,
        description: 'when the next attempt is due after a failure, else null',
      },
      created_at: timeSchema,
    },
    [
      'id',
      'delivery_id',
      'subscription_id',
      'event_id',
      'attempt',
      'outcome',
      'status_code',
      'latency_ms',
      'error',
      'replay',
      'next_attempt_at',
      'created_at',
    ],
  ),
);

const PENDING_REASONS = [
  'queued',
  'retry_backoff',
  'circuit_open',
  'paused',
  'in_flight',
] as const satisfies readonly PendingReason[];

/** A delivery not finished yet: when its next attempt is, and why it waits. */
export const pendingDeliverySchema = sharedSchema(
  'PendingDelivery',
  exactObject(
    {
      id: { type: 'string', format: 'uuid' },
      event_id: { type: 'string' },
      reason: { type: 'string', enum: PENDING_REASONS },
      next_attempt_at: timeSchema,
      attempts: { type: 'integer' },
      max_attempts: { type: 'integer' },
      last_error: nullableText,
      replay: { type: 'boolean' },
      created_at: timeSchema,
    },
    [
      'id',
      'event_id',
      'reason',
      'next_attempt_at',
      'attempts',
      'max_attempts',
      'last_error',
      'replay',
      'created_at',
    ],
  ),
);

/** A delivery whose attempts ran out (redeliver it by its id). */
export const deadLetter = sharedSchema(
  'DeadLetter',
  exactObject(
    {
      id: { type: 'string', format: 'uuid' },
      subscription_id: { type: 'string', format: 'uuid' },
      event_id: { type: 'string' },
      attempts: { type: 'integer' },
      error: nullableText,
      last_outcome: {
        type: ['object', 'null'],
        additionalProperties: true,
        properties: {
          status: { type: 'string', description: 'dead' },
          kind: { type: 'string', enum: ATTEMPT_OUTCOMES },
          statusCode: { type: 'integer' },
          latencyMs: { type: 'integer' },
          error: { type: 'string' },
        },
        description: 'the last attempt’s outcome as recorded',
      },
      replay: { type: 'boolean' },
      dead_since: timeSchema,
    },
    [
      'id',
      'subscription_id',
      'event_id',
      'attempts',
      'error',
      'last_outcome',
      'replay',
      'dead_since',
    ],
  ),
);
