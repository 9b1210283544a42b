import {
  errorDetailSchema,
  eventComponent,
  exactObject,
  sharedSchema,
  timeSchema,
} from '../http/common.ts';
import { dryRunAnswer as processorDryRun, processorFiring } from '../processors/routes.ts';
import { deliveryAttempt } from '../subscriptions/answer-schemas.ts';
import { SUBSCRIPTION_STATUSES } from '../subscriptions/subscription.ts';
import { dryRunAnswer as triggerDryRun, triggerFiring } from '../triggers/routes.ts';
import type { NotMatchedReason } from './simulator.ts';

/**
 * The answers of `POST /v1/events/simulate` and `GET /v1/events/{eventId}/explain`, exactly:
 * one verdict per trigger, subscription and enabled processor (the `*Simulation` types of
 * simulator.ts); explain adds what actually happened (`happened`, `note`, `orphans`).
 */

const NOT_MATCHED_REASONS = [
  'pattern',
  'disabled',
  'paused',
  'circuit_open',
] as const satisfies readonly NotMatchedReason[];

/** A check's verdict and its field-level reasons (empty when valid). */
const schemaCheck = sharedSchema(
  'SchemaCheck',
  exactObject(
    { valid: { type: 'boolean' }, details: { type: 'array', items: errorDetailSchema } },
    ['valid', 'details'],
  ),
);

/** What every verdict says of its target, and what explain adds to it. */
const verdictProperties = (happened: object, happenedWhat: string) =>
  ({
    eventPattern: { type: 'string' },
    createdAt: timeSchema,
    matched: { type: 'boolean', description: 'the target would act on the event now' },
    happened: {
      type: 'array',
      items: happened,
      description: `explain only: the target's ${happenedWhat} of this event`,
    },
    note: {
      type: 'string',
      description:
        "explain only: why today's verdict may differ from what happened (created after the event, disabled)",
    },
  }) as const;

const verdictRequired = ['eventPattern', 'createdAt', 'matched'] as const;

const headersSchema = { type: 'object', additionalProperties: { type: 'string' } } as const;

export const triggerSimulation = sharedSchema(
  'TriggerSimulation',
  exactObject(
    {
      triggerId: { type: 'string', format: 'uuid' },
      name: { type: ['string', 'null'] },
      enabled: { type: 'boolean' },
      ...verdictProperties(triggerFiring.ref, 'firings'),
      notMatched: {
        type: 'string',
        enum: ['pattern', 'disabled'],
        description: 'why it does not act on the event (absent when it does)',
      },
      ...triggerDryRun.record,
      action: {
        type: 'string',
        enum: triggerDryRun.actions,
        description: "the trigger's dry run (absent when the pattern does not match)",
      },
      error: { type: 'string', description: 'why the trigger would fail on the event' },
      inputSchema: {
        ...schemaCheck.ref,
        description: "a START that would run: the mapped input against the workflow's inputSchema",
      },
    },
    ['triggerId', 'name', 'enabled', ...verdictRequired],
  ),
);

export const subscriptionSimulation = sharedSchema(
  'SubscriptionSimulation',
  exactObject(
    {
      subscriptionId: { type: 'string', format: 'uuid' },
      name: { type: ['string', 'null'] },
      status: { type: 'string', enum: SUBSCRIPTION_STATUSES },
      ...verdictProperties(deliveryAttempt.ref, 'delivery attempts'),
      notMatched: {
        type: 'string',
        enum: NOT_MATCHED_REASONS,
        description: 'why it does not deliver now (absent when it does)',
      },
      filterResult: {
        type: ['boolean', 'null'],
        description: 'absent without a filter; null when it could not be evaluated',
      },
      filterError: { type: 'string' },
      action: {
        type: 'string',
        enum: ['would_deliver', 'filtered', 'held', 'none'],
        description: 'held: paused or circuit open (delivered later)',
      },
      request: exactObject(
        {
          method: { type: 'string', enum: ['POST'] },
          url: { type: 'string' },
          headers: headersSchema,
          body: { type: 'string' },
        },
        ['method', 'url', 'headers', 'body'],
      ),
      message: exactObject(
        { subject: { type: 'string' }, headers: headersSchema, body: { type: 'string' } },
        ['subject', 'headers', 'body'],
      ),
      error: { type: 'string', description: 'why the request could not be built' },
    },
    ['subscriptionId', 'name', 'status', ...verdictRequired, 'action'],
  ),
);

export const processorSimulation = sharedSchema(
  'ProcessorSimulation',
  exactObject(
    {
      processorId: { type: 'string', format: 'uuid' },
      name: { type: 'string' },
      ...verdictProperties(processorFiring.ref, 'firings'),
      notMatched: { type: 'string', enum: ['pattern'] },
      ...processorDryRun.record,
      action: {
        type: 'string',
        enum: processorDryRun.actions,
        description: "the processor's dry run (absent when the pattern does not match)",
      },
      error: { type: 'string', description: 'why the processor would fail on the event' },
      derivedEventCheck: {
        ...schemaCheck.ref,
        description: 'the derived event against its definition, as POST /v1/events checks it',
      },
    },
    ['processorId', 'name', ...verdictRequired],
  ),
);

/** Every component the two answers refer to, to register before their routes. */
export const simulationComponents = [
  eventComponent,
  schemaCheck,
  triggerFiring,
  processorFiring,
  deliveryAttempt,
  triggerSimulation,
  subscriptionSimulation,
  processorSimulation,
] as const;

const verdicts = {
  event: eventComponent.ref,
  triggers: { type: 'array', items: triggerSimulation.ref },
  subscriptions: { type: 'array', items: subscriptionSimulation.ref },
  processors: { type: 'array', items: processorSimulation.ref },
} as const;

/** The event as it would be stored, and one verdict per target. */
export const simulationAnswer = exactObject(
  { simulated: { type: 'boolean', enum: [true] }, ...verdicts },
  ['simulated', 'event', 'triggers', 'subscriptions', 'processors'],
);

/** The stored event, one verdict per target with what it did, and what targets now gone did. */
export const explanationAnswer = exactObject(
  {
    ...verdicts,
    orphans: {
      ...exactObject(
        {
          firings: { type: 'array', items: triggerFiring.ref },
          deliveries: { type: 'array', items: deliveryAttempt.ref },
          processorFirings: { type: 'array', items: processorFiring.ref },
        },
        ['firings', 'deliveries', 'processorFirings'],
      ),
      description: 'what targets did that no longer exist (or processors now disabled)',
    },
  },
  ['event', 'triggers', 'subscriptions', 'processors', 'orphans'],
);
