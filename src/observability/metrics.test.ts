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
    metrics.deliverySucceeded();
    metrics.deliveryFailed();
    metrics.deliveryFailed();
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
    expect(delta('eps_deliveries_succeeded_total')).toBe(1);
    expect(delta('eps_deliveries_failed_total')).toBe(2);
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
    a.deliverySucceeded();
    expect(sampleValue(await a.exposition(), 'eps_deliveries_succeeded_total')).toBe(1);
    expect(sampleValue(await b.exposition(), 'eps_deliveries_succeeded_total')).toBe(0);
  });
});
