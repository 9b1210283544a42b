import type { IncomingHttpHeaders } from 'node:http';
import {
  type Attributes,
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  type SpanOptions,
  TraceFlags,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  RandomIdGenerator,
  type Sampler,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** Span attribute names of the spec, for the receive → store → route → deliver spans. */
export const SpanAttributes = {
  EVENT_ID: 'event.id',
  EVENT_PATTERN: 'event.pattern',
  EVENT_SOURCE_TYPE: 'event.source.type',
  EVENT_SOURCE_ID: 'event.source.id',
  /** The subscriber's own id (`subscriber.id` of the subscription), not the subscription's. */
  SUBSCRIBER_ID: 'subscriber.id',
  SUBSCRIPTION_ID: 'subscription.id',
  TRIGGER_ID: 'trigger.id',
  WORKFLOW_DEFINITION_ID: 'workflow.definition.id',
} as const;

const propagator = new W3CTraceContextPropagator();

/** The W3C `traceparent` of a context's span (none for a context without a valid span). */
export function traceparentOf(context: Context): string | undefined {
  const headers: Record<string, string> = {};
  propagator.inject(context, headers, defaultTextMapSetter);
  return headers.traceparent;
}

/**
 * The attributes of an HTTP CLIENT span by OpenTelemetry's semantic conventions (webhooks, the
 * workflow engine): `http.request.method`, `url.full` without credentials, `server.address`
 * and `server.port`. An unparsable URL (the call is refused) is left out rather than recorded.
 */
export function httpClientAttributes(method: string, endpoint: string): Attributes {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return { 'http.request.method': method };
  }
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return {
    'http.request.method': method,
    'url.full': redactedUrl(url),
    'server.address': url.hostname,
    'server.port': port,
  };
}

/**
 * The URL without credentials: no userinfo (the caller does not send it either), every query
 * value replaced by `REDACTED` (webhook URLs often carry a token there; the names stay, which
 * is what tells two endpoints apart) and no fragment.
 */
export function redactedUrl(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  copy.hash = '';
  for (const name of new Set(copy.searchParams.keys())) copy.searchParams.set(name, 'REDACTED');
  return copy.href;
}

export interface TracingOptions {
  /** `service.name` of the spans. */
  serviceName: string;
  /** Base URL of an OTLP/HTTP collector; spans go to `<url>/v1/traces` in batches. */
  otlpEndpoint?: string;
  /** An exporter of one's own (tests: an in-memory exporter); spans go to it one by one. */
  exporter?: SpanExporter;
  /**
   * A sampler of one's own for exported spans (tests: one that records what it is asked); by
   * default OpenTelemetry's: parent-based, always on.
   */
  sampler?: Sampler;
}

/**
 * The tracer and the W3C trace-context propagation of the service, without OpenTelemetry's
 * global registration: contexts are passed explicitly (a request's context is
 * `request.traceContext`), so nothing depends on process-wide state.
 *
 * Spans are exported only when an endpoint (or exporter) is given. Without one, `startSpan`
 * returns a non-recording span that still carries a span context (the parent's trace id, a new
 * span id), so an incoming trace continues, logs name the trace and outgoing calls carry a
 * valid `traceparent` either way, without paying for recording spans nobody reads (about 5% of
 * a single-event POST's CPU time).
 */
export class Tracing {
  readonly tracer: Tracer;
  /** True when spans leave the process; hot paths build span attributes only then. */
  readonly exporting: boolean;
  private readonly provider: BasicTracerProvider;
  private readonly ids = new RandomIdGenerator();

  constructor(options: TracingOptions) {
    const spanProcessors: SpanProcessor[] = [];
    if (options.exporter) spanProcessors.push(new SimpleSpanProcessor(options.exporter));
    if (options.otlpEndpoint) {
      const url = `${options.otlpEndpoint.replace(/\/+$/, '')}/v1/traces`;
      spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url })));
    }
    this.exporting = spanProcessors.length > 0;
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': options.serviceName }),
      spanProcessors,
      ...(options.sampler ? { sampler: options.sampler } : {}),
    });
    this.tracer = this.provider.getTracer('event-processing-service');
  }

  /** The trace context of incoming headers (`traceparent`, `tracestate`); empty when absent. */
  extract(headers: IncomingHttpHeaders | Record<string, string>): Context {
    return propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
  }

  /**
   * Starts a span as a child of `parent` (e.g. `request.traceContext`) and returns it with the
   * context to pass to the next step, whose spans then belong to the same trace.
   *
   * Attributes known at the start belong in `options.attributes`, not in a `setAttributes`
   * after it: a sampler (and a span processor's `onStart`) sees only those. A hot path builds
   * them only when {@link exporting} (fixed at construction): without an exporter, the common
   * case, nothing reads them. Not as a function called here instead: under tsx (esbuild's
   * keepNames) every closure made per call is named by a `defineProperty`, about 0.3 µs,
   * several times what a small attributes object costs (~0.05 µs; microbenchmark, 2-core EPYC).
   */
  startSpan(
    name: string,
    parent: Context,
    options: SpanOptions = {},
  ): { span: Span; context: Context } {
    const span = this.exporting
      ? this.tracer.startSpan(name, options, parent)
      : trace.wrapSpanContext(this.childContext(options.root ? undefined : parent));
    return { span, context: trace.setSpan(parent, span) };
  }

  /**
   * The span context the SDK's default sampler (parent-based, always on) would give a new span
   * under `parent`: the parent's trace id, state and sampled flag, or a new sampled trace.
   */
  private childContext(parent: Context | undefined): SpanContext {
    const parentContext = parent && trace.getSpanContext(parent);
    const spanId = this.ids.generateSpanId();
    if (!parentContext || !trace.isSpanContextValid(parentContext)) {
      return { traceId: this.ids.generateTraceId(), spanId, traceFlags: TraceFlags.SAMPLED };
    }
    return {
      traceId: parentContext.traceId,
      spanId,
      traceFlags: parentContext.traceFlags & TraceFlags.SAMPLED,
      ...(parentContext.traceState ? { traceState: parentContext.traceState } : {}),
    };
  }

  /**
   * Adds `traceparent` (and `tracestate`) of `context` to the headers of an outgoing call
   * (webhooks, the workflow executor), so the callee continues the trace. Returns the headers.
   */
  injectTraceHeaders<H extends Record<string, string>>(context: Context, headers: H): H {
    propagator.inject(context, headers, defaultTextMapSetter);
    return headers;
  }

  /** Exports every ended span now (tests, shutdown). */
  forceFlush(): Promise<void> {
    return this.provider.forceFlush();
  }

  /** Flushes and stops exporting; called when the server closes. */
  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
