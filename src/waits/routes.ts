import type { FastifyInstance } from 'fastify';
import { eventInstanceSchema } from '../events/event.ts';
import { deadWorkRoute, queuedAgain } from '../firings/routes.ts';
import {
  addSharedSchemas,
  errorResponseSchema,
  eventComponent,
  exactObject,
  nullableTimeSchema,
  sharedSchema,
  timeSchema,
  warningsSchema,
} from '../http/common.ts';
import { idParams, listRoute } from '../http/resource-routes.ts';
import { WORK_STATUSES } from '../routing/work.ts';
import type { WaitFilters } from './repository.ts';
import type { Waits } from './service.ts';
import { WAIT_STATUSES, type WaitInput } from './wait.ts';

declare module 'fastify' {
  interface FastifySchema {
    /**
     * OpenAPI callbacks of the operation (the requests the service makes because of it):
     * @fastify/swagger puts them in the description, but its types leave the field out.
     */
    callbacks?: Record<string, Record<string, Record<string, object>>>;
  }
}

const tags = ['waits'];

const duration = (description: string) =>
  ({ type: 'string', minLength: 2, maxLength: 64, description }) as const;

/** What a wait waits for: the fields of `POST /v1/waits` and of a START trigger's `waitFor`. */
export const waitSpecFields = {
  pattern: {
    type: 'string',
    minLength: 1,
    maxLength: 255,
    description: 'the event pattern waited for (exact, no wildcards)',
  },
  condition: {
    type: ['string', 'null'],
    maxLength: 4096,
    description: 'condition expression on the event, as a trigger eventCondition (see README)',
  },
  correlationKeyPath: {
    type: ['string', 'null'],
    maxLength: 1024,
    description:
      "path resolving the event's key, as a trigger correlationKey; default metadata.correlationId",
  },
  timeout: duration('ISO 8601 duration (PT24H, P7D), at most P30D; then the wait is timed_out'),
  lookback: {
    ...duration(
      'ISO 8601 duration: events committed this long before the registration count too; at most the event retention',
    ),
    type: ['string', 'null'],
  },
} as const;

const inputFields = {
  ...waitSpecFields,
  correlationKey: {
    type: 'string',
    minLength: 1,
    maxLength: 1024,
    description: "the key the event's key must equal",
  },
} as const;

const notifySchema = {
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['workflowInstanceId'],
      properties: {
        workflowInstanceId: {
          type: 'string',
          minLength: 1,
          maxLength: 255,
          description:
            "a builtin instance's id, or the engine's own instance id when workflowDefinitionId names an http executor's definition",
        },
        workflowDefinitionId: {
          type: 'string',
          minLength: 1,
          maxLength: 255,
          description:
            'the workflow definition of the instance: needed for an http engine, whose instance gets a signed POST to {executorUrl}/resume',
        },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', minLength: 1, maxLength: 2048 },
        secret: {
          type: 'string',
          minLength: 16,
          maxLength: 256,
          description:
            'whsec_ + base64 of 24 to 64 bytes; generated (and answered once) when absent',
        },
      },
    },
  ],
  description:
    'a workflow instance to resume (a builtin one records how the wait ended; an http engine gets a signed POST to {executorUrl}/resume), or a URL that gets a signed POST once the wait ends — resolved, timed out or cancelled (checked by the egress policy)',
} as const;

/**
 * The body of a wait's notification (waits/resume.ts): one POST once the wait ended, however it
 * ended, to its URL or to an http engine's `{executorUrl}/resume`.
 */
const waitNotificationSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['waitId', 'status', 'correlationKey', 'event'],
  properties: {
    waitId: {
      type: 'string',
      format: 'uuid',
      description: 'the wait (also in webhook-id: wait_<id>)',
    },
    status: {
      type: 'string',
      enum: WAIT_STATUSES.filter((status) => status !== 'waiting'),
      description: 'how the wait ended',
    },
    correlationKey: { type: 'string' },
    workflowInstanceId: {
      type: 'string',
      description: "the engine's instance (POSTs to an http engine's {executorUrl}/resume only)",
    },
    workflowDefinitionId: {
      type: 'string',
      description: "the instance's workflow definition (POSTs to an http engine only)",
    },
    event: {
      oneOf: [eventInstanceSchema, { type: 'null' }],
      description: 'the event that resolved the wait; null when it timed out or was cancelled',
    },
  },
} as const;

