import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Clock } from '../clock.ts';
import type { ConsumerCheckMode } from '../compatibility/consumers.ts';
import { AppError, fieldError, validationError } from '../errors.ts';
import {
  deadWorkRoute,
  dryRunRoute,
  firingsRoute,
  replayRoute,
  retryFiringRoute,
} from '../firings/routes.ts';
import {
  addSharedSchemas,
  consumerCheckQuery,
  errorDetailSchema,
  errorResponseSchema,
  exactObject,
  listAnswer,
  sharedSchema,
  timeSchema,
  warningsSchema,
  withWarnings,
} from '../http/common.ts';
import { withEtag } from '../http/etag.ts';
import {
  deleteRoute,
  getRoute,
  labelsSchema,
  listRoute,
  NAME_REGEX,
  nameSchema,
  patchRoute,
  resourceErrors,
  upsertRoute,
} from '../http/resource-routes.ts';
import { opaqueIdSchema } from '../ids.ts';
import type { EventReceiver } from '../ingest/receiver.ts';
import type { Registry } from '../registry/service.ts';
import { firingSchema } from '../routing/firing-view.ts';
import type { EventStore } from '../store/event-store.ts';
import { waitSpecFields } from '../waits/routes.ts';
import type { WorkflowDefinitions } from '../workflows/definitions.ts';
import { FIRING_ACTIONS } from './firing.ts';
import type { TriggerFilters } from './repository.ts';
import type { CheckedTrigger, TriggerInput, Triggers } from './service.ts';
import { MAX_WAIT_FOR, TRIGGER_TYPES } from './trigger.ts';
import type { TriggerRouting } from './trigger-routing.ts';

const tags = ['workflow-triggers'];

const fields = {
  name: { ...nameSchema, type: ['string', 'null'] },
  workflowDefinitionId: {
    ...opaqueIdSchema,
    description: 'id of a workflow definition; an unknown one is a 404',
  },
  workflowDefinition: {
    type: 'string',
    minLength: 1,
    maxLength: 320,
    description:
      'instead of workflowDefinitionId: "name@version", or "name" for its highest version (resolved when written)',
  },
  eventPattern: {
    type: 'string',
    minLength: 1,
    maxLength: 255,
    description: 'exact, or * (one segment) and ** (zero or more)',
  },
  triggerType: { type: 'string', enum: TRIGGER_TYPES },
  eventCondition: {
    type: ['string', 'null'],
    maxLength: 4096,
    description: 'condition expression (see README)',
  },
  inputMapping: {
    type: ['object', 'null'],
    maxProperties: 100,
    description:
      'target field → path, { "const": value }, or another literal; at most 100 (see README)',
  },
  correlationKey: {
    type: ['string', 'null'],
    maxLength: 1024,
    description: 'path; default metadata.correlationId',
  },
  enabled: { type: 'boolean', default: true },
  priority: {
    type: ['integer', 'null'],
    minimum: -1_000_000,
    maximum: 1_000_000,
    description: 'lower fires first; none fires last',
  },
  description: { type: ['string', 'null'], maxLength: 10_000 },
  labels: labelsSchema,
  waitFor: {
    type: 'array',
    maxItems: MAX_WAIT_FOR,
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['pattern', 'timeout'],
      properties: {
        ...waitSpecFields,
        correlationKeyPath: {
          ...waitSpecFields.correlationKeyPath,
          description:
            "path resolving the awaited event's key; default the trigger's correlationKey (metadata.correlationId without one)",
        },
      },
    },
    description: `START only: waits registered for every instance the trigger starts, keyed by the firing's correlation key, as POST /v1/waits registers them (at most ${MAX_WAIT_FOR}; default none)`,
  },
} as const;

const { workflowDefinition: _byReference, ...storedFields } = fields;

const triggerProperties = {
  id: { type: 'string', format: 'uuid' },
  ...storedFields,
  inputMapping: { type: ['object', 'null'], additionalProperties: true },
  createdAt: timeSchema,
  updatedAt: timeSchema,
  revision: { type: 'integer' },
} as const;

/**
 * A trigger as answered; answers to writes add the `warnings` of its type check when there are
 * any.
 */
const workflowTrigger = sharedSchema(
  'WorkflowTrigger',
  exactObject({ ...triggerProperties, warnings: warningsSchema }, [
    ...(Object.keys(triggerProperties) as Array<keyof typeof triggerProperties>),
  ]),
);

