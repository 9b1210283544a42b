import { jetstream } from '@nats-io/jetstream';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { useTestStream } from '../testing/nats.ts';
import { startReceiver, type TestReceiver } from '../testing/receiver.ts';
import { RecordingSampler } from '../testing/sampler.ts';
import { builtinWorkflowStartedBy } from '../testing/workflows.ts';
import { redactedUrl, Tracing } from './tracing.ts';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN_ID = 'b7ad6b7169203331';

/**
 * What a tracing backend draws from the spans of one published event: one tree from the POST
 * to the webhook and the NATS publish, each span's parent exported too (only the caller's own
 * span, when it sent a traceparent, lives elsewhere).
 */
describe.each(testBackends())('one trace per published event on $name', (backend) => {
  const queue = useTestStream('trace', 'orders');
  let t: TestApp;
  let receiver: TestReceiver;
  const exporter = new InMemorySpanExporter();
  const sampler = new RecordingSampler();
  let workflowId: string;
  let webhookSubscriptionId: string;
  let queueSubscriptionId: string;

  beforeAll(async () => {
    const tracing = new Tracing({ serviceName: 'eps-test', exporter, sampler });
    t = await startTestApp(backend, { definitionCacheTtlMs: 0 }, { tracing });
    receiver = await startReceiver();
    await t.request('POST', '/v1/event-definitions', { payload: openDefinition('orders.created') });
    workflowId = await builtinWorkflowStartedBy(t, 'orders.*', 'wf');
    const subscribe = async (subscriber: Record<string, string>) => {
      const created = await t.request('POST', '/v1/subscriptions', {
        payload: { event_pattern: 'orders.*', subscriber },
      });
      expect(created.status).toBe(201);
      return created.body.subscription_id as string;
    };
    webhookSubscriptionId = await subscribe({
      id: 'notification-service',
      type: 'webhook',
      endpoint: `${receiver.url}/hook?token=s3cret`,
    });
    queueSubscriptionId = await subscribe({
      id: 'warehouse',
      type: 'queue',
      endpoint: queue.subject,
    });
  });
  afterAll(async () => {
    await receiver.close();
    await t.close();
  });
  beforeEach(async () => {
    exporter.reset();
    sampler.reset();
    receiver.received.length = 0;
    await queue.jsm.streams.purge(queue.stream);
  });

  /** Publishes, routes, and returns the finished spans of the event's trace. */
  const publishAndRoute = async (headers: Record<string, string>) => {
    const response = await t.request('POST', '/v1/events', {
      payload: { pattern: 'orders.created', payload: { id: 'o-1' } },
      headers,
    });
    expect(response.status).toBe(202);
    while ((await t.app.workers.runOnce()) > 0) {}
    // The server span ends in onResponse, just after the answer was handed over.
    await vi.waitFor(() =>
      expect(exporter.getFinishedSpans().map((s) => s.name)).toContain('POST /v1/events'),
    );
    const spans = exporter.getFinishedSpans();
    const one = (predicate: (span: ReadableSpan) => boolean) => {
      const found = spans.filter(predicate);
      expect(found).toHaveLength(1);
      return found[0]!;
    };
    return {
      eventId: response.body.eventId as string,
      spans,
      server: one((s) => s.kind === SpanKind.SERVER),
      receive: one((s) => s.name === 'event.receive'),
      fire: one((s) => s.name === 'trigger.fire'),
      attempts: spans.filter((s) => s.name === 'delivery.attempt'),
      client: one((s) => s.kind === SpanKind.CLIENT),
      producer: one((s) => s.kind === SpanKind.PRODUCER),
    };
  };

  const idOf = (span: ReadableSpan) => span.spanContext().spanId;
  const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

  const expectOneTree = async (tree: Awaited<ReturnType<typeof publishAndRoute>>) => {
    const { spans, server, receive, fire, attempts, client, producer } = tree;
    const traceId = server.spanContext().traceId;
    for (const span of spans) expect(span.spanContext().traceId).toBe(traceId);
    // Every span but the request's own hangs below a span that was exported.
    const exported = new Set(spans.map(idOf));
    for (const span of spans.filter((s) => s !== server))
      expect(exported).toContain(parentOf(span));

    expect(parentOf(receive)).toBe(idOf(server));
    expect(receive.attributes['event.id']).toBe(tree.eventId);
    expect(parentOf(fire)).toBe(idOf(receive));
    expect(fire.attributes).toMatchObject({
      'workflow.definition.id': workflowId,
      'event.id': tree.eventId,
    });
    expect(attempts).toHaveLength(2);
    for (const attempt of attempts) expect(parentOf(attempt)).toBe(idOf(receive));
    const attemptOf = (subscriptionId: string) =>
      attempts.find((a) => a.attributes['subscription.id'] === subscriptionId)!;
    const webhookAttempt = attemptOf(webhookSubscriptionId);
    const queueAttempt = attemptOf(queueSubscriptionId);
    expect(webhookAttempt.attributes['subscriber.id']).toBe('notification-service');
    expect(queueAttempt.attributes['subscriber.id']).toBe('warehouse');

    expect(parentOf(client)).toBe(idOf(webhookAttempt));
    expect(client.name).toBe('POST');
    expect(client.attributes).toMatchObject({
      'http.request.method': 'POST',
      'url.full': `${receiver.url}/hook?token=REDACTED`,
      'server.address': '127.0.0.1',
      'http.response.status_code': 200,
    });
    expect(JSON.stringify(spans.map((s) => s.attributes))).not.toContain('s3cret');
    // The receiver continues the trace below the call that reached it.
    expect(receiver.received[0]!.headers.traceparent).toBe(`00-${traceId}-${idOf(client)}-01`);

    expect(parentOf(producer)).toBe(idOf(queueAttempt));
    expect(producer.name).toBe(`send ${queue.subject}`);
    expect(producer.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.destination.name': queue.subject,
    });
    const consumer = await jetstream(queue.admin).consumers.get(queue.stream);
    const message = await consumer.next({ expires: 2000 });
    expect(message?.headers?.get('traceparent')).toBe(`00-${traceId}-${idOf(producer)}-01`);
    message?.ack();

    const stored = await t.request('GET', `/v1/events/${tree.eventId}`);
    expect(stored.body.metadata.traceId).toBe(traceId);
    return traceId;
  };

  it('continues an incoming traceparent: the POST, its firing and its deliveries in one tree', async () => {
    const tree = await publishAndRoute({ traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01` });
    expect(await expectOneTree(tree)).toBe(TRACE_ID);
    expect(parentOf(tree.server)).toBe(CALLER_SPAN_ID);
  });

  it('without a traceparent, starts one trace that still holds the firing and the deliveries', async () => {
    const tree = await publishAndRoute({});
    expect(await expectOneTree(tree)).not.toBe(TRACE_ID);
    expect(tree.server.parentSpanContext).toBeUndefined();
  });

  it('starts the receive, firing, delivery attempt, webhook and NATS spans with their attributes, which a sampler sees', async () => {
    const { eventId } = await publishAndRoute({});
    expect(sampler.attributesOf('event.receive')).toEqual([{ 'event.pattern': 'orders.created' }]);
    const attempt = {
      'event.id': eventId,
      'event.pattern': 'orders.created',
      'routing.attempt': 1,
    };
    expect(sampler.attributesOf('trigger.fire')).toEqual([
      { ...attempt, 'trigger.id': expect.any(String) },
    ]);
    expect(sampler.attributesOf('delivery.attempt')).toEqual(
      expect.arrayContaining([
        { ...attempt, 'subscription.id': webhookSubscriptionId },
        { ...attempt, 'subscription.id': queueSubscriptionId },
      ]),
    );
    expect(sampler.attributesOf('POST')).toEqual([
      {
        'http.request.method': 'POST',
        'url.full': `${receiver.url}/hook?token=REDACTED`,
        'server.address': '127.0.0.1',
        'server.port': Number(new URL(receiver.url).port),
      },
    ]);
    expect(sampler.attributesOf(`send ${queue.subject}`)).toEqual([
      expect.objectContaining({
        'messaging.system': 'nats',
        'messaging.operation.type': 'send',
        'messaging.destination.name': queue.subject,
      }),
    ]);
  });

  it('marks a failed webhook call as an error with its status code', async () => {
    receiver.script.push(503);
    const { client } = await publishAndRoute({});
    expect(client.attributes['http.response.status_code']).toBe(503);
    expect(client.status.code).toBe(SpanStatusCode.ERROR);
  });
});

describe('url.full of a webhook span', () => {
  it('carries no credentials: no userinfo, query values redacted, no fragment', () => {
    expect(
      redactedUrl(new URL('https://user:pa55@hooks.example.com:8443/in?token=abc&x=1&x=2#frag')),
    ).toBe('https://hooks.example.com:8443/in?token=REDACTED&x=REDACTED');
    expect(redactedUrl(new URL('https://hooks.example.com/in'))).toBe(
      'https://hooks.example.com/in',
    );
  });
});
