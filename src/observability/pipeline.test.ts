import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { beforeEach, describe, expect, it } from 'vitest';
import { useAppWithReceiver } from '../testing/app-and-receiver.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { parseExposition } from '../testing/prometheus.ts';
import { builtinWorkflowStartedBy } from '../testing/workflows.ts';
import { Tracing } from './tracing.ts';

/** Metrics and traces of the event pipeline: receive → store → route → fire / deliver. */
describe.each(testBackends())('pipeline observability on $name', (backend) => {
  const exporter = new InMemorySpanExporter();
  const t = useAppWithReceiver(
    backend,
    { definitionCacheTtlMs: 0 },
    { tracing: new Tracing({ serviceName: 'test', exporter }) },
  );
  beforeEach(async () => {
    await t.request('POST', '/v1/event-definitions', { payload: openDefinition('orders.created') });
  });

  const drain = async () => {
    while ((await t.app.workers.runOnce()) > 0) {}
  };
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const { samples } = parseExposition((await t.request('GET', '/metrics')).body);
    return samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((sum, s) => sum + s.value, 0);
  };

  it('moves the event, routing, firing and delivery counters with traffic', async () => {
    await builtinWorkflowStartedBy(t, 'orders.created', 'wf');
    await t.request('POST', '/v1/subscriptions', {
      payload: {
        event_pattern: 'orders.*',
        subscriber: { id: 's', type: 'webhook', endpoint: t.receiver.url },
      },
    });
    const before = {
      received: await metric('eps_events_received_total', { pattern: 'orders.created' }),
      published: await metric('eps_events_published_total'),
      firings: await metric('eps_workflow_trigger_firings_total', { action: 'START' }),
      delivered: await metric('eps_deliveries_succeeded_total'),
      processed: await metric('eps_event_processing_seconds_count'),
    };
    for (let i = 0; i < 3; i++)
      await t.request('POST', '/v1/events', {
        payload: { pattern: 'orders.created', payload: { i } },
      });
    await drain();
    expect(await metric('eps_events_received_total', { pattern: 'orders.created' })).toBe(
      before.received + 3,
    );
    expect(await metric('eps_events_published_total')).toBe(before.published + 3);
    expect(await metric('eps_workflow_trigger_firings_total', { action: 'START' })).toBe(
      before.firings + 3,
    );
    expect(await metric('eps_deliveries_succeeded_total')).toBe(before.delivered + 3);
    expect(await metric('eps_event_processing_seconds_count')).toBe(before.processed + 6);
  });

  it('counts deliveries and dead letters per subscription', async () => {
    const subscribe = async (endpoint: string) =>
      (
        await t.request('POST', '/v1/subscriptions', {
          payload: {
            event_pattern: 'orders.*',
            subscriber: { id: 's', type: 'webhook', endpoint },
            retry_policy: { max_attempts: 1 },
          },
        })
      ).body.subscription_id as string;
    const delivering = await subscribe(t.receiver.url);
    // Nothing listens on port 1: the connection is refused, and one attempt is all it gets.
    const failing = await subscribe('http://127.0.0.1:1/hook');
    for (let i = 0; i < 2; i++)
      await t.request('POST', '/v1/events', {
        payload: { pattern: 'orders.created', payload: {} },
      });
    await drain();

    const of = (subscriptionId: string) => ({ subscription_id: subscriptionId });
    expect(await metric('eps_deliveries_succeeded_total', of(delivering))).toBe(2);
    expect(await metric('eps_deliveries_failed_total', of(delivering))).toBe(0);
    expect(await metric('eps_delivery_duration_seconds_count', of(delivering))).toBe(2);
    expect(await metric('eps_deliveries_failed_total', of(failing))).toBe(2);
    expect(await metric('eps_dead_letters', of(failing))).toBe(2);
    expect(await metric('eps_dead_letters', of(delivering))).toBe(0);

    const requeued = await t.request('POST', `/v1/subscriptions/${failing}/dead-letters/redeliver`);
    expect(requeued.body).toEqual({ requeued: 2 });
    expect(await metric('eps_dead_letters', of(failing))).toBe(0);
  });

  it('carries an incoming traceparent to the outgoing webhook', async () => {
    await t.request('POST', '/v1/subscriptions', {
      payload: {
        event_pattern: 'orders.*',
        subscriber: { id: 's', type: 'webhook', endpoint: t.receiver.url },
      },
    });
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const response = await t.request('POST', '/v1/events', {
      payload: { pattern: 'orders.created', payload: {} },
      headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01` },
    });
    expect(response.status).toBe(202);
    await drain();
    expect(t.receiver.received[0]!.headers.traceparent).toMatch(
      new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`),
    );
  });
});
