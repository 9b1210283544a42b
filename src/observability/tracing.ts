import type { IncomingHttpHeaders } from 'node:http';
import {
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  type SpanOptions,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
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
  SUBSCRIBER_ID: 'subscriber.id',
  WORKFLOW_DEFINITION_ID: 'workflow.definition.id',
} as const;

export interface TracingOptions {
  /** `service.name` of the spans. */
  serviceName: string;
  /** Base URL of an OTLP/HTTP collector; spans go to `<url>/v1/traces` in batches. */
  otlpEndpoint?: string;
  /** An exporter of one's own (tests: an in-memory exporter); spans go to it one by one. */
  exporter?: SpanExporter;
}

/**
 * The tracer and the W3C trace-context propagation of the service, without OpenTelemetry's
 * global registration: contexts are passed explicitly (a request's context is
 * `request.traceContext`), so nothing depends on process-wide state.
 *
 * Spans are always created, so an incoming trace continues and outgoing calls carry a valid
 * `traceparent` either way; they are exported only when an endpoint (or exporter) is given.
 */
export class Tracing {
  readonly tracer: Tracer;
  /** True when spans leave the process. */
  readonly exporting: boolean;
  private readonly provider: BasicTracerProvider;
  private readonly propagator = new W3CTraceContextPropagator();

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
    });
    this.tracer = this.provider.getTracer('event-processing-service');
  }

  /** The trace context of incoming headers (`traceparent`, `tracestate`); empty when absent. */
  extract(headers: IncomingHttpHeaders | Record<string, string>): Context {
    return this.propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
  }

  /**
   * Starts a span as a child of `parent` (e.g. `request.traceContext`) and returns it with the
   * context to pass to the next step, whose spans then belong to the same trace.
   */
  startSpan(
    name: string,
    parent: Context,
    options: SpanOptions = {},
  ): { span: Span; context: Context } {
    const span = this.tracer.startSpan(name, options, parent);
    return { span, context: trace.setSpan(parent, span) };
  }

  /**
   * Adds `traceparent` (and `tracestate`) of `context` to the headers of an outgoing call
   * (webhooks, the workflow executor), so the callee continues the trace. Returns the headers.
   */
  injectTraceHeaders<H extends Record<string, string>>(context: Context, headers: H): H {
    this.propagator.inject(context, headers, defaultTextMapSetter);
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
