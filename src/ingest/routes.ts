import { type Attributes, type Context, type Link, trace } from '@opentelemetry/api';
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
} from 'fastify';
import {
  CLOUDEVENTS_BATCH_JSON,
  CLOUDEVENTS_FORMAT,
  CLOUDEVENTS_JSON,
  cloudEventFromBinary,
  cloudEventSchema,
  isBinaryCloudEvent,
  MAPPED_CLOUDEVENT_FORMAT,
} from '../cloudevents/format.ts';
import { type EventInput, eventInputSchema } from '../events/event.ts';
import { type EventFormat, NATIVE_FORMAT } from '../events/format.ts';
import {
  addSharedSchemas,
  errorResponseSchema,
  errorSchema,
  eventComponent,
  exactObject,
  sharedSchema,
} from '../http/common.ts';
import { SpanAttributes, type Tracing, traceparentOf } from '../observability/tracing.ts';
import type { EventReceiver } from './receiver.ts';

export interface IngestRouteOptions {
  /** Most events in one batch request. Env `INGEST_BATCH_MAX_EVENTS`, default 1000. */
  batchMaxEvents: number;
  /** Body limit of the batch endpoint in bytes. Env `INGEST_BATCH_BODY_LIMIT_BYTES`, default 10 MiB. */
  batchBodyLimitBytes: number;
}

const tags = ['events'];
const receipt = {
  type: 'object',
  required: ['eventId', 'status', 'timestamp'],
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
  415: errorResponseSchema,
  503: errorResponseSchema,
};
const index = { type: 'integer', description: "the event's place in the request, from 0" } as const;

/**
 * The answer to a batch: counts, and one result per event in the request's order — its eventId
 * once stored (accepted, or a duplicate of a stored one), or why it was refused (its eventId
 * when it had one).
 */
const batchResult = sharedSchema(
  'BatchResult',
  exactObject(
    {
      accepted: { type: 'integer' },
      duplicates: { type: 'integer' },
      rejected: { type: 'integer' },
      results: {
        type: 'array',
        items: {
          anyOf: [
            exactObject(
              {
                index,
                eventId: { type: 'string' },
                status: { type: 'string', enum: ['accepted', 'duplicate'] },
              },
              ['index', 'eventId', 'status'],
            ),
            exactObject(
              {
                index,
                eventId: { type: 'string' },
                status: { type: 'string', enum: ['rejected'] },
                error: errorSchema.properties.error,
              },
              ['index', 'status', 'error'],
            ),
          ],
        },
      },
    },
    ['accepted', 'duplicates', 'rejected', 'results'],
  ),
);