/**
 * `callbacks` of the registration: the notification POST, to the wait's URL (an http engine's
 * instance gets the same at `{executorUrl}/resume`, a URL OpenAPI cannot name from the request).
 */
const notificationCallbacks = {
  waitEnded: {
    '{$request.body#/notify/url}': {
      post: {
        requestBody: {
          description:
            'Sent once the wait ended (resolved, timed_out or cancelled), signed with Standard Webhooks headers (webhook-id wait_<id>, the same on every attempt); an http engine gets it at {executorUrl}/resume with Idempotency-Key resume:<waitId>. Retried with the delivery policy and dead-lettered.',
          content: { 'application/json': { schema: waitNotificationSchema } },
        },
        responses: {
          '2XX': { description: 'received' },
          '410': { description: 'gone: dead-lettered at once, not retried' },
        },
      },
    },
  },
} as const;

/** Where a wait's resolution goes, as answered (a URL's secret only in the registration's answer). */
const shownNotifySchema = {
  anyOf: [
    exactObject(
      {
        workflowInstanceId: { type: 'string' },
        workflowDefinitionId: {
          type: 'string',
          description: "the http engine's workflow definition (absent for a builtin instance)",
        },
      },
      ['workflowInstanceId'],
    ),
    exactObject(
      {
        url: { type: 'string' },
        secret: {
          type: 'string',
          description:
            'the signing secret the service generated (none was given): shown once, in the answer to the registration',
        },
      },
      ['url'],
    ),
  ],
} as const;

/** How a wait's POST notification (URL or http engine) went: routing work of kind `resume`. */
const notificationProperties = {
  status: {
    type: 'string',
    enum: WORK_STATUSES,
    description: 'pending, running, done or dead (dead-lettered after the delivery policy)',
  },
  attempts: { type: 'integer' },
  lastError: { type: ['string', 'null'] },
  nextAttemptAt: { ...nullableTimeSchema, description: 'when it is pending, else null' },
  outcome: { type: ['object', 'null'], additionalProperties: true },
} as const;

const notificationRequired = Object.keys(notificationProperties) as Array<
  keyof typeof notificationProperties
>;

/**
 * A wait as answered: the registration's answer adds `warnings` when its lookback was narrowed,
 * `GET /v1/waits/{id}` its `notification` once one is queued, and a resolved wait its `event`.
 */
export const waitComponent = sharedSchema(
  'Wait',
  exactObject(
    {
      id: { type: 'string', format: 'uuid' },
      ...inputFields,
      status: { type: 'string', enum: WAIT_STATUSES },
      notify: shownNotifySchema,
      expiresAt: timeSchema,
      createdAt: timeSchema,
      updatedAt: timeSchema,
      finishedAt: nullableTimeSchema,
      lookbackFrom: {
        type: 'string',
        format: 'date-time',
        description:
          'only when the lookback was truncated (lookback_truncated): the commit time from which it searched its newest WAITS_LOOKBACK_MAX_EVENTS events, and from which the wait counts events',
      },
      event: { ...eventComponent.ref, description: 'the event that resolved the wait' },
      notification: {
        ...exactObject(notificationProperties, notificationRequired),
        description:
          'a POST notification (URL or http engine) once queued (GET of one wait): pending, running, done or dead (dead-lettered after the delivery policy)',
      },
      warnings: {
        ...warningsSchema,
        description:
          'lookback_truncated (field lookback): the lookback window held more events of the pattern than WAITS_LOOKBACK_MAX_EVENTS (default 10,000); only the newest that many were examined and the wait counts events from the first of them on (the message says when)',
      },
    },
    [
      'id',
      'pattern',
      'condition',
      'correlationKey',
      'correlationKeyPath',
      'status',
      'timeout',
      'lookback',
      'notify',
      'expiresAt',
      'createdAt',
      'updatedAt',
      'finishedAt',
    ],
  ),
);