/** What a trigger's outcome records of one event (a firing, or a dry run). */
const firingRecordProperties = {
  triggerType: { type: 'string', enum: TRIGGER_TYPES },
  workflowDefinitionId: { type: 'string' },
  conditionResult: {
    type: ['boolean', 'null'],
    description: 'null when the condition could not be evaluated (conditionError says why)',
  },
  conditionError: { type: 'string' },
  mappedInput: {
    type: 'object',
    additionalProperties: true,
    description: 'the workflow input, when the condition held',
  },
  inputError: { ...errorDetailSchema, description: 'why there is no mapped input' },
  correlationKey: { type: ['string', 'null'] },
  workflowInstanceIds: {
    type: 'array',
    items: { type: 'string' },
    description: 'the instances started or cancelled',
  },
  reason: {
    type: 'string',
    description:
      'why the trigger did nothing (skipped, pending), or why a start registered no wait of waitFor',
  },
  waitIds: {
    type: 'array',
    items: { type: 'string', format: 'uuid' },
    description: "the waits a START's waitFor registered for the instance it started",
  },
  warnings: {
    type: 'array',
    items: errorDetailSchema,
    description:
      "lookback_truncated (field waitFor[i].lookback): that wait's lookback window held more events than WAITS_LOOKBACK_MAX_EVENTS; it searched the newest only (GET /v1/waits/{id} shows lookbackFrom)",
  },
  errorDetails: { type: 'array', items: errorDetailSchema },
} as const;

/**
 * What a trigger did with one event, as `GET /v1/events/{eventId}/triggers` and a trigger's
 * firings show it: the row's state, and once the trigger was evaluated what it found and did.
 */
export const triggerFiring = sharedSchema(
  'TriggerFiring',
  firingSchema('triggerId', [...FIRING_ACTIONS], firingRecordProperties),
);

/** What a dry run answers beside the event: what the trigger would do with it. */
export const dryRunAnswer = {
  targetIdField: 'triggerId',
  actions: ['skipped', 'failed', 'would_start', 'would_cancel'],
  record: firingRecordProperties,
  required: [
    'triggerType',
    'workflowDefinitionId',
    'conditionResult',
    'correlationKey',
    'workflowInstanceIds',
  ],
} as const;

type CheckQuery = { check: ConsumerCheckMode };

export interface TriggerRouteDeps {
  triggers: Triggers;
  workflowDefinitions: WorkflowDefinitions;
  routing: TriggerRouting;
  registry: Registry;
  receiver: EventReceiver;
  /** To answer 404 for the firings of an event that does not exist. */
  events: EventStore;
  /** "Now" for replay ranges given as durations. */
  clock: Clock;
}

/** A trigger as sent: its workflow by id, or by `workflowDefinition` (`name@version` or `name`). */
type TriggerByReference = TriggerInput & { workflowDefinition?: string };

