import type { FastifyInstance } from 'fastify';
import { errorResponseSchema } from '../http/common.ts';
import { parsePosition } from '../store/commit-order.ts';
import { compileFilters, STREAM_FILTER_NAMES, type StreamFilters } from './filters.ts';
import type { EventStreams } from './hub.ts';

const text = { type: 'string', maxLength: 255 } as const;

export function registerStreamRoutes(app: FastifyInstance, streams: EventStreams): void {
  app.get<{ Querystring: StreamFilters & { after?: string } }>(
    '/v1/events/stream',
    {
      config: { access: 'events:read' },
      schema: {
        operationId: 'streamEvents',
        tags: ['events'],
        summary: 'Follow events as they are committed (Server-Sent Events), in commit order',
        description:
          'Each event is an SSE message whose `id:` is its position; reconnecting with `Last-Event-ID` ' +
          '(or `?after=<id>`) resumes right after it, without gaps or duplicates, also across restarts, ' +
          'for as long as events are retained. Without either, the stream starts now. Comment lines ' +
          'are heartbeats. A reader that falls too far behind gets `event: overflow` and is closed. ' +
          'At most STREAM_MAX_CLIENTS streams at once (then 503).',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...Object.fromEntries(STREAM_FILTER_NAMES.map((name) => [name, text])),
            after: { type: 'string', maxLength: 64, description: 'resume after this event id' },
          },
          patternProperties: {
            '^tag\\.[^.]{1,128}$': { ...text, description: 'tag.<name>=<value>' },
          },
        },
        headers: {
          type: 'object',
          properties: { 'last-event-id': { type: 'string', maxLength: 64 } },
        },
        response: {
          200: {
            description:
              'text/event-stream: `id: <position>` and `data: <event as JSON>` per event',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          400: errorResponseSchema,
          503: errorResponseSchema,
        },
      },
    },
    async (request, reply) => {
      const { after, ...filters } = request.query;
      const lastEventId = request.headers['last-event-id'];
      // Last-Event-ID is what an EventSource sends when it reconnects: it wins over the URL's.
      const resumeFrom =
        typeof lastEventId === 'string' && lastEventId.trim() !== ''
          ? parsePosition(lastEventId, 'Last-Event-ID')
          : after === undefined
            ? undefined
            : parsePosition(after, 'after');
      const filter = compileFilters(filters);
      streams.assertCapacity();
      reply.hijack();
      reply.raw.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // nginx and similar proxies buffer responses unless told not to.
        'x-accel-buffering': 'no',
      });
      reply.raw.write('retry: 2000\n\n');
      await streams.open(reply.raw, filter, resumeFrom);
    },
  );
}