/** A dead notification, as `GET /v1/wait-notifications?status=dead` lists it. */
const deadWaitNotification = sharedSchema(
  'DeadWaitNotification',
  exactObject(
    {
      waitId: { type: 'string', format: 'uuid', description: 'retry it by this id' },
      eventId: {
        type: ['string', 'null'],
        description: 'the event that resolved the wait; null when it timed out or was cancelled',
      },
      ...notificationProperties,
      updatedAt: timeSchema,
    },
    ['waitId', 'eventId', ...notificationRequired, 'updatedAt'],
  ),
);

export function registerWaitRoutes(app: FastifyInstance, waits: Waits): void {
  addSharedSchemas(app, eventComponent, waitComponent, deadWaitNotification);
  app.post<{ Body: WaitInput }>(
    '/v1/waits',
    {
      config: { access: 'waits:write' },
      schema: {
        operationId: 'createWait',
        tags,
        summary:
          'Wait for the first committed event of a pattern and correlation key (and condition); resolved at once when the lookback finds one',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['pattern', 'correlationKey', 'timeout', 'notify'],
          properties: { ...inputFields, notify: notifySchema },
        },
        response: {
          201: waitComponent.ref,
          400: errorResponseSchema,
          // The instance or the workflow definition that notify names does not exist.
          404: errorResponseSchema,
        },
        callbacks: notificationCallbacks,
      },
    },
    async (request, reply) => {
      const wait = await waits.register(request.body);
      reply.code(201).header('location', `/v1/waits/${wait.id}`);
      return wait;
    },
  );

  listRoute(app, {
    path: '/v1/waits',
    operationId: 'listWaits',
    access: 'waits:read',
    tags,
    summary: 'List waits, newest first',
    filters: {
      correlationKey: { type: 'string', maxLength: 1024 },
      status: { type: 'string', enum: WAIT_STATUSES },
      workflowInstanceId: { type: 'string', format: 'uuid' },
    },
    key: 'waits',
    itemSchema: waitComponent.ref,
    list: (query: WaitFilters) => waits.list(query),
  });

  app.get<{ Params: { id: string } }>(
    '/v1/waits/:id',
    {
      config: { access: 'waits:read' },
      schema: {
        operationId: 'getWait',
        tags,
        summary: 'A wait: its status and the event that resolved it',
        params: idParams,
        response: { 200: waitComponent.ref },
      },
    },
    (request) => waits.get(request.params.id),
  );

  app.post<{ Params: { id: string } }>(
    '/v1/waits/:id/notification/retry',
    {
      config: { access: 'waits:write' },
      schema: {
        operationId: 'retryWaitNotification',
        tags,
        summary:
          'Send a dead-lettered notification again, with fresh attempts (409 when it is not dead)',
        params: idParams,
        response: {
          202: queuedAgain,
          409: errorResponseSchema,
        },
      },
    },
    async (request, reply) => {
      await waits.retryNotification(request.params.id);
      reply.code(202);
      return { id: request.params.id, status: 'pending' };
    },
  );

  deadWorkRoute(app, {
    path: '/v1/wait-notifications',
    operationId: 'listDeadWaitNotifications',
    access: 'waits:read',
    tags,
    summary:
      'Dead notifications of every wait, most recently dead first (status=dead); POST /v1/waits/{waitId}/notification/retry sends one again',
    listKey: 'notifications',
    item: deadWaitNotification.ref,
    dead: (query) => waits.deadNotifications(query),
  });

  app.delete<{ Params: { id: string } }>(
    '/v1/waits/:id',
    {
      config: { access: 'waits:write' },
      schema: {
        operationId: 'cancelWait',
        tags,
        summary: 'Cancel a waiting wait (409 once it has ended)',
        params: idParams,
        response: { 200: waitComponent.ref, 409: errorResponseSchema },
      },
    },
    (request) => waits.cancel(request.params.id),
  );
}
