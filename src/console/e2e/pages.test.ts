import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEpsClient, type EpsClient } from '../../client/index.ts';
import { startReceiver } from '../../testing/receiver.ts';
import { openPage } from './browser.ts';
import { type ConsoleHarness, checkPage, startConsoleHarness } from './harness.ts';
import { type SeededData, seedConsoleData } from './seed.ts';

/**
 * The console in Debian's Chromium against a real service process, authentication off: every
 * page renders the data the API holds, at desktop and phone size, with no serious or critical
 * accessibility violation.
 */
describe('the console pages', { timeout: 180_000 }, () => {
  let harness: ConsoleHarness;
  let seeded: SeededData;
  let eps: EpsClient;

  beforeAll(async () => {
    harness = await startConsoleHarness();
    seeded = await seedConsoleData(harness.service.url, `${harness.receiver.url}/hooks/warehouse`);
    eps = createEpsClient({ baseUrl: harness.service.url });
  }, 300_000);
  afterAll(() => harness?.close());

  /** Publishes one event through the API; its id once accepted (202). */
  const publish = async (pattern: string, payload: Record<string, unknown>) => {
    const { data, response } = await eps.POST('/v1/events', { body: { pattern, payload } });
    expect(response.status).toBe(202);
    return (data as { eventId: string }).eventId;
  };

  /** Registers version 1.0.0 of a definition with an open payload schema. */
  const define = async (event_id: string, name: string, pattern: string) => {
    const { response } = await eps.POST('/v1/event-definitions', {
      body: { event_id, name, pattern, version: '1.0.0', payload_schema: { type: 'object' } },
    });
    expect(response.status).toBe(201);
  };

  const visible = (page: Page, text: string | RegExp) =>
    page.getByText(text).first().waitFor({ state: 'visible', timeout: 15_000 });

  it('catalog: definitions grouped by category, with search', async () => {
    await checkPage(harness, '/catalog', 'catalog', async (page) => {
      await page.getByRole('heading', { name: 'orders' }).waitFor();
      await page.getByRole('heading', { name: 'payments' }).waitFor();
      expect(await page.getByRole('link', { name: 'Order placed' }).count()).toBe(1);
      await page.getByLabel('Search').fill('payment');
      await page.getByRole('heading', { name: 'orders' }).waitFor({ state: 'detached' });
      await visible(page, 'Payment failed');
      await page.getByLabel('Search').fill('');
      await page.getByRole('heading', { name: 'orders' }).waitFor();
    });
  });

  it('definition: versions, schema tree, examples, changes between versions and readers', async () => {
    await checkPage(harness, '/catalog/Orders.placed', 'definition', async (page) => {
      await page.getByRole('heading', { name: /Order placed/ }).waitFor();
      expect(await page.getByRole('list', { name: 'Versions' }).getByRole('listitem').count()).toBe(
        3,
      );
      await visible(page, 'Code redeemed');
      await visible(page, 'one of "EUR", "USD"');
      await page
        .getByRole('list', { name: 'Versions' })
        .getByRole('button', { name: 'v1.0.0' })
        .click();
      await page.getByRole('heading', { name: 'Payload schema of v1.0.0' }).waitFor();
      expect(await page.getByText('Code redeemed').count()).toBe(0);
      await page.getByLabel('From').selectOption('1.1.0');
      await page.getByLabel('to', { exact: true }).selectOption('2.0.0');
      await page.getByRole('button', { name: 'Compare' }).click();
      await visible(page, 'OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL');
      await visible(page, '#/properties/coupon');
      await page.getByRole('link', { name: 'warehouse-webhook' }).waitFor();
    });
  });

  it('events: filter form and cursor paging over GET /v1/events', async () => {
    const { page, close } = await openPage(harness.browser);
    try {
      const asked: string[] = [];
      page.on('request', (request) => {
        if (request.url().includes('/v1/events?')) asked.push(request.url());
      });
      const nextPage = (request: { url(): string }) =>
        request.url().includes('/v1/events?') && request.url().includes('cursor=');
      const ahead = page.waitForResponse(nextPage);
      await page.goto(`${harness.service.url}/console/events?limit=2`);
      await visible(page, '3 matching events');
      const rows = page.locator('table.events-table tbody tr');
      expect(await rows.count()).toBe(2);
      // The older page is fetched once this one is shown: Older then asks the API nothing.
      await (await ahead).finished();
      const askedBefore = asked.length;
      await page.getByRole('button', { name: 'Older' }).click();
      await rows.first().getByText('orders.placed').waitFor();
      expect(await rows.count()).toBe(1);
      expect(asked.length).toBe(askedBefore);
      await page.getByRole('button', { name: 'Newer' }).click();
      await page.getByText('orders.shipped').waitFor();
      await page.getByLabel('Pattern').fill('*.paid');
      await page.getByRole('button', { name: 'Search' }).click();
      await visible(page, '1 matching events');
      await rows.getByText('orders.paid').waitFor();
      await page.getByLabel('Tags').fill('region=us');
      await page.getByRole('button', { name: 'Search' }).click();
      await visible(page, '0 matching events');
      await page.getByLabel('Tags').fill('region=eu');
      await page.getByRole('button', { name: 'Search' }).click();
      await visible(page, '1 matching events');
      await rows.getByText('orders.paid').waitFor();

      // With the browser's data saver on, the older page waits until Older asks for it.
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Emulation.setDataSaverOverride', { dataSaverEnabled: true });
      await page.goto(`${harness.service.url}/console/events?limit=2`);
      await visible(page, '3 matching events');
      const askedByOlder = page.waitForRequest(nextPage);
      await page.getByRole('button', { name: 'Older' }).click();
      await askedByOlder;
      await rows.first().getByText('orders.placed').waitFor();
    } finally {
      await close();
    }
    await checkPage(
      harness,
      `/events?correlationId=${encodeURIComponent(seeded.correlationId)}`,
      'events',
      async (page) => {
        await visible(page, '3 matching events');
        await page.getByRole('link', { name: seeded.rootEventId }).waitFor();
      },
    );
  });

  it('event: payload, correlation trace, firings and deliveries', async () => {
    const { data } = await eps.GET('/v1/events', {
      params: { query: { pattern: 'orders.paid', correlationId: seeded.correlationId } },
    });
    const paid = (data as unknown as { events: { eventId: string }[] }).events[0]!.eventId;
    // Routing and delivery run in the background: wait until both are recorded.
    await expect
      .poll(
        async () => {
          const { data: attempts } = await eps.GET('/v1/events/{eventId}/deliveries', {
            params: { path: { eventId: paid } },
          });
          return (attempts as unknown as { deliveries: unknown[] }).deliveries.length;
        },
        { timeout: 20_000 },
      )
      .toBeGreaterThan(0);
    await checkPage(harness, `/events/${paid}`, 'event', async (page) => {
      await page.getByRole('heading', { name: /orders\.paid/ }).waitFor();
      const trace = page.getByRole('list', { name: 'Correlation trace' });
      await trace.getByRole('link', { name: 'orders.placed' }).waitFor();
      await trace.getByRole('link', { name: 'orders.shipped' }).waitFor();
      await page.getByRole('heading', { name: 'Trigger firings' }).waitFor();
      await page
        .locator('section', { has: page.getByRole('heading', { name: 'Trigger firings' }) })
        .getByText('done')
        .waitFor();
      await page
        .locator('section', { has: page.getByRole('heading', { name: 'Deliveries' }) })
        .getByText('delivered')
        .waitFor();
      // The JSON viewer folds.
      const payload = page.getByRole('list', { name: 'Payload' });
      await payload.getByText('"o-1"').waitFor();
      await payload.getByRole('button').first().click();
      expect(await payload.getByText('"o-1"').count()).toBe(0);
      await payload.getByRole('button').first().click();
    });
  });

  // The goal, within 2 s of the 202, is measured by `npm run bench` (bench/console.ts,
  // tailAcceptedToPainted): on a loaded CI machine running two test files at once, a 2 s bound
  // here failed for reasons that are not the console's. Here: the event shows at all, live.
  it('live tail: a published event shows; paused, the list holds still', async () => {
    await checkPage(harness, '/tail', 'tail', async (page) => {
      await page.getByText('live', { exact: true }).waitFor();
      const orderId = `tail-${Math.random().toString(36).slice(2)}`;
      const tailed = await publish('orders.paid', { orderId });
      const log = page.getByRole('log', { name: 'Live events' });
      await log.getByRole('link', { name: tailed }).waitFor({ timeout: 15_000 });
      // Paused, the list holds still; resumed, it catches up.
      await page.getByRole('button', { name: 'Pause' }).click();
      const second = await publish('orders.paid', { orderId });
      await visible(page, '1 new while paused');
      expect(await log.getByRole('link', { name: second }).count()).toBe(0);
      await page.getByRole('button', { name: 'Resume' }).click();
      await log.getByRole('link', { name: second }).waitFor({ timeout: 15_000 });
    });
  });

  it("trigger lab: the API's message for a bad condition shows at the field", async () => {
    const refused = await eps.POST('/v1/workflow-triggers', {
      body: {
        workflowDefinitionId: seeded.workflowId,
        eventPattern: 'payments.failed',
        triggerType: 'START',
        eventCondition: 'payload.total >>> 3',
      },
    });
    const apiMessage = (
      refused.error as { error: { details: { field: string; message: string }[] } }
    ).error.details.find((d) => d.field === 'eventCondition')!.message;
    const { page, errors, close } = await openPage(harness.browser);
    try {
      await page.goto(`${harness.service.url}/console/triggers/new`);
      await page.getByLabel('Workflow').selectOption({ label: 'fulfil-order@1.0.0' });
      await page.getByLabel('Event pattern').fill('payments.failed');
      await page.getByLabel('Condition').fill('payload.total >>> 3');
      await page.getByRole('button', { name: 'Create trigger' }).click();
      const fieldError = page.locator('#trigger-eventCondition-error');
      await fieldError.waitFor();
      expect(await fieldError.textContent()).toBe(apiMessage);
      // The field names its error for assistive technology.
      expect(await page.getByLabel('Condition').getAttribute('aria-describedby')).toContain(
        'trigger-eventCondition-error',
      );
      expect(await page.getByLabel('Condition').getAttribute('aria-invalid')).toBe('true');
      expect(errors).toEqual([]);
    } finally {
      await close();
    }
  });

  it('trigger lab: a trigger created in the form fires when an event is published', async () => {
    let triggerPath = '';
    const { page, errors, close } = await openPage(harness.browser);
    try {
      await page.goto(`${harness.service.url}/console/triggers/new`);
      await page.getByLabel('Name').fill('notify-billing');
      await page.getByLabel('Workflow').selectOption({ label: 'fulfil-order@1.0.0' });
      await page.getByLabel('Event pattern').fill('payments.failed');
      await page.getByLabel('Condition').fill("payload.reason == 'card_declined'");
      await page.getByLabel('Input mapping (JSON)').fill('{"reason": "payload.reason"}');
      await page.getByRole('button', { name: 'Create trigger' }).click();
      await page.getByRole('heading', { name: /notify-billing/ }).waitFor();
      triggerPath = new URL(page.url()).pathname.replace('/console', '');
      await publish('payments.failed', { reason: 'card_declined' });
      const history = page.locator('section', {
        has: page.getByRole('heading', { name: 'Firing history' }),
      });
      await history.getByText('done').waitFor({ timeout: 20_000 });
      await history.getByText('started').waitFor();
      expect(errors).toEqual([]);
    } finally {
      await close();
    }
    const triggerId = triggerPath.split('/').at(-1)!;
    const { data } = await eps.GET('/v1/workflow-instances', {
      params: { query: { workflowDefinitionId: seeded.workflowId } },
    });
    expect(data!.workflowInstances!.filter((i) => i.triggerId === triggerId)).toEqual([
      expect.objectContaining({ input: { reason: 'card_declined' }, status: 'running' }),
    ]);
    await checkPage(harness, '/triggers', 'triggers', async (page) => {
      await page.getByRole('link', { name: 'notify-billing' }).waitFor();
      await page.getByRole('link', { name: 'fulfil-paid-orders' }).waitFor();
    });
    await checkPage(harness, triggerPath, 'trigger', async (page) => {
      // payments.failed has no examples: try it with a pasted event.
      await page.getByLabel('this event').check();
      await page
        .getByLabel('Event (JSON)')
        .fill('{"pattern": "payments.failed", "payload": {"reason": "card_declined"}}');
      await page.getByRole('button', { name: 'Run dry run' }).click();
      const dryRun = page.locator('dl[aria-label="Dry run result"]');
      await dryRun.getByText('would_start').waitFor();
      await dryRun.getByText('"card_declined"').waitFor();
      await page.getByRole('heading', { name: 'Firing history' }).waitFor();
    });
  });

  it('deliveries: a dead letter is redelivered from the page', async () => {
    const failing = await startReceiver();
    try {
      failing.script = [500, 500];
      const created = await eps.POST('/v1/subscriptions', {
        body: {
          name: 'billing-webhook',
          event_pattern: 'payments.*',
          subscriber: { id: 'billing', type: 'webhook', endpoint: `${failing.url}/hooks/billing` },
          retry_policy: { max_attempts: 2, initial_delay_ms: 50, max_delay_ms: 50 },
        },
      });
      const subscriptionId = (created.data as unknown as { subscription_id: string })
        .subscription_id;
      const eventId = await publish('payments.failed', { reason: 'expired' });
      const deadLetters = async () =>
        (
          (await eps.GET('/v1/dead-letters', { params: { query: { subscriptionId } } }))
            .data as unknown as { deadLetters: { event_id: string }[] }
        ).deadLetters;
      await expect
        .poll(async () => (await deadLetters()).map((d) => d.event_id), { timeout: 30_000 })
        .toContain(eventId);
      await checkPage(harness, '/deliveries', 'deliveries', async (page) => {
        await page.getByRole('link', { name: 'billing-webhook' }).waitFor();
        await page.getByRole('link', { name: 'warehouse-webhook' }).waitFor();
      });
      await checkPage(harness, `/deliveries/${subscriptionId}`, 'subscription', async (page) => {
        await page
          .getByRole('table', { name: 'Dead letters' })
          .getByRole('link', { name: eventId })
          .waitFor();
        await page
          .locator('section', { has: page.getByRole('heading', { name: 'Delivery log' }) })
          .getByText('500')
          .first()
          .waitFor();
      });
      const { page, errors, close } = await openPage(harness.browser);
      try {
        await page.goto(`${harness.service.url}/console/deliveries/${subscriptionId}`);
        await page.getByRole('button', { name: `Redeliver event ${eventId}` }).click();
        await page.getByText('1 queued again.').waitFor();
        await expect.poll(() => failing.received.length, { timeout: 20_000 }).toBe(3);
        await page.getByText('No dead letters.').waitFor({ timeout: 15_000 });
        expect(await deadLetters()).toEqual([]);
        expect(errors).toEqual([]);
      } finally {
        await close();
      }
    } finally {
      await failing.close();
    }
  });

  it('workflows: definitions and instances, each linked to its trigger event', async () => {
    await checkPage(harness, '/workflows', 'workflows', async (page) => {
      await page.getByRole('cell', { name: 'fulfil-order' }).first().waitFor();
      const paidEvents = await eps.GET('/v1/events', {
        params: { query: { pattern: 'orders.paid', correlationId: seeded.correlationId } },
      });
      const paid = (paidEvents.data as unknown as { events: { eventId: string }[] }).events[0]!
        .eventId;
      await page.getByRole('link', { name: paid }).waitFor({ timeout: 15_000 });
      await page.getByLabel('Status').selectOption('cancelled');
      await visible(page, /0 of 0|0–0 of 0/);
    });
  });

  it('flow map: events → triggers → workflows, → subscriptions and → processors → events, with rates', async () => {
    await define('Orders.audited', 'Order audited', 'orders.audited');
    const processor = await eps.POST('/v1/event-processors', {
      body: {
        name: 'audit-paid-orders',
        eventPattern: 'orders.paid',
        output: { pattern: 'orders.audited', payload: { orderId: 'payload.orderId' } },
      },
    });
    expect(processor.response.status).toBe(201);
    // A fresh firing, so the window of the rates holds one however long the tests before took.
    await publish('orders.paid', { orderId: 'flow-1' });
    const fired = async (targetId: string) => {
      const { data } = await eps.GET('/v1/flow/rates', { params: { query: { minutes: 5 } } });
      return data!.edges
        .filter((e) => e.targetId === targetId)
        .reduce((sum, e) => sum + e.fired, 0);
    };
    await expect.poll(() => fired(seeded.triggerId), { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
    await expect
      .poll(() => fired(processor.data!.id!), { timeout: 20_000 })
      .toBeGreaterThanOrEqual(1);
    await checkPage(harness, '/flow', 'flow', async (page) => {
      const edges = page.getByRole('table', { name: 'Flow edges' });
      const row = edges.getByRole('row', {
        name: /trigger fulfil-paid-orders workflow fulfil-order@1\.0\.0/,
      });
      await row.waitFor({ timeout: 15_000 });
      expect(Number(await row.getByRole('cell').nth(2).textContent())).toBeGreaterThanOrEqual(1);
      await edges
        .getByRole('row', { name: /event Order paid subscription warehouse-webhook/ })
        .waitFor();
      await edges
        .getByRole('row', { name: /event Order paid processor audit-paid-orders/ })
        .waitFor();
      const derived = edges.getByRole('row', {
        name: /processor audit-paid-orders event Order audited/,
      });
      await derived.waitFor();
      expect(Number(await derived.getByRole('cell').nth(2).textContent())).toBeGreaterThanOrEqual(
        1,
      );
      await page.locator('.react-flow__node').first().waitFor();
      expect(await page.locator('.react-flow__node').count()).toBeGreaterThanOrEqual(8);
    });
  });

  it('events: a page of many rows draws only those in view, and scrolling reaches the last', async () => {
    const listed = 300;
    await define('Bulk.listed', 'Bulk listed', 'bulk.listed');
    const events = Array.from({ length: listed }, (_, n) => ({
      pattern: 'bulk.listed',
      payload: { n },
    }));
    const batch = await eps.POST('/v1/events/batch', { body: { events } });
    expect(batch.response.ok).toBe(true);
    const { data } = await eps.GET('/v1/events', {
      params: { query: { pattern: 'bulk.listed', limit: 1000 } },
    });
    // Its own row's link (an event without a correlation id is its own correlation, linked too).
    const oldest = `a[href$="/events/${data!.events.at(-1)!.eventId}"]`;
    await checkPage(
      harness,
      '/events?pattern=bulk.listed&limit=1000',
      'events-many',
      async (page) => {
        await visible(page, `${listed} matching events`);
        const table = page
          .getByRole('table')
          .filter({ has: page.getByRole('columnheader', { name: 'Pattern' }) });
        expect(await table.getAttribute('aria-rowcount')).toBe(String(listed + 1));
        const drawn = table.locator('tbody tr[aria-rowindex]');
        await drawn.first().waitFor();
        expect(await drawn.count()).toBeLessThan(listed / 2);
        expect(await page.locator(oldest).count()).toBe(0);
        await page.evaluate('window.scrollTo(0, document.documentElement.scrollHeight)');
        await page.locator(oldest).waitFor({ timeout: 15_000 });
        expect(await table.locator(`tbody tr[aria-rowindex="${listed + 1}"]`).count()).toBe(1);
        expect(await drawn.count()).toBeLessThan(listed / 2);
      },
    );
  });
});
