import type { FastifyInstance } from 'fastify';
import { errorResponseSchema } from '../http/common.ts';
import { SpanAttributes, type Tracing } from '../observability/tracing.ts';
import { type EventInput, eventInputSchema } from './event.ts';
import type { EventReceiver } from './receiver.ts';
import { traceIdOf } from './traceparent.ts';

export interface IngestRouteOptions {
  /** Most events in one batch request. Env `INGEST_BATCH_MAX_EVENTS`, default 1000. */
  batchMaxEvents: number;
  /** Body limit of the batch endpoint in bytes. Env `INGEST_BATCH_BODY_LIMIT_BYTES`, default 10 MiB. */
  batchBodyLimitBytes: number;
}

const tags = ['events'];
const receipt = {
  type: 'object',
  properties: {
    eventId: { type: 'string' },
    status: { type: 'string', enum: ['accepted', 'duplicate'] },
    timestamp: { type: 'string', format: 'date-time' },
  },
} as const;
const errors = {
  400: errorResponseSchema,
  409: errorResponseSchema,
  413: errorResponseSchema,
  503: errorResponseSchema,
};

export function registerIngestRoutes(
  app: FastifyInstance,
  receiver: EventReceiver,
  options: IngestRouteOptions,
  tracing: Tracing,
): void {
  app.post<{ Body: EventInput }>(
    '/v1/events',
    {
      config: { access: 'events:publish' },
      schema: {
        tags,
        summary: 'Publish one event; 202 once it is durably stored, 200 for a repeated eventId',
        body: eventInputSchema,
        response: { 200: receipt, 202: receipt, ...errors },
      },
    },
    async (request, reply) => {
      const { source } = request.body;
      const { span } = tracing.startSpan('event.receive', request.traceContext, {
        attributes: {
          [SpanAttributes.EVENT_PATTERN]: request.body.pattern,
          ...(source
            ? {
                [SpanAttributes.EVENT_SOURCE_TYPE]: source.type,
                [SpanAttributes.EVENT_SOURCE_ID]: source.id,
              }
            : {}),
        },
      });
      // The span covers validation and the durable commit (store + routing work).
      const { outcome, headers } = await receiver
        .receive(request.body, traceIdOf(request.headers.traceparent))
        .finally(() => span.end());
      span.setAttribute(SpanAttributes.EVENT_ID, outcome.eventId);
      reply.code(outcome.status === 'accepted' ? 202 : 200).headers(headers);
      return {
        eventId: outcome.eventId,
        status: outcome.status,
        timestamp: outcome.timestamp.toISOString(),
      };
    },
  );

  app.post<{ Body: { events: unknown[] } }>(
    '/v1/events/batch',
    {
      config: { access: 'events:publish' },
      bodyLimit: options.batchBodyLimitBytes,
      schema: {
        tags,
        summary: 'Publish up to the batch limit of events; each is validated on its own',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['events'],
          properties: {
            events: {
              type: 'array',
              minItems: 1,
              maxItems: options.batchMaxEvents,
              // Not `eventInputSchema`: one bad event must not refuse the whole batch.
              items: { description: 'an event as for POST /v1/events, validated on its own' },
            },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              accepted: { type: 'integer' },
              duplicates: { type: 'integer' },
              rejected: { type: 'integer' },
              results: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    index: { type: 'integer' },
                    eventId: { type: 'string' },
                    status: { type: 'string', enum: ['accepted', 'duplicate', 'rejected'] },
                    error: errorResponseSchema.properties.error,
                  },
                },
              },
            },
          },
          ...errors,
        },
      },
    },
    async (request) =>
      receiver.receiveBatch(request.body.events, traceIdOf(request.headers.traceparent)),
  );

  app.post<{ Body: EventInput }>(
    '/v1/events/validate',
    {
      config: { access: 'events:publish' },
      schema: {
        tags,
        summary: 'Run every check of POST /v1/events without storing anything',
        body: eventInputSchema,
        response: { 400: errorResponseSchema },
      },
    },
    async (request) => {
      const { event } = await receiver.prepare(
        request.body,
        traceIdOf(request.headers.traceparent),
      );
      return { valid: true, event: event.instance };
    },
  );
}
