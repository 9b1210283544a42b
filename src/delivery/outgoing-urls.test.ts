import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { startReceiver, type TestReceiver } from '../testing/receiver.ts';
import { SSRF_FORMS } from '../testing/ssrf-forms.ts';
import { insertDefinition } from '../workflows/repository.ts';

/**
 * Every kind of URL the service later calls is held to the one egress policy when it is written:
 * each is swept with the same SSRF forms, with nothing allowlisted (loopback is as forbidden as
 * any private address). The connect-time half is swept in egress.test.ts; here an engine URL and
 * a wait callback stored before they were refused are stopped when they are called.
 */
describe.each(testBackends())('every kind of outgoing URL on $name', (backend) => {
  let t: TestApp;
  let engine: TestReceiver;
  let httpDefinition: string;
  beforeAll(async () => {
    const delivery = { ...loadConfig({}).delivery, encryptionKey: randomBytes(32) };
    t = await startTestApp(backend, { delivery });
    engine = await startReceiver();
  });
  afterAll(async () => {
    await engine.close();
    await t.close();
  });
  beforeEach(async () => {
    await t.reset();
    const created = await t.request('POST', '/v1/workflow-definitions', {
      payload: { name: 'remote', executor: 'http', executorUrl: 'https://8.8.8.8/engine' },
    });
    expect(created.status).toBe(201);
    httpDefinition = created.body.id;
  });

  const kinds: Record<string, (url: string) => Promise<{ status: number; body: any }>> = {
    'webhook endpoint (POST /v1/subscriptions)': (endpoint) =>
      t.request('POST', '/v1/subscriptions', {
        payload: { event_pattern: '**', subscriber: { id: 's', type: 'webhook', endpoint } },
      }),
    'executorUrl (POST /v1/workflow-definitions)': (executorUrl) =>
      t.request('POST', '/v1/workflow-definitions', {
        payload: { name: 'engine', executor: 'http', executorUrl },
      }),
    'executorUrl (PUT /v1/workflow-definitions/by-name)': (executorUrl) =>
      t.request('PUT', '/v1/workflow-definitions/by-name/engine/1.0.0', {
        payload: { executor: 'http', executorUrl },
      }),
    'executorUrl (PATCH /v1/workflow-definitions/{id})': (executorUrl) =>
      t.request('PATCH', `/v1/workflow-definitions/${httpDefinition}`, {
        payload: { executorUrl },
        headers: { 'if-match': '*' },
      }),
    'notify.url (POST /v1/waits)': (url) =>
      t.request('POST', '/v1/waits', {
        payload: {
          pattern: 'orders.paid',
          correlationKey: 'order-1',
          timeout: 'PT1H',
          notify: { url },
        },
      }),
  };
  const fieldOf = (kind: string) =>
    kind.startsWith('webhook')
      ? 'subscriber.endpoint'
      : kind.startsWith('notify')
        ? 'notify.url'
        : 'executorUrl';

  describe.each(Object.keys(kinds))('%s', (kind) => {
    it(`refuses all ${SSRF_FORMS.length} SSRF forms with 400 egress_denied naming the reason`, async () => {
      const accepted: string[] = [];
      for (const [url, reason] of SSRF_FORMS) {
        const response = await kinds[kind]!(url);
        const detail = response.body.error?.details?.[0];
        if (
          response.status !== 400 ||
          detail?.field !== fieldOf(kind) ||
          detail?.code !== 'egress_denied' ||
          !detail.message.includes(reason.replace('_', ' '))
        )
          accepted.push(`${url} → ${response.status} ${JSON.stringify(detail)}`);
      }
      expect(accepted).toEqual([]);
    });

    it('refuses other schemes', async () => {
      for (const url of ['ftp://example.com/file', 'file:///etc/passwd', 'gopher://8.8.8.8/']) {
        const response = await kinds[kind]!(url);
        expect(response.status).toBe(400);
        expect(response.body.error.details[0].field).toBe(fieldOf(kind));
      }
    });
  });

  it('stops at connect time an engine URL stored before it was refused, without retrying', async () => {
    // As a definition written by an older version, or before the allowlist changed.
    const legacy = await insertDefinition(
      t.db,
      {
        name: 'legacy',
        version: '1.0.0',
        description: '',
        inputSchema: null,
        labels: {},
        executor: 'http',
        executorUrl: engine.url,
        executorTimeoutMs: 2000,
      },
      t.clock.now(),
    );
    await t.request('POST', '/v1/event-definitions', { payload: openDefinition('orders.created') });
    const trigger = await t.request('POST', '/v1/workflow-triggers', {
      payload: {
        workflowDefinitionId: legacy.id,
        eventPattern: 'orders.created',
        triggerType: 'START',
      },
    });
    expect(trigger.status).toBe(201);
    const published = await t.request('POST', '/v1/events', {
      payload: { pattern: 'orders.created', payload: {} },
    });
    while ((await t.app.workers.runOnce()) > 0) {}
    const { firings } = (await t.request('GET', `/v1/events/${published.body.eventId}/triggers`))
      .body;
    expect(firings).toEqual([
      expect.objectContaining({ status: 'done', action: 'failed', attempts: 1 }),
    ]);
    expect(firings[0].error).toContain('egress_denied: 127.0.0.1 is loopback');
    expect(engine.received).toEqual([]);
  });

  it('stops at connect time a wait callback URL stored before it was refused, without retrying', async () => {
    await t.request('POST', '/v1/event-definitions', { payload: openDefinition('orders.paid') });
    const wait = await t.request('POST', '/v1/waits', {
      payload: {
        pattern: 'orders.paid',
        correlationKey: 'order-1',
        timeout: 'PT1H',
        notify: { url: 'https://8.8.8.8/callback' },
      },
    });
    expect(wait.status).toBe(201);
    // As a wait registered before the allowlist changed.
    await t.db.query(`UPDATE waits SET notify = jsonb_set(notify, '{url}', $1) WHERE id = $2`, [
      JSON.stringify(engine.url),
      wait.body.id,
    ]);
    const published = await t.request('POST', '/v1/events', {
      payload: { pattern: 'orders.paid', payload: {}, metadata: { correlationId: 'order-1' } },
    });
    expect(published.status).toBe(202);
    await t.app.waits.resolveRounds();
    while ((await t.app.workers.runOnce()) > 0) {}
    const read = await t.request('GET', `/v1/waits/${wait.body.id}`);
    expect(read.body).toMatchObject({
      status: 'resolved',
      notification: { status: 'dead', attempts: 1 },
    });
    expect(read.body.notification.lastError).toContain('egress_denied: 127.0.0.1 is loopback');
    expect(engine.received).toEqual([]);
  });
});
