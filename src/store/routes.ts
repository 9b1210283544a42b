import type { FastifyInstance } from 'fastify';
import { eventInstanceSchema } from '../events/event.ts';
import {
  addSharedSchemas,
  errorResponseSchema,
  exactObject,
  paginationQuery,
  paginationSchema,
  sharedSchema,
} from '../http/common.ts';
import { type EventStore, pageJson } from './event-store.ts';
import type { EventQuery } from './query.ts';

const tags = ['events'];
const text = { type: 'string', maxLength: 255 } as const;
const storedEventProperties = {
  id: { type: 'string', description: "the eventId again (the reference's name for it)" },
  ...eventInstanceSchema.properties,
} as const;
const storedEventRequired = ['id', ...eventInstanceSchema.required] as const;

/** A stored event: `id` is its eventId again (the reference's name for it). */
export const storedEvent = sharedSchema(
  'StoredEvent',
  exactObject(storedEventProperties, storedEventRequired),
);

/** A stored event in a trace, with the events it caused (causationId) below it. */
const traceNode = sharedSchema(
  'TraceNode',
  exactObject(
    {
      ...storedEventProperties,
      children: { type: 'array', items: { $ref: 'TraceNode#' } },
    },
    [...storedEventRequired, 'children'],
  ),
);

const eventIdParams = {
  type: 'object',
  properties: { eventId: { type: 'string', maxLength: 255 } },
} as const;

export function registerStoreRoutes(app: FastifyInstance, store: EventStore): void {
  addSharedSchemas(app, storedEvent, traceNode);
  app.get<{ Querystring: EventQuery }>(
    '/v1/events',
    {
      config: { access: 'events:read' },
      schema: {
        operationId: 'listEvents',
        tags,
        summary: 'Query stored events, newest first',
        description:
          '`total` is exact up to 10,000 matches (`totalExact: true`); beyond that it is a lower bound. ' +
          'With a `cursor` (from `nextCursor`) paging is stable and `total` counts the matches after the cursor. ' +
          "`limit` is a maximum: a page also stops at EVENTS_PAGE_MAX_BYTES (default 4 MiB) of events' JSON, " +
          'so a page of large events holds fewer than `limit` (at least one: a larger event comes alone) with `hasMore` true. ' +
          'Page with `nextCursor`: it continues exactly after the last event returned.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            pattern: {
              ...text,
              description: 'exact, or with wildcards: * one segment, ** zero or more',
            },
            startTime: { ...text, description: 'inclusive, ISO 8601' },
            endTime: { ...text, description: 'exclusive, ISO 8601' },
            correlationId: text,
            causationId: text,
            'source.type': text,
            'source.id': text,
            userId: text,
            'context.type': text,
            'context.id': text,
            payload: {
              type: 'string',
              maxLength: 4096,
              description: 'JSON object the payload must contain',
            },
            cursor: { type: 'string', maxLength: 512 },
            order: { type: 'string', enum: ['asc', 'desc'], default: 'desc' },
            ...paginationQuery,
          },
          patternProperties: {
            '^tag\\.[^.]{1,128}$': { ...text, description: 'tag.<name>=<value>' },
          },
        },
        response: {
          200: exactObject(
            {
              events: { type: 'array', items: storedEvent.ref },
              pagination: exactObject(
                {
                  ...paginationSchema.properties,
                  totalExact: {
                    type: 'boolean',
                    description: 'false when total is a lower bound (more than 10,000 matches)',
                  },
                  nextCursor: {
                    type: ['string', 'null'],
                    description: 'where the next page starts (pass as cursor); null when none',
                  },
                },
                [...paginationSchema.required, 'totalExact', 'nextCursor'],
              ),
            },
            ['events', 'pagination'],
          ),
          400: errorResponseSchema,
        },
      },
    },
    // The events come as JSON text from the database (see EventStore.query): sent as they are,
    // the schema above describes them (and the OpenAPI) but does not serialise them again.
    async (request, reply) =>
      reply
        .type('application/json; charset=utf-8')
        .send(pageJson(await store.query(request.query))),
  );

  app.get<{ Params: { eventId: string } }>(
    '/v1/events/:eventId',
    {
      config: { access: 'events:read' },
      schema: {
        operationId: 'getEvent',
        tags,
        summary: 'One stored event',
        params: eventIdParams,
        response: { 200: storedEvent.ref, 404: errorResponseSchema },
      },
    },
    async (request) => store.get(request.params.eventId),
  );

  app.get<{ Params: { eventId: string } }>(
    '/v1/events/:eventId/trace',
    {
      config: { access: 'events:read' },
      schema: {
        operationId: 'getEventTrace',
        tags,
        summary:
          "The causal tree of the event's correlation: children nested under their causationId parent",
        params: eventIdParams,
        response: {
          200: exactObject(
            {
              correlationId: { type: 'string' },
              truncated: {
                type: 'boolean',
                description: 'true when the correlation had more events than shown',
              },
              events: {
                type: 'array',
                items: traceNode.ref,
                description: 'the roots, in time order',
              },
            },
            ['correlationId', 'truncated', 'events'],
          ),
          404: errorResponseSchema,
        },
      },
    },
    async (request) => store.trace(request.params.eventId),
  );
}
