import type { FastifyInstance } from 'fastify';
import type { Clock } from '../clock.ts';
import type { ConsumerCheckMode } from '../compatibility/consumers.ts';
import type { Database } from '../db/database.ts';
import { conflict, notFound } from '../errors.ts';
import { queuedAgain, replayAnswer } from '../firings/routes.ts';
import {
  addSharedSchemas,
  consumerCheckQuery,
  errorResponseSchema,
  exactObject,
  listAnswer,
  pageAnswer,
  pagination,
  paginationQuery,
  withWarnings,
} from '../http/common.ts';
import { etagOf } from '../http/etag.ts';
import {
  deleteRoute,
  idParams,
  labelsSchema,
  NAME_REGEX,
  nameSchema,
  patchRoute,
  resourceErrors,
  upsertRoute,
} from '../http/resource-routes.ts';
import { isUuid } from '../ids.ts';
import { replayRange, replayRangeProperties } from '../routing/replay.ts';
import { replayWork, requeueDead } from '../routing/work-store.ts';
import type { EventStore } from '../store/event-store.ts';
import {
  deadLetter,
  deliveryAttempt,
  pendingDeliverySchema,
  subscription,
} from './answer-schemas.ts';
import { deadLetters, pendingDeliveries } from './dead-letters.ts';
import { listAttempts, type SubscriptionFilters } from './repository.ts';
import type { Created, SubscriptionInput, Subscriptions } from './service.ts';
import {
  AUTH_TYPES,
  FILTER_TYPE,
  type StoredSubscription,
  SUBSCRIBER_TYPE_INPUTS,
  SUBSCRIPTION_FORMATS,
  SUBSCRIPTION_STATUS_FILTERS,
} from './subscription.ts';

const tags = ['subscriptions'];
const pageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: paginationQuery,
} as const;

const subscriber = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'type', 'endpoint'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 255 },
    type: {
      type: 'string',
      enum: SUBSCRIBER_TYPE_INPUTS,
      description: '`service` (an HTTP endpoint) is stored and shown as `webhook`',
    },
    endpoint: {
      type: 'string',
      minLength: 1,
      maxLength: 2048,
      description: 'http(s) URL (webhook) or NATS subject (queue)',
    },
    headers: {
      type: 'object',
      maxProperties: 32,
      propertyNames: { pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$" },
      additionalProperties: { type: 'string', maxLength: 4096 },
    },
    authentication: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['type', 'credentials'],
      properties: {
        type: { type: 'string', enum: AUTH_TYPES },
        credentials: {
          type: 'string',
          minLength: 1,
          maxLength: 4096,
          description: 'basic: user:password; stored encrypted, returned masked',
        },
      },
    },
  },
} as const;

const fields = {
  name: { ...nameSchema, type: ['string', 'null'] },
  labels: labelsSchema,
  signing_secret: {
    type: 'string',
    maxLength: 128,
    writeOnly: true,
    description:
      'whsec_ + base64 of 24 to 64 bytes; never returned. Absent: generated on create, kept on change',
  },
  event_pattern: { type: 'string', minLength: 1, maxLength: 255 },
  format: {
    type: 'string',
    enum: SUBSCRIPTION_FORMATS,
    description:
      'native JSON (the default), or a CloudEvent in structured (JSON) or binary (ce- headers) content mode',
  },
  subscriber,
  filter: {
    type: ['object', 'null'],
    additionalProperties: false,
    required: ['expression'],
    properties: {
      type: {
        type: 'string',
        enum: [FILTER_TYPE],
        description: 'optional; the one filter language is the condition language (see README)',
      },
      expression: { type: 'string', minLength: 1, maxLength: 4096 },
    },
  },
  retry_policy: {
    type: 'object',
    additionalProperties: false,
    properties: {
      max_attempts: { type: 'integer', minimum: 1, maximum: 50 },
      backoff_factor: { type: 'number', minimum: 1, maximum: 10 },
      initial_delay_ms: { type: 'integer', minimum: 10, maximum: 3_600_000 },
      max_delay_ms: { type: 'integer', minimum: 10, maximum: 86_400_000 },
    },
  },
  circuit_breaker: {
    type: 'object',
    additionalProperties: false,
    properties: {
      failure_threshold: { type: 'integer', minimum: 1, maximum: 1000 },
      reset_timeout_ms: { type: 'integer', minimum: 100, maximum: 86_400_000 },
      half_open_max_calls: { type: 'integer', minimum: 1, maximum: 100 },
    },
  },
  description: { type: ['string', 'null'], maxLength: 10_000 },
} as const;

