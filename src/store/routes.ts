import type { FastifyInstance } from 'fastify';
import {
  answerObject,
  errorResponseSchema,
  freeFormObject,
  paginationQuery,
  paginationSchema,
} from '../http/common.ts';
import type { EventStore } from './event-store.ts';
import type { EventQuery } from './query.ts';

const tags = ['events'];
const text = { type: 'string', maxLength: 255 } as const;
/** A stored event: `id` is its eventId again (the reference's name for it). */
const storedEventSchema = answerObject({
  id: { type: 'string' },
  eventId: { type: 'string' },
  pattern: { type: 'string' },
  version: { type: 'string' },
  timestamp: { type: 'string', format: 'date-time' },
  payload: freeFormObject,
  metadata: freeFormObject,
});

const eventIdParams = {
  type: 'object',
  properties: { eventId: { type: 'string', maxLength: 255 } },
} as const;

export function registerStoreRoutes(app: FastifyInstance, store: EventStore): void {
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
          'With a `cursor` (from `nextCursor`) paging is stable and `total` counts the matches after the cursor.',
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
          200: answerObject({
            events: { type: 'array', items: storedEventSchema },
            pagination: { ...paginationSchema, additionalProperties: true },
          }),
          400: errorResponseSchema,
        },
      },
    },
    async (request) => store.query(request.query),
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
        response: { 200: storedEventSchema, 404: errorResponseSchema },
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
          200: answerObject({ events: { type: 'array', items: freeFormObject } }),
          404: errorResponseSchema,
        },
      },
    },
    async (request) => store.trace(request.params.eventId),
  );
}
