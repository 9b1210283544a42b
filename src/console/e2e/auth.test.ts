import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEpsClient, type EpsClient } from '../../client/index.ts';
import { openPage } from './browser.ts';
import { type ConsoleHarness, checkPage, startConsoleHarness } from './harness.ts';
import { type SeededData, seedConsoleData } from './seed.ts';

const ADMIN_KEY = `eps_${'a'.repeat(40)}`;

/**
 * The console with authentication on: it asks for a key (kept in sessionStorage only), sends
 * it as X-API-Key, hides what the key's scopes do not allow, and asks again on a 401.
 */
describe('the console with authentication on', { timeout: 180_000 }, () => {
  let harness: ConsoleHarness;
  let seeded: SeededData;
  let admin: EpsClient;
  let readOnly: { id: string; key: string };

  beforeAll(async () => {
    harness = await startConsoleHarness({ AUTH: 'on', BOOTSTRAP_ADMIN_KEY: ADMIN_KEY });
    seeded = await seedConsoleData(harness.service.url, `${harness.receiver.url}/hooks`, ADMIN_KEY);
    admin = createEpsClient({ baseUrl: harness.service.url, apiKey: ADMIN_KEY });
    const { data } = await admin.POST('/v1/api-keys', {
      body: {
        name: 'auditor',
        scopes: ['definitions:read', 'events:read', 'triggers:read', 'subscriptions:read'],
      },
    });
    readOnly = { id: data!.id!, key: data!.key! };
  }, 300_000);
  afterAll(() => harness?.close());

  const enterKey = async (page: Page, key: string) => {
    await page.getByLabel('Key', { exact: true }).fill(key);
    await page.getByRole('button', { name: 'Use key' }).click();
  };

  it('asks for a key first, and again when the API refuses it', async () => {
    await checkPage(harness, '/catalog', 'key-prompt', async (page) => {
      await page.getByRole('heading', { name: 'API key' }).waitFor();
      expect(await page.getByRole('link', { name: 'Order placed' }).count()).toBe(0);
    });
    const { page, errors, close } = await openPage(harness.browser);
    try {
      await page.goto(`${harness.service.url}/console/catalog`);
      await enterKey(page, `eps_${'x'.repeat(40)}`);
      await page.getByText('The API did not accept the key.').waitFor();
      await enterKey(page, readOnly.key);
      await page.getByRole('link', { name: 'Order placed' }).waitFor();
      await page.getByText('key auditor').waitFor();
      // The key lives in this tab's sessionStorage only: no cookie, nothing in localStorage.
      expect(await page.evaluate('sessionStorage.length')).toBe(1);
      expect(await page.evaluate('localStorage.length')).toBe(0);
      expect(await page.context().cookies()).toEqual([]);
      // Revoked, the next call answers 401 and the prompt comes back.
      const revoked = await admin.DELETE('/v1/api-keys/{id}', {
        params: { path: { id: readOnly.id } },
      });
      expect(revoked.response.status).toBe(204);
      // The service caches keys for API_KEY_CACHE_SECONDS (10 s by default).
      await expect
        .poll(
          async () => {
            const prompt = page.getByRole('heading', { name: 'API key' });
            // A background refresh may bring the prompt back first; then there is no search box.
            if ((await prompt.count()) > 0) return 1;
            const search = page.getByLabel('Search');
            if (await search.isVisible())
              await search.fill(`o${Math.random().toString(36).slice(2, 6)}`, { timeout: 2000 });
            return prompt.count();
          },
          { timeout: 30_000, interval: 2000 },
        )
        .toBe(1);
      expect(errors).toEqual([]);
    } finally {
      await close();
    }
  });

  it('a read-only key sees the data but no write buttons', async () => {
    const { data } = await admin.POST('/v1/api-keys', {
      body: {
        name: 'reader',
        scopes: ['definitions:read', 'events:read', 'triggers:read', 'subscriptions:read'],
      },
    });
    const withKey = (key: string) => async (page: Page) => {
      await page.goto(`${harness.service.url}/console/`);
      await enterKey(page, key);
      await page.getByRole('link', { name: 'Order placed' }).waitFor();
    };
    const writeButtons =
      /New trigger|Save trigger|Create trigger|Retry|Pause|Resume|Rotate secret|Redeliver|Replay/;
    await checkPage(
      harness,
      `/triggers/${seeded.triggerId}`,
      'read-only-trigger',
      async (page) => {
        await page.getByRole('heading', { name: /fulfil-paid-orders/ }).waitFor();
        await page.getByRole('button', { name: 'Run dry run' }).waitFor();
        expect(await page.getByRole('button', { name: writeButtons }).count()).toBe(0);
        expect(await page.getByRole('textbox', { name: 'Condition' }).count()).toBe(0);
      },
      withKey(data!.key!),
    );
    const { page, close } = await openPage(harness.browser);
    try {
      await withKey(data!.key!)(page);
      for (const path of ['/triggers', `/deliveries/${seeded.subscriptionId}`, '/deliveries']) {
        await page.goto(`${harness.service.url}/console${path}`);
        await page.getByRole('heading', { level: 1 }).waitFor();
        await page.getByRole('table').first().waitFor();
        expect({
          path,
          buttons: await page.getByRole('button', { name: writeButtons }).count(),
        }).toEqual({
          path,
          buttons: 0,
        });
        expect(await page.getByRole('link', { name: 'New trigger' }).count()).toBe(0);
      }
      // The admin key, in the same tab, gets the buttons.
      await page.getByRole('button', { name: 'forget' }).click();
      await enterKey(page, ADMIN_KEY);
      await page.goto(`${harness.service.url}/console/deliveries/${seeded.subscriptionId}`);
      await page.getByRole('button', { name: 'Rotate secret' }).waitFor();
      await page.goto(`${harness.service.url}/console/triggers`);
      await page.getByRole('link', { name: 'New trigger' }).waitFor();
    } finally {
      await close();
    }
  });
});
