import type { Attributes, Context, Link, SpanKind } from '@opentelemetry/api';
import {
  AlwaysOnSampler,
  ParentBasedSampler,
  type Sampler,
  type SamplingResult,
} from '@opentelemetry/sdk-trace-base';

/**
 * OpenTelemetry's default sampler (parent-based, always on) that also records the attributes
 * each span was started with: what a sampler of one's own could decide on. Attributes set after
 * a span's start are not among them.
 */
export class RecordingSampler implements Sampler {
  private readonly started: Array<{ name: string; attributes: Attributes }> = [];
  private readonly decides = new ParentBasedSampler({ root: new AlwaysOnSampler() });

  shouldSample(
    context: Context,
    traceId: string,
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    links: Link[],
  ): SamplingResult {
    this.started.push({ name, attributes: { ...attributes } });
    return this.decides.shouldSample(context, traceId, name, kind, attributes, links);
  }

  /** The start attributes of each span named `name` so far, in the order they started. */
  attributesOf(name: string): Attributes[] {
    return this.started.filter((span) => span.name === name).map((span) => span.attributes);
  }

  /** Forgets the spans recorded so far (between tests). */
  reset(): void {
    this.started.length = 0;
  }

  toString(): string {
    return 'RecordingSampler';
  }
}
