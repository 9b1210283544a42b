import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { installAccessControl } from '../auth/access.ts';
import { ApiKeys } from '../auth/api-keys.ts';
import { RateLimiter } from '../auth/rate-limit.ts';
import { RateLimitStore } from '../auth/rate-limit-store.ts';
import { createServer } from '../http/server.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { RecordingSampler } from '../testing/sampler.ts';
import { Metrics } from './metrics.ts';
import { SpanAttributes, Tracing } from './tracing.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`;

/**
 * A local HTTP endpoint recording what it receives (a webhook subscriber, a collector, a
 * workflow engine), answering each request with `answer()` (default 200 `{}`).
 */
async function recorder(
  answer: () => { status: number; body: string } = () => ({ status: 200, body: '{}' }),
): Promise<{
  url: string;
  received: { path: string; headers: IncomingMessage['headers']; body: string }[];
  close(): Promise<void>;
}> {
  const received: { path: string; headers: IncomingMessage['headers']; body: string }[] = [];
  const server: Server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      const { status, body: answered } = answer();
      res.writeHead(status, { 'content-type': 'application/json' }).end(answered);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe.each(testBackends())('tracing on $name', (backend) => {
  let t: TestApp;
  const exporter = new InMemorySpanExporter();
  const sampler = new RecordingSampler();

  beforeAll(async () => {
    t = await startTestApp(
      backend,
      {},
      { tracing: new Tracing({ serviceName: 'eps-test', exporter, sampler }) },
    );
  });
  afterAll(() => t.close());
  afterEach(() => exporter.reset());

  const serverSpans = () =>
    exporter.getFinishedSpans().filter((span) => span.kind === SpanKind.SERVER);

  it('continues an incoming traceparent in a server span per request', async () => {
    const response = await t.request('GET', '/v1/event-definitions/bookings.created', {
      headers: { traceparent: TRACEPARENT },
    });
    expect(response.status).toBe(404);
    const [span] = serverSpans();
    expect(span).toBeDefined();
    expect(span!.spanContext().traceId).toBe(TRACE_ID);
    expect(span!.parentSpanContext?.spanId).toBe(PARENT_SPAN_ID);
    expect(span!.spanContext().spanId).not.toBe(PARENT_SPAN_ID);
    expect(span!.name).toBe('GET /v1/event-definitions/:ref');
    expect(span!.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.route': '/v1/event-definitions/:ref',
      'http.response.status_code': 404,
    });
  });

  it('starts a new trace when the caller sends none, or a malformed one', async () => {
    await t.request('GET', '/healthz');
    await t.request('GET', '/healthz', { headers: { traceparent: 'not-a-traceparent' } });
    const spans = serverSpans();
    expect(spans).toHaveLength(2);
    for (const span of spans) {
      expect(span.parentSpanContext).toBeUndefined();
      expect(span.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(span.spanContext().traceId).not.toBe(TRACE_ID);
    }
  });

  it('traces requests no route matched, under a bounded name', async () => {
    await t.request('GET', '/v1/nothing', { headers: { traceparent: TRACEPARENT } });
    expect(serverSpans().map((s) => s.name)).toEqual(['GET unmatched']);
  });

  it('names the spec attributes as constants', () => {
    expect(SpanAttributes).toEqual({
      EVENT_ID: 'event.id',
      EVENT_PATTERN: 'event.pattern',
      EVENT_SOURCE_TYPE: 'event.source.type',
      EVENT_SOURCE_ID: 'event.source.id',
      SUBSCRIBER_ID: 'subscriber.id',
      SUBSCRIPTION_ID: 'subscription.id',
      TRIGGER_ID: 'trigger.id',
      WORKFLOW_DEFINITION_ID: 'workflow.definition.id',
    });
  });

  /** Routes every due firing and delivery. */
  const drain = async () => {
    while ((await t.app.workers.runOnce()) > 0) {}
  };
  const spansNamed = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);

  it('traces each call to an http workflow engine as a CLIENT span under the firing', async () => {
    let engineStatus = 200;
    const engine = await recorder(() => ({
      status: engineStatus,
      body: JSON.stringify({ instanceId: 'engine-1' }),
    }));
    try {
      await t.request('POST', '/v1/event-definitions', {
        payload: openDefinition('engine.started'),
      });
      const workflow = await t.request('POST', '/v1/workflow-definitions', {
        payload: { name: 'engine-flow', executor: 'http', executorUrl: `${engine.url}/engine` },
      });
      expect(workflow.status).toBe(201);
      await t.request('POST', '/v1/workflow-triggers', {
        payload: {
          workflowDefinitionId: workflow.body.id,
          eventPattern: 'engine.started',
          triggerType: 'START',
        },
      });
      const publish = async () => {
        const published = await t.request('POST', '/v1/events', {
          payload: { pattern: 'engine.started', payload: {} },
          headers: { traceparent: TRACEPARENT },
        });
        expect(published.status).toBe(202);
        await drain();
      };

      await publish();
      const [fire] = spansNamed('trigger.fire');
      const calls = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
      expect(calls).toHaveLength(1);
      const [call] = calls;
      expect(call!.name).toBe('POST');
      expect(call!.spanContext().traceId).toBe(TRACE_ID);
      expect(call!.parentSpanContext?.spanId).toBe(fire!.spanContext().spanId);
      expect(call!.attributes).toMatchObject({
        'http.request.method': 'POST',
        'url.full': `${engine.url}/engine/start`,
        'server.address': '127.0.0.1',
        'http.response.status_code': 200,
      });
      // Attributes known before the call are the span's start attributes: a sampler sees them.
      expect(sampler.attributesOf('POST')).toContainEqual({
        'http.request.method': 'POST',
        'url.full': `${engine.url}/engine/start`,
        'server.address': '127.0.0.1',
        'server.port': Number(new URL(engine.url).port),
      });
      expect(call!.status.code).toBe(SpanStatusCode.UNSET);
      // The engine continues the trace below the call's own span.
      expect(engine.received[0]!.headers.traceparent).toBe(
        `00-${TRACE_ID}-${call!.spanContext().spanId}-01`,
      );

      exporter.reset();
      engineStatus = 422;
      await publish();
      const [refused] = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
      expect(refused!.attributes).toMatchObject({
        'http.response.status_code': 422,
        'error.type': 'http_status',
      });
      expect(refused!.status.code).toBe(SpanStatusCode.ERROR);
    } finally {
      await engine.close();
    }
  });

  describe("a CloudEvent's traceparent extension", () => {
    const EVENT_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
    const EVENT_SPAN_ID = 'b7ad6b7169203331';
    const eventTraceparent = (spanId = EVENT_SPAN_ID) => `00-${EVENT_TRACE_ID}-${spanId}-01`;
    const cloudEvent = (id: string, extensions: Record<string, string> = {}) => ({
      specversion: '1.0',
      id,
      source: '/shop',
      type: 'traced.created',
      data: {},
      ...extensions,
    });

    beforeAll(async () => {
      await t.request('POST', '/v1/event-definitions', {
        payload: openDefinition('traced.created'),
      });
      exporter.reset();
    });

    /** The event.receive spans, with the request's server span they should link to. */
    const receiveSpans = async () => {
      await vi.waitFor(() => expect(serverSpans().length).toBeGreaterThan(0));
      const [request] = serverSpans();
      return { request: request!, receives: spansNamed('event.receive') };
    };

    const expectUnderEventTrace = (
      receive: ReturnType<typeof spansNamed>[number] | undefined,
      request: ReturnType<typeof spansNamed>[number],
      spanId = EVENT_SPAN_ID,
    ) => {
      expect(receive!.spanContext().traceId).toBe(EVENT_TRACE_ID);
      expect(receive!.parentSpanContext?.spanId).toBe(spanId);
      // The HTTP request that carried the event is linked, not lost.
      expect(receive!.links.map((l) => l.context.spanId)).toEqual([request.spanContext().spanId]);
    };

    it('parents the receive span in structured mode, over the HTTP traceparent', async () => {
      const response = await t.request('POST', '/v1/events', {
        payload: cloudEvent('ce-structured', { traceparent: eventTraceparent() }),
        headers: { 'content-type': 'application/cloudevents+json', traceparent: TRACEPARENT },
      });
      expect(response.status).toBe(202);
      const { request, receives } = await receiveSpans();
      expect(request.spanContext().traceId).toBe(TRACE_ID);
      expect(receives).toHaveLength(1);
      expectUnderEventTrace(receives[0], request);
      const stored = await t.request('GET', '/v1/events/ce-structured');
      expect(stored.body.metadata.traceId).toBe(EVENT_TRACE_ID);
    });

    it('parents the receive span in binary mode (ce-traceparent)', async () => {
      const response = await t.request('POST', '/v1/events', {
        payload: {},
        headers: {
          'content-type': 'application/json',
          'ce-specversion': '1.0',
          'ce-id': 'ce-binary',
          'ce-source': '/shop',
          'ce-type': 'traced.created',
          'ce-traceparent': eventTraceparent(),
        },
      });
      expect(response.status).toBe(202);
      const { request, receives } = await receiveSpans();
      expect(receives).toHaveLength(1);
      expectUnderEventTrace(receives[0], request);
    });

    it("parents each batch event's receive span under its own trace", async () => {
      const otherSpan = 'c7ad6b7169203332';
      const response = await t.request('POST', '/v1/events/batch', {
        payload: [
          cloudEvent('ce-batch-1', { traceparent: eventTraceparent() }),
          cloudEvent('ce-batch-2'),
          cloudEvent('ce-batch-3', { traceparent: eventTraceparent(otherSpan) }),
        ],
        headers: { 'content-type': 'application/cloudevents-batch+json' },
      });
      expect(response.body.accepted).toBe(3);
      const { request, receives } = await receiveSpans();
      expect(receives).toHaveLength(3);
      const byParent = (spanId: string) =>
        receives.find((r) => r.parentSpanContext?.spanId === spanId);
      expectUnderEventTrace(byParent(EVENT_SPAN_ID), request);
      expectUnderEventTrace(byParent(otherSpan), request, otherSpan);
      // The event without one is received in the request's trace, as a native event is.
      const untraced = byParent(request.spanContext().spanId);
      expect(untraced!.spanContext().traceId).toBe(request.spanContext().traceId);
      expect(untraced!.links).toEqual([]);
    });

    it('leaves a malformed traceparent extension to the request trace', async () => {
      await t.request('POST', '/v1/events', {
        payload: cloudEvent('ce-malformed', { traceparent: 'not-a-traceparent' }),
        headers: { 'content-type': 'application/cloudevents+json', traceparent: TRACEPARENT },
      });
      const { request, receives } = await receiveSpans();
      expect(receives[0]!.spanContext().traceId).toBe(TRACE_ID);
      expect(receives[0]!.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    });
  });

  it('carries the trace from an incoming traceparent to an outgoing call', async () => {
    // A route making an outgoing call the way webhook delivery will: a client span under the
    // request's span, its context injected into the outgoing headers.
    const subscriber = await recorder();
    // Its own exporter: closing the server shuts the exporter down, which empties it.
    const ownExporter = new InMemorySpanExporter();
    const tracing = new Tracing({ serviceName: 'eps-test', exporter: ownExporter });
    const { server } = await createServer({
      logger: pino({ level: 'silent' }),
      bodyLimitBytes: 1024,
      metrics: new Metrics({ processMetrics: false }),
      tracing,
      installAccessControl: (app) =>
        installAccessControl(app, {
          apiKeys: new ApiKeys({ db: t.db, clock: t.clock, cacheSeconds: 0 }),
          rateLimiter: new RateLimiter({
            store: new RateLimitStore(t.db),
            clock: t.clock,
            limits: {},
          }),
          clock: t.clock,
          authEnabled: false,
        }),
    });
    server.post('/v1/deliver', { config: { access: 'public' } }, async (request) => {
      const { span, context } = tracing.startSpan('deliver', request.traceContext, {
        kind: SpanKind.CLIENT,
        attributes: { [SpanAttributes.SUBSCRIBER_ID]: 'sub_1', [SpanAttributes.EVENT_ID]: 'ev_1' },
      });
      try {
        const response = await fetch(`${subscriber.url}/hook`, {
          method: 'POST',
          headers: tracing.injectTraceHeaders(context, { 'content-type': 'application/json' }),
          body: '{}',
        });
        return { status: response.status };
      } finally {
        span.end();
      }
    });
    let spans: ReturnType<typeof ownExporter.getFinishedSpans> = [];
    try {
      const response = await server.inject({
        method: 'POST',
        url: '/v1/deliver',
        headers: { traceparent: TRACEPARENT, 'content-type': 'application/json' },
        payload: '{}',
      });
      expect(response.json()).toEqual({ status: 200 });
      // The server span ends in onResponse, just after the response has been handed over.
      await vi.waitFor(() =>
        expect(ownExporter.getFinishedSpans().map((s) => s.name)).toContain('POST /v1/deliver'),
      );
      spans = [...ownExporter.getFinishedSpans()];
    } finally {
      await server.close();
      await subscriber.close();
    }

    const serverSpan = spans.find(
      (s) => s.kind === SpanKind.SERVER && s.name === 'POST /v1/deliver',
    )!;
    const clientSpan = spans.find((s) => s.name === 'deliver')!;
    expect(serverSpan.spanContext().traceId).toBe(TRACE_ID);
    expect(clientSpan.spanContext().traceId).toBe(TRACE_ID);
    expect(clientSpan.parentSpanContext?.spanId).toBe(serverSpan.spanContext().spanId);
    expect(clientSpan.attributes).toMatchObject({ 'subscriber.id': 'sub_1', 'event.id': 'ev_1' });
    const outgoing = subscriber.received[0]!.headers.traceparent;
    expect(outgoing).toBe(`00-${TRACE_ID}-${clientSpan.spanContext().spanId}-01`);
  });
});

describe('span export', () => {
  it('exports nothing without an endpoint', () => {
    expect(new Tracing({ serviceName: 'eps-test' }).exporting).toBe(false);
  });

  it('records no spans without an exporter, yet continues and propagates the trace', () => {
    const tracing = new Tracing({ serviceName: 'eps-test' });
    const parent = tracing.extract({ traceparent: TRACEPARENT, tracestate: 'vendor=1' });
    const { span, context } = tracing.startSpan('work', parent, {
      attributes: { [SpanAttributes.EVENT_ID]: 'ev_1' },
    });
    expect(span.isRecording()).toBe(false);
    const { traceId, spanId, traceFlags } = span.spanContext();
    expect(traceId).toBe(TRACE_ID);
    expect(spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(spanId).not.toBe(PARENT_SPAN_ID);
    expect(traceFlags).toBe(1);
    const { span: child } = tracing.startSpan('child', context);
    expect(child.spanContext().traceId).toBe(TRACE_ID);
    expect(child.spanContext().spanId).not.toBe(spanId);
    expect(tracing.injectTraceHeaders(context, {} as Record<string, string>)).toEqual({
      traceparent: `00-${TRACE_ID}-${spanId}-01`,
      tracestate: 'vendor=1',
    });
    span.end();
  });

  it('starts a span with its attributes, which the sampler sees', () => {
    const sampler = new RecordingSampler();
    const tracing = new Tracing({
      serviceName: 'eps-test',
      exporter: new InMemorySpanExporter(),
      sampler,
    });
    const attributes = { [SpanAttributes.EVENT_ID]: 'ev_1' };
    tracing
      .startSpan('work', tracing.extract({ traceparent: TRACEPARENT }), { attributes })
      .span.end();
    expect(sampler.attributesOf('work')).toEqual([attributes]);
  });

  it('without an exporter, starts a sampled trace when none came in and keeps an unsampled one unsampled', () => {
    const tracing = new Tracing({ serviceName: 'eps-test' });
    const roots = [tracing.extract({}), tracing.extract({ traceparent: 'not-a-traceparent' })].map(
      (parent) => tracing.startSpan('root', parent).span.spanContext(),
    );
    for (const root of roots) {
      expect(root.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(root.traceId).not.toBe(TRACE_ID);
      expect(root.traceFlags).toBe(1);
    }
    expect(roots[0]!.traceId).not.toBe(roots[1]!.traceId);
    const { context } = tracing.startSpan(
      'unsampled',
      tracing.extract({ traceparent: `00-${TRACE_ID}-${PARENT_SPAN_ID}-00` }),
    );
    expect(tracing.injectTraceHeaders(context, {} as Record<string, string>).traceparent).toMatch(
      new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-00$`),
    );
    const { span: root } = tracing.startSpan('forced root', context, { root: true });
    expect(root.spanContext().traceId).not.toBe(TRACE_ID);
  });

  it.each(testBackends())(
    'sends spans to OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces when it is set ($name)',
    async (backend) => {
      const collector = await recorder();
      const t = await startTestApp(backend, {
        otlpEndpoint: collector.url,
        serviceName: 'eps-otlp',
      });
      expect(t.app.tracing.exporting).toBe(true);
      await t.request('GET', '/healthz', { headers: { traceparent: TRACEPARENT } });
      await t.app.tracing.forceFlush();
      await t.close();
      await collector.close();
      expect(collector.received.map((r) => r.path)).toContain('/v1/traces');
      const body = collector.received.map((r) => r.body).join('\n');
      expect(body).toContain('eps-otlp');
      expect(body).toContain('GET /healthz');
    },
  );
});
