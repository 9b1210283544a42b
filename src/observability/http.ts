import { type Context, type Span, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Metrics } from './metrics.ts';
import type { Tracing } from './tracing.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The request's trace context: its server span, continuing the caller's `traceparent` when
     * one was sent. Parent of every span the request's work starts.
     */
    traceContext: Context;
  }
}

/** The route label of requests no route matched (never the raw URL: it is unbounded). */
export const UNMATCHED_ROUTE = 'unmatched';

const routeOf = (request: FastifyRequest) => request.routeOptions.url ?? UNMATCHED_ROUTE;

/**
 * One server span per request (continuing an incoming `traceparent`) and the HTTP latency
 * histogram by method, route template and status code. Installed before access control, so
 * refused requests (401, 403, 429) are traced and measured too.
 */
export function installRequestObservability(
  app: FastifyInstance,
  deps: { metrics: Metrics; tracing: Tracing },
): void {
  const spans = new WeakMap<FastifyRequest, Span>();
  app.decorateRequest('traceContext', null as unknown as Context);

  // Callback hooks, not async ones: an async hook costs a promise and a microtask turn per request.
  app.addHook('onRequest', (request: FastifyRequest, _reply, done) => {
    const route = routeOf(request);
    const { span, context } = deps.tracing.startSpan(
      `${request.method} ${route}`,
      deps.tracing.extract(request.headers),
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': request.method, 'http.route': route },
      },
    );
    spans.set(request, span);
    request.traceContext = context;
    done();
  });

  const finish = (request: FastifyRequest, statusCode: number) => {
    const span = spans.get(request);
    if (!span) return;
    spans.delete(request);
    span.setAttribute('http.response.status_code', statusCode);
    if (statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  };

  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done) => {
    finish(request, reply.statusCode);
    deps.metrics.observeHttpRequest(
      request.method,
      routeOf(request),
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });

  // The client went away before an answer: close the span; there is no status to measure.
  app.addHook('onRequestAbort', async (request: FastifyRequest) => finish(request, 499));
}
