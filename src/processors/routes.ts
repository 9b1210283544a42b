import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Clock } from '../clock.ts';
import type { ConsumerCheckMode } from '../compatibility/consumers.ts';
import { eventSourceSchema } from '../events/event.ts';
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
  exactObject,
  freeFormObject,
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
import type { EventReceiver } from '../ingest/receiver.ts';
import type { Registry } from '../registry/service.ts';
import { firingSchema } from '../routing/firing-view.ts';
import { DERIVATION_ACTIONS } from './handler.ts';
import type { ProcessorRouting } from './processor-routing.ts';
import type { ProcessorFilters } from './repository.ts';
import type { CheckedProcessor, ProcessorInput, Processors } from './service.ts';

const tags = ['event-processors'];

/** What a processor's outcome records of one event (a firing, or a dry run). */
const derivationProperties = {
  derivedEventId: {
    type: 'string',
    description: 'the derived event (also when an earlier attempt stored it)',
  },
  depth: { type: 'integer', description: 'derivations since the published event' },
  conditionResult: {
    type: ['boolean', 'null'],
    description: 'absent without an eventCondition; null when it could not be evaluated',
  },
  duplicate: { type: 'boolean', description: 'an earlier attempt stored the derived event' },
  reason: { type: 'string', description: 'why nothing was derived' },
  errorDetails: { type: 'array', items: errorDetailSchema },
} as const;

/** A processor's firing: the row's state and what the processor derived, or why not. */
export const processorFiring = sharedSchema(
  'ProcessorFiring',
  firingSchema('processorId', [...DERIVATION_ACTIONS], derivationProperties),
);

/** What a dry run answers beside the source event: what the processor would derive. */
export const dryRunAnswer = {
  targetIdField: 'processorId',
  actions: ['skipped', 'failed', 'would_derive'],
  record: {
    ...derivationProperties,
    derivedEvent: {
      type: 'object',
      additionalProperties: true,
      description: 'the event the processor would publish (as a publisher sends it)',
    },
  },
  required: [],
} as const;

const outputFields = {
  pattern: {
    type: 'string',
    minLength: 1,
    maxLength: 255,
    description: 'the pattern of a registered event definition (no wildcards)',
  },
  version: {
    type: 'string',
    minLength: 1,
    maxLength: 50,
    description: 'defaults to the highest active version when each event is derived',
  },
  payload: {
    type: 'object',
    maxProperties: 100,
    description:
      'field → path into the source event, { "const": value }, or another literal; at most 100 (as trigger inputMapping)',
  },
  source: {
    ...eventSourceSchema,
    description: 'the derived events\' source; default { type: "processor", id, name }',
  },
} as const;

const fields = {
  name: nameSchema,
  eventPattern: {
    type: 'string',
    minLength: 1,
    maxLength: 255,
    description: 'exact, or * (one segment) and ** (zero or more)',
  },
  eventCondition: {
    type: ['string', 'null'],
    maxLength: 4096,
    description: 'condition expression (see README)',
  },
  output: {
    type: 'object',
    additionalProperties: false,
    required: ['pattern', 'payload'],
    properties: outputFields,
  },
  enabled: { type: 'boolean', default: true },
  description: { type: ['string', 'null'], maxLength: 10_000 },
  labels: labelsSchema,
} as const;

const { payload: _mapping, ...answeredOutputFields } = outputFields;

/**
 * A processor as answered; answers to writes add the `warnings` of its type check when there
 * are any.
 */
const eventProcessor = sharedSchema(
  'EventProcessor',
  exactObject(
    {
      id: { type: 'string', format: 'uuid' },
      ...fields,
      output: exactObject(
        {
          ...answeredOutputFields,
          payload: { ...freeFormObject, description: outputFields.payload.description },
        },
        ['pattern', 'payload'],
      ),
      createdAt: timeSchema,
      updatedAt: timeSchema,
      revision: { type: 'integer' },
      warnings: warningsSchema,
    },
    [
      'id',
      'name',
      'eventPattern',
      'eventCondition',
      'output',
      'enabled',
      'description',
      'labels',
      'createdAt',
      'updatedAt',
      'revision',
    ],
  ),
);

type CheckQuery = { check: ConsumerCheckMode };

export interface ProcessorRouteDeps {
  processors: Processors;
  routing: ProcessorRouting;
  registry: Registry;
  receiver: EventReceiver;
  /** "Now" for replay ranges given as durations. */
  clock: Clock;
}

/**
 * The event processor routes. Reading takes `processors:read`; every change, and replay, takes
 * `processors:write` — a processor publishes events, so that scope is as strong as
 * `events:publish` for its output patterns.
 */
