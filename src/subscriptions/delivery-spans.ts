import { type Attributes, type Span, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { AttemptOutcome } from '../delivery/senders.ts';
import { httpClientAttributes } from '../observability/tracing.ts';
import type { SubscriberType } from './subscription.ts';

/**
 * The span of one outgoing delivery, named and described by OpenTelemetry's semantic
 * conventions so backends draw it as a call to another service: a webhook is an HTTP CLIENT
 * span (`POST`, `http.request.method`, `url.full`, `server.address`, `server.port`,
 * `http.response.status_code`), a queue delivery a NATS PRODUCER span (`send <subject>`,
 * `messaging.*`). Its name and kind; its start attributes are {@link outgoingAttributes}.
 */
export function outgoingSpan(
  type: SubscriberType,
  endpoint: string,
): { name: string; kind: SpanKind } {
  return type === 'queue'
    ? { name: `send ${endpoint}`, kind: SpanKind.PRODUCER }
    : { name: 'POST', kind: SpanKind.CLIENT };
}

/**
 * The start attributes of a delivery's outgoing span. They parse the endpoint, which only
 * exported spans are worth: the delivery hot path runs without an exporter too.
 */
export function outgoingAttributes(
  type: SubscriberType,
  endpoint: string,
  deliveryId: string,
): Attributes {
  if (type === 'queue')
    return {
      'messaging.system': 'nats',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish',
      'messaging.destination.name': endpoint,
      'messaging.message.id': deliveryId,
    };
  return httpClientAttributes('POST', endpoint);
}

/** Records what the attempt came to on its span: the status code, and an error unless delivered. */
export function recordOutcome(span: Span, outcome: AttemptOutcome): void {
  if ('statusCode' in outcome && outcome.statusCode !== undefined)
    span.setAttribute('http.response.status_code', outcome.statusCode);
  if (outcome.kind === 'delivered') return;
  const message = 'error' in outcome ? outcome.error : `HTTP ${outcome.statusCode}`;
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  span.setAttribute(
    'error.type',
    'statusCode' in outcome ? String(outcome.statusCode) : outcome.kind,
  );
}