/** The media type a request's body was sent as, without parameters. */
const mediaType = (request: FastifyRequest) =>
  String(request.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();

/** Requests that arrived as binary-mode CloudEvents (their body is mapped by now). */
const binaryCloudEvents = new WeakSet<FastifyRequest>();

/**
 * A binary-mode CloudEvent (`ce-*` headers, the data as a JSON body) is mapped onto a native
 * event before validation (its CloudEvents attributes checked and worded here; Fastify answers
 * what this throws), so the route's JSON schema checks what a native publisher would have sent.
 * A callback hook: an async one would cost every event a promise and a microtask turn.
 */
export function binaryAsNative(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  if (isBinaryCloudEvent(request.headers) && mediaType(request) !== CLOUDEVENTS_JSON) {
    request.body = CLOUDEVENTS_FORMAT.toInput(cloudEventFromBinary(request.headers, request.body));
    binaryCloudEvents.add(request);
  }
  done();
}

/** How a single event's body is read: as sent natively, a structured or a binary CloudEvent. */
export function singleEventFormat(request: FastifyRequest): EventFormat {
  if (mediaType(request) === CLOUDEVENTS_JSON) return CLOUDEVENTS_FORMAT;
  return binaryCloudEvents.has(request) ? MAPPED_CLOUDEVENT_FORMAT : NATIVE_FORMAT;
}

/** One event's body: native JSON, or a CloudEvent (structured, or binary made structured). */
export const singleEventBody = (extra: Record<string, unknown> = {}) => ({
  content: {
    'application/json': { schema: eventInputSchema },
    [CLOUDEVENTS_JSON]: { schema: cloudEventSchema },
    ...extra,
  },
});

/**
 * The trace context a CloudEvent names in its `traceparent` extension (the CloudEvents
 * Distributed Tracing extension: `traceparent` and `tracestate` attributes in structured mode,
 * `ce-traceparent` / `ce-tracestate` headers in binary mode), when it is well formed.
 */
function cloudEventTrace(
  tracing: Tracing,
  carrier: { traceparent?: unknown; tracestate?: unknown },
): Context | undefined {
  if (typeof carrier.traceparent !== 'string') return undefined;
  const context = tracing.extract({
    traceparent: carrier.traceparent,
    ...(typeof carrier.tracestate === 'string' ? { tracestate: carrier.tracestate } : {}),
  });
  return trace.getSpanContext(context) ? context : undefined;
}

/** The traceparent extension of one event of a body, as `cloudEventTrace` reads it. */
const traceCarrierOf = (event: unknown): { traceparent?: unknown; tracestate?: unknown } =>
  typeof event === 'object' && event !== null ? event : {};

/** A binary CloudEvent's traceparent extension, from its `ce-` headers. */
const binaryTraceCarrier = (request: FastifyRequest) => ({
  traceparent: request.headers['ce-traceparent'],
  tracestate: request.headers['ce-tracestate'],
});

/**
 * Starts an `event.receive` span: under the request's span, or under the trace the event names
 * itself (a CloudEvent's `traceparent`), which is the event's origin, as an incoming
 * `traceparent` header is for a native event; the request's span is then linked, so the HTTP
 * call that carried the event stays reachable from it.
 */
function startReceiveSpan(
  tracing: Tracing,
  request: FastifyRequest,
  attributes: Attributes | undefined,
  eventTrace: Context | undefined,
) {
  const requestSpan = trace.getSpanContext(request.traceContext);
  const links: Link[] = eventTrace && requestSpan ? [{ context: requestSpan }] : [];
  return tracing.startSpan('event.receive', eventTrace ?? request.traceContext, {
    attributes,
    links,
  });
}

/**
 * Runs `receive` in an `event.receive` span (see {@link startReceiveSpan}). The span covers
 * validation and the durable commit (store + routing work); its traceparent is handed to the
 * receiver, which stores it with each event as the parent of the event's firing and delivery
 * spans.
 */
async function inReceiveSpan<T>(
  tracing: Tracing,
  request: FastifyRequest,
  attributes: Attributes | undefined,
  receive: (receivedIn: string | undefined) => Promise<T>,
  eventIdOf: (result: T) => string | undefined = () => undefined,
  eventTrace?: Context,
): Promise<T> {
  const { span, context } = startReceiveSpan(tracing, request, attributes, eventTrace);
  try {
    const result = await receive(traceparentOf(context));
    const eventId = eventIdOf(result);
    if (eventId !== undefined) span.setAttribute(SpanAttributes.EVENT_ID, eventId);
    return result;
  } finally {
    span.end();
  }
}

/**
 * A CloudEvents batch: the events without a `traceparent` share one `event.receive` span under
 * the request's; each event with one gets its own span under the trace it names.
 */
async function inCloudEventReceiveSpans<T>(
  tracing: Tracing,
  request: FastifyRequest,
  events: unknown[],
  receive: (receivedIn: Array<string | undefined>) => Promise<T>,
): Promise<T> {
  const traces = events.map((event) => cloudEventTrace(tracing, traceCarrierOf(event)));
  if (traces.every((eventTrace) => eventTrace === undefined)) {
    return inReceiveSpan(tracing, request, batchAttributes(events), (receivedIn) =>
      receive(events.map(() => receivedIn)),
    );
  }
  const untraced = traces.filter((eventTrace) => eventTrace === undefined).length;
  const shared =
    untraced > 0
      ? startReceiveSpan(tracing, request, { 'event.batch.size': untraced }, undefined)
      : undefined;
  const spans = traces.map((eventTrace, index) =>
    eventTrace
      ? startReceiveSpan(tracing, request, { 'event.batch.index': index }, eventTrace)
      : shared,
  );
  try {
    return await receive(spans.map((started) => started && traceparentOf(started.context)));
  } finally {
    for (const started of new Set(spans)) started?.span.end();
  }
}

const batchAttributes = (events: unknown[]): Attributes => ({ 'event.batch.size': events.length });

/** The start attributes of a single event's `event.receive` span: its pattern and source. */
function receiveAttributes(body: Record<string, unknown>, cloudEvent: boolean): Attributes {
  const source = body.source as { type?: string; id?: string } | string | undefined;
  return {
    [SpanAttributes.EVENT_PATTERN]: String(cloudEvent ? body.type : body.pattern),
    ...(typeof source === 'object' && source.type && source.id
      ? {
          [SpanAttributes.EVENT_SOURCE_TYPE]: source.type,
          [SpanAttributes.EVENT_SOURCE_ID]: source.id,
        }
      : {}),
  };
}

export function registerIngestRoutes(
  app: FastifyInstance,
  receiver: EventReceiver,
  options: IngestRouteOptions,
  tracing: Tracing,
): void {
  addSharedSchemas(app, eventComponent, batchResult);
  const cloudEventBatch = {
    type: 'array',
    minItems: 1,
    maxItems: options.batchMaxEvents,
    // Not `cloudEventSchema`: one bad event must not refuse the whole batch.
    items: { description: 'a CloudEvent in the JSON format, validated on its own' },
  } as const;

  app.post<{ Body: EventInput | Record<string, unknown> | unknown[] }>(
    '/v1/events',
    {
      config: { access: 'events:publish' },
      schema: {
        operationId: 'publishEvent',
        tags,
        summary:
          'Publish one event (native, or a CloudEvent in structured or binary mode; a CloudEvents batch answers as the batch endpoint); 202 once it is durably stored, 200 for a repeated eventId',
        body: singleEventBody({ [CLOUDEVENTS_BATCH_JSON]: { schema: cloudEventBatch } }),
        response: { 200: { anyOf: [receipt, batchResult.ref] }, 202: receipt, ...errors },
      },
      preValidation: binaryAsNative,
    },
    async (request, reply) => {
      const type = mediaType(request);
      if (type === CLOUDEVENTS_BATCH_JSON) {
        const events = request.body as unknown[];
        return inCloudEventReceiveSpans(tracing, request, events, (receivedIn) =>
          receiver.receiveBatch(events, receivedIn, CLOUDEVENTS_FORMAT),
        );
      }
      const format = singleEventFormat(request);
      const cloudEvent = format === CLOUDEVENTS_FORMAT;
      const body = request.body as Record<string, unknown>;
      const { outcome, headers } = await inReceiveSpan(
        tracing,
        request,
        // Only for exported spans (see Tracing.startSpan): nothing reads them otherwise.
        tracing.exporting ? receiveAttributes(body, cloudEvent) : undefined,
        (receivedIn) => receiver.receive(body, receivedIn, format),
        (received) => received.outcome.eventId,
        format === NATIVE_FORMAT
          ? undefined
          : cloudEventTrace(tracing, cloudEvent ? body : binaryTraceCarrier(request)),
      );
      reply.code(outcome.status === 'accepted' ? 202 : 200).headers(headers);
      return {
        eventId: outcome.eventId,
        status: outcome.status,
        timestamp: outcome.timestamp.toISOString(),
      };
    },
  );

  app.post<{ Body: { events: unknown[] } | unknown[] }>(
    '/v1/events/batch',
    {
      config: { access: 'events:publish' },
      bodyLimit: options.batchBodyLimitBytes,
      schema: {
        operationId: 'publishEventBatch',
        tags,
        summary:
          'Publish up to the batch limit of events (native, or a CloudEvents batch); each is validated on its own',
        body: {
          content: {
            'application/json': {
              schema: {
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
            },
            [CLOUDEVENTS_BATCH_JSON]: { schema: cloudEventBatch },
          },
        },
        response: { 200: batchResult.ref, ...errors },
      },
    },
    async (request) => {
      const body = request.body;
      if (Array.isArray(body)) {
        return inCloudEventReceiveSpans(tracing, request, body, (receivedIn) =>
          receiver.receiveBatch(body, receivedIn, CLOUDEVENTS_FORMAT),
        );
      }
      return inReceiveSpan(tracing, request, batchAttributes(body.events), (receivedIn) =>
        receiver.receiveBatch(body.events, receivedIn),
      );
    },
  );

  app.post<{ Body: EventInput | Record<string, unknown> }>(
    '/v1/events/validate',
    {
      config: { access: 'events:publish' },
      schema: {
        operationId: 'validateEvent',
        tags,
        summary: 'Run every check of POST /v1/events without storing anything',
        body: singleEventBody(),
        response: {
          200: exactObject(
            {
              valid: {
                type: 'boolean',
                enum: [true],
                description: 'always true: an event that fails a check is answered 400',
              },
              event: eventComponent.ref,
            },
            ['valid', 'event'],
          ),
          400: errorResponseSchema,
          415: errorResponseSchema,
        },
      },
      preValidation: binaryAsNative,
    },
    async (request) => {
      // Nothing is stored: the event shows the request's trace, as a received one would.
      const { event } = await receiver.validate(
        request.body,
        traceparentOf(request.traceContext),
        singleEventFormat(request),
      );
      return { valid: true, event: event.instance };
    },
  );
}
