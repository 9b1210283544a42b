import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ApiKeys } from '../auth/api-keys.ts';
import { RateLimiter } from '../auth/rate-limit.ts';
import { RateLimitStore } from '../auth/rate-limit-store.ts';
import { createServer } from '../http/server.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { Metrics } from './metrics.ts';
import { SpanAttributes, Tracing } from './tracing.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`;

/** A local HTTP endpoint recording what it receives (a webhook subscriber, a collector). */
async function recorder(): Promise<{
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
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
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

  beforeAll(async () => {
    t = await startTestApp(
      backend,
      {},
      { tracing: new Tracing({ serviceName: 'eps-test', exporter }) },
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
      access: {
        apiKeys: new ApiKeys({ db: t.db, clock: t.clock, cacheSeconds: 0 }),
        rateLimiter: new RateLimiter({
          store: new RateLimitStore(t.db),
          clock: t.clock,
          limits: {},
        }),
        clock: t.clock,
        authEnabled: false,
      },
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