export function registerProcessorRoutes(app: FastifyInstance, deps: ProcessorRouteDeps): void {
  addSharedSchemas(app, eventProcessor, processorFiring);
  const { processors, routing } = deps;

  const written = (reply: FastifyReply, { resource, warnings }: CheckedProcessor) =>
    withWarnings(withEtag(reply, resource), warnings);

  app.post<{ Body: ProcessorInput; Querystring: CheckQuery }>(
    '/v1/event-processors',
    {
      config: { access: 'processors:write' },
      schema: {
        operationId: 'createEventProcessor',
        tags,
        summary:
          'Create an event processor: each matching event derives one event of output.pattern (409 when it would close a loop)',
        querystring: consumerCheckQuery,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'eventPattern', 'output'],
          properties: fields,
        },
        response: { 201: eventProcessor.ref, ...resourceErrors },
      },
    },
    async (request, reply) => {
      const created = await processors.create(request.body, request.query.check);
      reply.code(201).header('location', `/v1/event-processors/${created.resource.id}`);
      return written(reply, created);
    },
  );

  listRoute(app, {
    path: '/v1/event-processors',
    operationId: 'listEventProcessors',
    access: 'processors:read',
    tags,
    summary: 'List event processors (oldest first)',
    filters: {
      name: { type: 'string', pattern: NAME_REGEX },
      eventPattern: { type: 'string', maxLength: 255 },
      enabled: { type: 'boolean' },
    },
    key: 'processors',
    itemSchema: eventProcessor.ref,
    list: (query: ProcessorFilters) => processors.list(query),
  });

  getRoute(app, {
    path: '/v1/event-processors/:id',
    operationId: 'getEventProcessor',
    access: 'processors:read',
    tags,
    summary: 'Read an event processor',
    resourceSchema: eventProcessor.ref,
    get: (id) => processors.get(id),
  });

  patchRoute(app, {
    path: '/v1/event-processors/:id',
    operationId: 'updateEventProcessor',
    access: 'processors:write',
    tags,
    summary:
      'Change an event processor, e.g. { "enabled": false } to disable it (requires If-Match with its ETag)',
    properties: fields,
    querystring: consumerCheckQuery,
    resourceSchema: eventProcessor.ref,
    update: (id, revision, body: Partial<ProcessorInput>, query: CheckQuery) =>
      processors.update(id, revision, body, query.check),
    answer: written,
  });

  const { name: _name, ...replaceable } = fields;
  upsertRoute(app, {
    path: '/v1/by-name/event-processors/:name',
    alias: '/v1/event-processors/by-name/:name',
    operationId: 'upsertEventProcessor',
    access: 'processors:write',
    tags,
    summary:
      'Create or replace the event processor with this name (201 / 200; If-Match honoured when sent; unchanged → same revision)',
    params: { type: 'object', properties: { name: nameSchema } },
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['eventPattern', 'output'],
      properties: replaceable,
    },
    querystring: consumerCheckQuery,
    resourceSchema: eventProcessor.ref,
    upsert: async (
      { name }: { name: string },
      revision,
      body: Omit<ProcessorInput, 'name'>,
      query: CheckQuery,
    ) => {
      const result = await processors.upsert(name, revision, body, query.check);
      return { resource: result, created: result.created };
    },
    location: (result) => `/v1/event-processors/${result.resource.id}`,
    answer: written,
  });

  deleteRoute(app, {
    path: '/v1/event-processors/:id',
    operationId: 'deleteEventProcessor',
    access: 'processors:write',
    tags,
    summary: 'Delete an event processor (its firings stay until routing retention removes them)',
    remove: (id) => processors.remove(id),
  });

  dryRunRoute(app, {
    path: '/v1/event-processors/:id/test',
    operationId: 'testEventProcessor',
    access: 'processors:read',
    tags,
    summary:
      "Dry run: the event the processor would derive from an event (or its definition's nth example), checked against its definition, nothing stored",
    registry: deps.registry,
    receiver: deps.receiver,
    answer: dryRunAnswer,
    find: (id) => processors.get(id),
    run: (processor, event) => routing.dryRun(processor, event),
  });

  replayRoute(app, {
    path: '/v1/event-processors/:id/replay',
    operationId: 'replayEventProcessor',
    access: 'processors:write',
    tags,
    summary:
      'Route stored events of a time range to the processor again; events it derived from before are skipped unless force (which derives new events)',
    clock: deps.clock,
    replay: async (id, scope) => routing.replay(await processors.get(id), scope),
  });

  firingsRoute(app, {
    path: '/v1/event-processors/:id/firings',
    operationId: 'listEventProcessorFirings',
    access: 'processors:read',
    tags,
    summary:
      "A processor's firings, newest first: the event it derived, or why not (status=dead lists the ones to retry)",
    firing: processorFiring.ref,
    firings: async (id, query) => routing.firingsOf((await processors.get(id)).id, query),
  });

  deadWorkRoute(app, {
    path: '/v1/processor-firings',
    operationId: 'listDeadProcessorFirings',
    access: 'processors:read',
    tags,
    summary: 'Dead firings of every processor, most recently dead first (status=dead)',
    listKey: 'firings',
    item: processorFiring.ref,
    dead: (query) => routing.deadFirings(query),
  });

  retryFiringRoute(app, {
    path: '/v1/processor-firings/:id/retry',
    operationId: 'retryProcessorFiring',
    access: 'processors:write',
    tags,
    summary: 'Queue a dead-lettered processor firing again with fresh attempts',
    retry: (id) => routing.retryDead(id),
  });
}