type CheckQuery = { check: ConsumerCheckMode };

export interface SubscriptionRouteDeps {
  db: Database;
  clock: Clock;
  subscriptions: Subscriptions;
  /** To answer 404 for the deliveries of an event that does not exist. */
  events: EventStore;
}

export function registerSubscriptionRoutes(
  app: FastifyInstance,
  deps: SubscriptionRouteDeps,
): void {
  addSharedSchemas(app, subscription, deliveryAttempt, pendingDeliverySchema, deadLetter);
  const { subscriptions, db, clock } = deps;
  const one = (reply: { header(n: string, v: string): unknown }, s: StoredSubscription) => {
    reply.header('etag', etagOf(s.revision));
    return subscriptions.view(s);
  };
  /**
   * The view, with the signing secret when the service generated it (shown only then) and the
   * warnings of the filter's type check.
   */
  const withSecret = (reply: { header(n: string, v: string): unknown }, created: Created) =>
    withWarnings(
      {
        ...one(reply, created.subscription),
        ...(created.signingSecret === undefined ? {} : { signing_secret: created.signingSecret }),
      },
      created.warnings,
    );
  const write = { access: 'subscriptions:write' } as const;
  const read = { access: 'subscriptions:read' } as const;

  app.post<{ Body: SubscriptionInput; Querystring: CheckQuery }>(
    '/v1/subscriptions',
    {
      config: write,
      schema: {
        operationId: 'createSubscription',
        tags,
        summary:
          'Subscribe a webhook or queue to an event pattern; the signing secret is shown only here; the filter is type-checked against the active versions the pattern matches',
        querystring: consumerCheckQuery,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['event_pattern', 'subscriber'],
          properties: fields,
        },
        response: { 201: subscription.ref, ...resourceErrors },
      },
    },
    async (request, reply) => {
      const created = await subscriptions.create(request.body, request.query.check);
      reply.code(201).header('location', `/v1/subscriptions/${created.subscription.id}`);
      return withSecret(reply, created);
    },
  );

  app.get<{ Querystring: SubscriptionFilters }>(
    '/v1/subscriptions',
    {
      config: read,
      schema: {
        operationId: 'listSubscriptions',
        tags,
        summary: 'List subscriptions',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name: { type: 'string', pattern: NAME_REGEX },
            event_pattern: { type: 'string', maxLength: 255 },
            subscriber_id: { type: 'string', maxLength: 255 },
            status: {
              type: 'string',
              enum: SUBSCRIPTION_STATUS_FILTERS,
              description: '`suspended`: paused or disabled',
            },
            ...paginationQuery,
          },
        },
        response: {
          200: pageAnswer('subscriptions', subscription.ref),
          400: errorResponseSchema,
        },
      },
    },
    async (request) => {
      const { subscriptions: found, total } = await subscriptions.list(request.query);
      return {
        subscriptions: found.map((s) => subscriptions.view(s)),
        pagination: pagination(total, request.query.limit, request.query.offset, found.length),
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/subscriptions/:id',
    {
      config: read,
      schema: {
        operationId: 'getSubscription',
        tags,
        summary: 'Read a subscription (credentials masked)',
        params: idParams,
        response: { 200: subscription.ref, ...resourceErrors },
      },
    },
    async (request, reply) => one(reply, await subscriptions.get(request.params.id)),
  );

  patchRoute(app, {
    path: '/v1/subscriptions/:id',
    operationId: 'updateSubscription',
    resourceSchema: subscription.ref,
    access: write.access,
    tags,
    summary: 'Change a subscription (requires If-Match with its ETag)',
    properties: { ...fields, subscriber: { ...subscriber, required: [] } },
    querystring: consumerCheckQuery,
    update: (id, revision, body: Partial<SubscriptionInput>, query: CheckQuery) =>
      subscriptions.update(id, revision, body, query.check),
    answer: (reply, { subscription, warnings }) => withWarnings(one(reply, subscription), warnings),
  });

  const { name: _name, ...replaceable } = fields;
  upsertRoute(app, {
    path: '/v1/by-name/subscriptions/:name',
    alias: '/v1/subscriptions/by-name/:name',
    operationId: 'upsertSubscription',
    resourceSchema: subscription.ref,
    access: write.access,
    tags,
    summary:
      'Create or replace the subscription with this name (201 / 200; If-Match honoured when sent; unchanged → same revision); the signing secret is kept unless given',
    params: { type: 'object', properties: { name: nameSchema } },
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['event_pattern', 'subscriber'],
      properties: replaceable,
    },
    querystring: consumerCheckQuery,
    upsert: ({ name }: { name: string }, revision, body: SubscriptionInput, query: CheckQuery) =>
      subscriptions
        .upsert(name, revision, body, query.check)
        .then((result) => ({ resource: result, created: result.created })),
    location: (result) => `/v1/subscriptions/${result.subscription.id}`,
    answer: withSecret,
  });

  deleteRoute(app, {
    path: '/v1/subscriptions/:id',
    operationId: 'deleteSubscription',
    access: write.access,
    tags,
    summary: 'Delete a subscription',
    remove: (id) => subscriptions.remove(id),
  });

  for (const [action, summary] of [
    ['pause', 'Hold deliveries until resumed'],
    ['resume', 'Deliver again (also re-enables a disabled subscription)'],
  ] as const) {
    app.post<{ Params: { id: string } }>(
      `/v1/subscriptions/:id/${action}`,
      {
        config: write,
        schema: {
          operationId: `${action}Subscription`,
          tags,
          summary,
          params: idParams,
          response: { 200: subscription.ref, ...resourceErrors },
        },
      },
      async (request, reply) => one(reply, await subscriptions[action](request.params.id)),
    );
  }

  app.post<{ Params: { id: string } }>(
    '/v1/subscriptions/:id/rotate-secret',
    {
      config: write,
      schema: {
        operationId: 'rotateSubscriptionSecret',
        tags,
        summary: 'New signing secret; the previous one keeps signing for 24 h',
        params: idParams,
        response: { 200: subscription.ref, ...resourceErrors },
      },
    },
    async (request, reply) => {
      const { subscription, signingSecret } = await subscriptions.rotateSecret(request.params.id);
      return { ...one(reply, subscription), signing_secret: signingSecret };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit: number; offset: number } }>(
    '/v1/subscriptions/:id/deliveries',
    {
      config: read,
      schema: {
        operationId: 'listSubscriptionDeliveries',
        tags,
        summary: 'Delivery log: attempts, status codes, latency, errors',
        params: idParams,
        querystring: pageQuery,
        response: { 200: listAnswer('deliveries', deliveryAttempt.ref), ...resourceErrors },
      },
    },
    async (request) => {
      await subscriptions.get(request.params.id);
      return {
        deliveries: await listAttempts(
          db,
          { subscriptionId: request.params.id },
          request.query.limit,
          request.query.offset,
        ),
      };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit: number; offset: number } }>(
    '/v1/subscriptions/:id/pending',
    {
      config: read,
      schema: {
        operationId: 'listPendingDeliveries',
        tags,
        summary:
          'Deliveries not finished yet, next due first: when the next attempt is and why it waits (queued, retry_backoff, circuit_open, paused, in_flight)',
        params: idParams,
        querystring: pageQuery,
        response: { 200: listAnswer('pending', pendingDeliverySchema.ref), ...resourceErrors },
      },
    },
    async (request) => {
      await subscriptions.get(request.params.id);
      const { limit, offset } = request.query;
      return { pending: await pendingDeliveries(db, request.params.id, { limit, offset }) };
    },
  );

  app.get<{ Params: { eventId: string }; Querystring: { limit: number; offset: number } }>(
    '/v1/events/:eventId/deliveries',
    {
      config: read,
      schema: {
        operationId: 'listEventDeliveries',
        tags,
        summary: 'Delivery log of one event',
        params: { type: 'object', properties: { eventId: { type: 'string', maxLength: 255 } } },
        querystring: pageQuery,
        response: { 200: listAnswer('deliveries', deliveryAttempt.ref) },
      },
    },
    async (request) => {
      await deps.events.requireExists(request.params.eventId);
      return {
        deliveries: await listAttempts(
          db,
          { eventId: request.params.eventId },
          request.query.limit,
          request.query.offset,
        ),
      };
    },
  );

  app.post<{
    Params: { id: string };
    Body: { startTime: string; endTime?: string; pattern?: string };
  }>(
    '/v1/subscriptions/:id/replay',
    {
      config: write,
      schema: {
        operationId: 'replaySubscription',
        tags,
        summary: 'Deliver stored events of a time range again, marked as replays',
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['startTime'],
          properties: { ...replayRangeProperties, pattern: { type: 'string', maxLength: 255 } },
        },
        response: { 202: replayAnswer, ...resourceErrors },
      },
    },
    async (request, reply) => {
      const s = await subscriptions.get(request.params.id);
      const { pattern } = request.body;
      const target = {
        kind: 'delivery' as const,
        id: s.id,
        pattern: s.eventPattern,
        maxAttempts: s.retryPolicy.maxAttempts,
      };
      const range = { ...replayRange(request.body, clock.now()), force: true };
      return reply
        .code(202)
        .send(
          await replayWork(db, target, { ...range, ...(pattern ? { pattern } : {}) }, clock.now()),
        );
    },
  );

  app.get<{ Querystring: { subscriptionId?: string; limit: number; offset: number } }>(
    '/v1/dead-letters',
    {
      config: read,
      schema: {
        operationId: 'listDeadLetters',
        tags,
        summary: 'Deliveries whose attempts ran out',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { subscriptionId: { type: 'string', format: 'uuid' }, ...paginationQuery },
        },
        response: { 200: listAnswer('deadLetters', deadLetter.ref) },
      },
    },
    async (request) => ({ deadLetters: await deadLetters(db, request.query) }),
  );

  app.post<{ Params: { id: string } }>(
    '/v1/dead-letters/:id/redeliver',
    {
      config: write,
      schema: {
        operationId: 'redeliverDeadLetter',
        tags,
        summary: 'Queue a dead letter again with fresh attempts',
        params: idParams,
        response: {
          202: queuedAgain,
          ...resourceErrors,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (!isUuid(id)) throw notFound(`dead letter ${id}`);
      if ((await requeueDead(db, { kind: 'delivery', id }, clock.now())) === 0)
        throw notFound(`dead letter ${id}`);
      return reply.code(202).send({ id, status: 'pending' });
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/subscriptions/:id/dead-letters/redeliver',
    {
      config: write,
      schema: {
        operationId: 'redeliverSubscriptionDeadLetters',
        tags,
        summary: 'Queue every dead letter of the subscription again',
        params: idParams,
        response: {
          202: exactObject({ requeued: { type: 'integer' } }, ['requeued']),
          ...resourceErrors,
        },
      },
    },
    async (request, reply) => {
      const s = await subscriptions.get(request.params.id);
      if (s.status === 'disabled') throw conflict('the subscription is disabled; resume it first');
      const requeued = await requeueDead(db, { kind: 'delivery', targetId: s.id }, clock.now());
      return reply.code(202).send({ requeued });
    },
  );
}