export function registerTriggerRoutes(app: FastifyInstance, deps: TriggerRouteDeps): void {
  addSharedSchemas(app, workflowTrigger, triggerFiring);
  const { triggers, routing } = deps;

  /** Replaces `workflowDefinition` by the id it names; one of the two is needed on create. */
  async function resolveWorkflow<T extends Partial<TriggerByReference>>(
    body: T,
    required: boolean,
  ): Promise<T & { workflowDefinitionId: string }> {
    const { workflowDefinition: reference, ...rest } = body;
    if (reference !== undefined && body.workflowDefinitionId !== undefined) {
      throw validationError('trigger is invalid', [
        fieldError(
          'workflowDefinition',
          'conflict',
          'give workflowDefinition or workflowDefinitionId, not both',
        ),
      ]);
    }
    if (reference === undefined) {
      if (required && body.workflowDefinitionId === undefined) {
        throw validationError('trigger is invalid', [
          fieldError(
            'workflowDefinitionId',
            'required',
            'workflowDefinitionId or workflowDefinition is required',
          ),
        ]);
      }
      return body as T & { workflowDefinitionId: string };
    }
    const definition = await deps.workflowDefinitions.resolve(reference).catch((error: unknown) => {
      if (!(error instanceof AppError) || error.status !== 404) throw error;
      throw new AppError(404, 'not_found', error.message, [
        fieldError('workflowDefinition', 'not_found', `no workflow definition ${reference}`),
      ]);
    });
    return { ...rest, workflowDefinitionId: definition.id } as T & { workflowDefinitionId: string };
  }

  const written = (reply: FastifyReply, { resource, warnings }: CheckedTrigger) =>
    withWarnings(withEtag(reply, resource), warnings);

  app.post<{ Body: TriggerInput; Querystring: CheckQuery }>(
    '/v1/workflow-triggers',
    {
      config: { access: 'triggers:write' },
      schema: {
        operationId: 'createWorkflowTrigger',
        tags,
        summary:
          'Create a workflow event trigger; the paths it reads are type-checked against the active versions its pattern matches',
        querystring: consumerCheckQuery,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['eventPattern', 'triggerType'],
          properties: fields,
          description: 'workflowDefinitionId or workflowDefinition is required',
        },
        response: { 201: workflowTrigger.ref, ...resourceErrors },
      },
    },
    async (request, reply) => {
      const input = await resolveWorkflow(request.body, true);
      const created = await triggers.create(input, request.query.check);
      reply.code(201).header('location', `/v1/workflow-triggers/${created.resource.id}`);
      return written(reply, created);
    },
  );

  listRoute(app, {
    path: '/v1/workflow-triggers',
    operationId: 'listWorkflowTriggers',
    access: 'triggers:read',
    tags,
    summary: 'List triggers (priority order)',
    filters: {
      name: { type: 'string', pattern: NAME_REGEX },
      workflowDefinitionId: opaqueIdSchema,
      eventPattern: { type: 'string', maxLength: 255 },
      triggerType: { type: 'string', enum: TRIGGER_TYPES },
      enabled: { type: 'boolean' },
    },
    key: 'triggers',
    itemSchema: workflowTrigger.ref,
    list: (query: TriggerFilters) => triggers.list(query),
  });

  getRoute(app, {
    path: '/v1/workflow-triggers/:id',
    operationId: 'getWorkflowTrigger',
    access: 'triggers:read',
    tags,
    summary: 'Read a trigger',
    resourceSchema: workflowTrigger.ref,
    get: (id) => triggers.get(id),
  });

  patchRoute(app, {
    path: '/v1/workflow-triggers/:id',
    operationId: 'updateWorkflowTrigger',
    access: 'triggers:write',
    tags,
    summary: 'Change a trigger (requires If-Match with its ETag)',
    properties: fields,
    querystring: consumerCheckQuery,
    resourceSchema: workflowTrigger.ref,
    update: async (id, revision, body: Partial<TriggerByReference>, query: CheckQuery) =>
      triggers.update(id, revision, await resolveWorkflow(body, false), query.check),
    answer: written,
  });

  const { name: _name, ...replaceable } = fields;
  upsertRoute(app, {
    path: '/v1/by-name/workflow-triggers/:name',
    alias: '/v1/workflow-triggers/by-name/:name',
    operationId: 'upsertWorkflowTrigger',
    access: 'triggers:write',
    tags,
    summary:
      'Create or replace the trigger with this name (201 / 200; If-Match honoured when sent; unchanged → same revision)',
    params: { type: 'object', properties: { name: nameSchema } },
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['eventPattern', 'triggerType'],
      properties: replaceable,
    },
    querystring: consumerCheckQuery,
    resourceSchema: workflowTrigger.ref,
    upsert: async (
      { name }: { name: string },
      revision,
      body: TriggerByReference,
      query: CheckQuery,
    ) => {
      const result = await triggers.upsert(
        name,
        revision,
        await resolveWorkflow(body, true),
        query.check,
      );
      return { resource: result, created: result.created };
    },
    location: (result) => `/v1/workflow-triggers/${result.resource.id}`,
    answer: written,
  });

  deleteRoute(app, {
    path: '/v1/workflow-triggers/:id',
    operationId: 'deleteWorkflowTrigger',
    access: 'triggers:write',
    tags,
    summary: 'Delete a trigger',
    remove: (id) => triggers.remove(id),
  });

  dryRunRoute(app, {
    path: '/v1/workflow-triggers/:id/test',
    operationId: 'testWorkflowTrigger',
    access: 'triggers:read',
    tags,
    summary:
      "Dry run: what the trigger would do with an event (or its definition's nth example), without side effects",
    registry: deps.registry,
    receiver: deps.receiver,
    answer: dryRunAnswer,
    find: (id) => triggers.get(id),
    run: (trigger, event) => routing.dryRun(trigger, event),
  });

  replayRoute(app, {
    path: '/v1/workflow-triggers/:id/replay',
    operationId: 'replayWorkflowTrigger',
    access: 'triggers:write',
    tags,
    summary:
      'Evaluate stored events of a time range against the trigger; pairs that fired before are skipped unless force',
    clock: deps.clock,
    replay: async (id, scope) => routing.replay(await triggers.get(id), scope),
  });

  app.get<{ Params: { eventId: string } }>(
    '/v1/events/:eventId/triggers',
    {
      config: { access: 'triggers:read' },
      schema: {
        operationId: 'listEventFirings',
        tags,
        summary:
          'What each matching trigger did with the event: condition, input, key, action, instances, attempts',
        params: { type: 'object', properties: { eventId: { type: 'string', maxLength: 255 } } },
        response: { 200: listAnswer('firings', triggerFiring.ref), 404: errorResponseSchema },
      },
    },
    async (request) => {
      await deps.events.requireExists(request.params.eventId);
      return { firings: await routing.firingsOf(request.params.eventId) };
    },
  );

  firingsRoute(app, {
    path: '/v1/workflow-triggers/:id/firings',
    operationId: 'listWorkflowTriggerFirings',
    access: 'triggers:read',
    tags,
    summary: "A trigger's firings, newest first (status=dead lists the ones to retry)",
    firing: triggerFiring.ref,
    firings: async (id, query) => routing.firingsOfTrigger((await triggers.get(id)).id, query),
  });

  deadWorkRoute(app, {
    path: '/v1/trigger-firings',
    operationId: 'listDeadTriggerFirings',
    access: 'triggers:read',
    tags,
    summary: 'Dead firings of every trigger, most recently dead first (status=dead)',
    listKey: 'firings',
    item: triggerFiring.ref,
    dead: (query) => routing.deadFirings(query),
  });

  retryFiringRoute(app, {
    path: '/v1/trigger-firings/:id/retry',
    operationId: 'retryTriggerFiring',
    access: 'triggers:write',
    tags,
    summary: 'Queue a dead-lettered firing again with fresh attempts',
    retry: (id) => routing.retryDead(id),
  });
}
