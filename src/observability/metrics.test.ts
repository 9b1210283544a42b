import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { bookingDefinition } from '../testing/fixtures.ts';
import { parseExposition, sampleValue } from '../testing/prometheus.ts';
import { Metrics } from './metrics.ts';

describe.each(testBackends())('metrics on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend, { metricsMaxPatterns: 3 });
  });
  afterAll(() => t.close());
  beforeEach(() => t.reset());

  const scrape = async () => {
    const response = await t.request('GET', '/metrics');
    expect(response.status).toBe(200);
    return response.body as string;
  };

  it('serves the Prometheus text format with every metric of the spec', async () => {
    const response = await t.request('GET', '/metrics');
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const { types } = parseExposition(response.body);
    expect(Object.fromEntries([...types].filter(([name]) => name.startsWith('eps_')))).toEqual(
      expect.objectContaining({
        eps_events_received_total: 'counter',
        eps_events_published_total: 'counter',
        eps_deliveries_succeeded_total: 'counter',
        eps_deliveries_failed_total: 'counter',
        eps_delivery_duration_seconds: 'histogram',
        eps_dead_letters: 'gauge',
        eps_event_processing_seconds: 'histogram',
        eps_active_subscriptions: 'gauge',
        eps_workflow_trigger_firings_total: 'counter',
        eps_ingest_queue_depth: 'gauge',
        eps_routing_lag_seconds: 'gauge',
        eps_http_request_duration_seconds: 'histogram',
      }),
    );
    // Node's process metrics come along (memory, CPU, event loop lag).
    expect(types.get('process_cpu_user_seconds_total')).toBe('counter');
  });

  it('measures HTTP latency by route template, never by raw URL', async () => {
    const labels = { method: 'GET', route: '/v1/event-definitions/:ref', status_code: '404' };
    const before = sampleValue(await scrape(), 'eps_http_request_duration_seconds_count', labels);
    for (const ref of ['a1', 'b2', 'c3']) await t.request('GET', `/v1/event-definitions/${ref}`);
    await t.request('GET', '/v1/no-such-route/secret-looking-id-123');
    const created = await t.request('POST', '/v1/event-definitions', {
      payload: bookingDefinition(),
    });
    expect(created.status).toBe(201);

    const text = await scrape();
    expect(sampleValue(text, 'eps_http_request_duration_seconds_count', labels)).toBe(before + 3);
    expect(
      sampleValue(text, 'eps_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/v1/event-definitions',
        status_code: '201',
      }),
    ).toBe(1);
    expect(
      sampleValue(text, 'eps_http_request_duration_seconds_count', {
        route: 'unmatched',
        status_code: '404',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain('secret-looking-id-123');
    expect(text).not.toContain('/v1/event-definitions/a1');
    expect(text).not.toContain(created.body.id);
  });

  it('moves the event counters, gauges and histograms the capabilities report', async () => {
    const metrics = t.app.metrics;
    const before = await scrape();
    metrics.eventReceived('bookings.created', 'workflow');
    metrics.eventReceived('bookings.created', 'workflow');
    metrics.eventPublished('bookings.created');
    metrics.deliveryAttempted('sub-1', true, 0.02);
    metrics.deliveryAttempted('sub-1', false, 0.3);
    metrics.deliveryAttempted('sub-1', false, 3);
    metrics.observeEventProcessing(0.004);
    metrics.setActiveSubscriptions(7);
    metrics.workflowTriggerFired('START');
    metrics.workflowTriggerFired('CANCEL');
    metrics.setQueueDepth(42);
    metrics.setRoutingLag(1.5);
    const after = await scrape();

    const delta = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(after, name, labels) - sampleValue(before, name, labels);
    const received = { pattern: 'bookings.created', source_type: 'workflow' };
    expect(delta('eps_events_received_total', received)).toBe(2);
    expect(delta('eps_events_published_total', { pattern: 'bookings.created' })).toBe(1);
    const sub = { subscription_id: 'sub-1' };
    expect(delta('eps_deliveries_succeeded_total', sub)).toBe(1);
    expect(delta('eps_deliveries_failed_total', sub)).toBe(2);
    expect(delta('eps_delivery_duration_seconds_count', sub)).toBe(3);
    expect(delta('eps_delivery_duration_seconds_bucket', { ...sub, le: '0.025' })).toBe(1);
    expect(delta('eps_event_processing_seconds_count')).toBe(1);
    expect(delta('eps_event_processing_seconds_bucket', { le: '0.005' })).toBe(1);
    expect(delta('eps_workflow_trigger_firings_total', { action: 'START' })).toBe(1);
    expect(delta('eps_workflow_trigger_firings_total', { action: 'CANCEL' })).toBe(1);
    expect(sampleValue(after, 'eps_active_subscriptions')).toBe(7);
    expect(sampleValue(after, 'eps_ingest_queue_depth')).toBe(42);
    expect(sampleValue(after, 'eps_routing_lag_seconds')).toBe(1.5);
  });

  it('bounds label values: patterns past the cap and unknown actions count as other', async () => {
    // This app caps patterns at 3.
    for (const pattern of ['p.one', 'p.two', 'p.three', 'p.four', 'p.five', 'p.one']) {
      t.app.metrics.eventPublished(pattern);
    }
    t.app.metrics.workflowTriggerFired('DROP TABLE');
    const text = await scrape();
    const patterns = parseExposition(text)
      .samples.filter((s) => s.name === 'eps_events_published_total')
      .map((s) => s.labels.pattern);
    expect(new Set(patterns).size).toBeLessThanOrEqual(4);
    expect(
      sampleValue(text, 'eps_events_published_total', { pattern: 'other' }),
    ).toBeGreaterThanOrEqual(2);
    expect(text).not.toContain('p.five');
    expect(sampleValue(text, 'eps_workflow_trigger_firings_total', { action: 'other' })).toBe(1);
  });

  it('reports database pool use where the backend has a pool', async () => {
    const text = await scrape();
    if (backend.name === 'postgres') {
      expect(
        sampleValue(text, 'eps_db_pool_connections', { state: 'total' }),
      ).toBeGreaterThanOrEqual(1);
      expect(text).toContain('eps_db_pool_connections{state="waiting"}');
      expect(text).toContain('eps_db_pool_connections{state="idle"}');
    } else {
      expect(text).not.toContain('eps_db_pool_connections');
    }
  });

  it('keeps each Metrics on its own registry (no global state)', async () => {
    const a = new Metrics({ processMetrics: false });
    const b = new Metrics({ processMetrics: false });
    a.deliveryAttempted('sub-1', true, 0.01);
    expect(sampleValue(await a.exposition(), 'eps_deliveries_succeeded_total')).toBe(1);
    expect(sampleValue(await b.exposition(), 'eps_deliveries_succeeded_total')).toBe(0);
  });
});

describe('per-subscription delivery metrics', () => {
  const samplesOf = (text: string, name: string) =>
    parseExposition(text).samples.filter((s) => s.name === name);

  it('caps the subscription_id label: subscriptions past the cap count as other', async () => {
    const metrics = new Metrics({ processMetrics: false, maxSubscriptions: 2 });
    for (const id of ['sub-a', 'sub-b', 'sub-c', 'sub-d', 'sub-a'])
      metrics.deliveryAttempted(id, true, 0.01);
    metrics.deliveryAttempted('sub-c', false, 0.01);
    const text = await metrics.exposition();
    expect(
      samplesOf(text, 'eps_deliveries_succeeded_total').map((s) => [
        s.labels.subscription_id,
        s.value,
      ]),
    ).toEqual([
      ['sub-a', 2],
      ['sub-b', 1],
      ['other', 2],
    ]);
    expect(sampleValue(text, 'eps_deliveries_failed_total', { subscription_id: 'other' })).toBe(1);
    expect(
      new Set(
        samplesOf(text, 'eps_delivery_duration_seconds_count').map((s) => s.labels.subscription_id),
      ),
    ).toEqual(new Set(['sub-a', 'sub-b', 'other']));
    expect(text).not.toContain('sub-c');
  });

  it('reads the dead letters per subscription at scrape time, under the same cap', async () => {
    let counts = new Map([
      ['sub-a', 2],
      ['sub-b', 1],
      ['sub-c', 4],
    ]);
    const metrics = new Metrics({
      processMetrics: false,
      maxSubscriptions: 1,
      deadLetterCounts: async () => counts,
    });
    const gauge = async () =>
      samplesOf(await metrics.exposition(), 'eps_dead_letters').map((s) => [
        s.labels.subscription_id,
        s.value,
      ]);
    expect(await gauge()).toEqual([
      ['sub-a', 2],
      ['other', 5],
    ]);
    // Redelivered: the subscription leaves the gauge rather than keeping its last count.
    counts = new Map([['sub-a', 1]]);
    expect(await gauge()).toEqual([['sub-a', 1]]);
  });

  it('keeps the last dead-letter figures while the store cannot be read', async () => {
    let failing = false;
    const metrics = new Metrics({
      processMetrics: false,
      deadLetterCounts: async () => {
        if (failing) throw new Error('database unavailable');
        return new Map([['sub-a', 3]]);
      },
    });
    expect(sampleValue(await metrics.exposition(), 'eps_dead_letters')).toBe(3);
    failing = true;
    expect(sampleValue(await metrics.exposition(), 'eps_dead_letters')).toBe(3);
  });
});
