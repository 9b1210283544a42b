import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';
import { testBackends } from '../../testing/backends.ts';
import { startReceiver, type TestReceiver } from '../../testing/receiver.ts';
import { type ServiceProcess, startService } from '../../testing/service-process.ts';
import { ensureConsoleBuilt } from '../build.ts';
import { launchChromium, openPage, seriousViolations, VIEWPORTS } from './browser.ts';

/**
 * Where screenshots go when CONSOLE_SCREENSHOTS=1 (`CONSOLE_SCREENSHOTS=1 npx vitest run
 * src/console/e2e`): docs/console/, shown in the README. Otherwise they are taken and checked but
 * not written, so a test run leaves the working tree as it was.
 */
const SCREENSHOTS = fileURLToPath(new URL('../../../docs/console/', import.meta.url));
const WRITE_SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS === '1';

/**
 * One real service process and one browser. The console does not depend on the database, so one
 * backend is enough: the PostgreSQL server when DATABASE_URL is set, else a PGlite copy of the
 * test template.
 */
export interface ConsoleHarness {
  service: ServiceProcess;
  browser: Browser;
  receiver: TestReceiver;
  close(): Promise<void>;
}

export async function startConsoleHarness(
  env: Record<string, string> = {},
): Promise<ConsoleHarness> {
  await ensureConsoleBuilt();
  const database = await testBackends().at(-1)!.create();
  const { databaseUrl, dataDir } = database.location;
  const receiver = await startReceiver();
  const service = await startService(
    {
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { DATA_DIR: dataDir! }),
      DELIVERY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
      EGRESS_ALLOWLIST: '127.0.0.1',
      ROUTING_POLL_INTERVAL_MS: '20',
      LOG_LEVEL: 'info',
      ...env,
      // Generous: a first start migrates a fresh database, and the test machine is shared.
    },
    180_000,
  );
  const browser = await launchChromium();
  return {
    service,
    browser,
    receiver,
    async close() {
      await browser.close();
      await service.stop();
      await receiver.close();
      await database.destroy();
    },
  };
}

/**
 * Opens `path` at both sizes the console supports, waits until `ready` (real data) shows, and
 * checks there are no serious or critical accessibility violations and no page errors.
 */
export async function checkPage(
  harness: ConsoleHarness,
  path: string,
  screenshot: string,
  ready: (page: Page) => Promise<void>,
  setup?: (page: Page) => Promise<void>,
): Promise<void> {
  for (const [size, viewport] of Object.entries(VIEWPORTS)) {
    const { page, errors, close } = await openPage(harness.browser, viewport);
    try {
      await setup?.(page);
      await page.goto(`${harness.service.url}/console${path}`);
      await ready(page).catch(async (error: unknown) => {
        // What the page showed instead, for whoever reads the failure.
        const shot = join(tmpdir(), `console-failure-${screenshot}-${size}.png`);
        await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
        throw new Error(`${(error as Error).message}\n(page screenshot: ${shot})`);
      });
      expect({ size, path, violations: await seriousViolations(page) }).toEqual({
        size,
        path,
        violations: [],
      });
      // Nothing may stick out sideways on a phone: the page scrolls vertically only.
      const overflow = await page.evaluate(
        'document.documentElement.scrollWidth - window.innerWidth',
      );
      expect({ size, path, overflow }).toEqual({ size, path, overflow: 0 });
      const image = await page.screenshot({ fullPage: size === 'desktop' });
      expect(image.length).toBeGreaterThan(1000);
      if (WRITE_SCREENSHOTS) {
        await mkdir(SCREENSHOTS, { recursive: true });
        await writeFile(join(SCREENSHOTS, `${screenshot}-${size}.png`), image);
      }
      expect(errors).toEqual([]);
    } finally {
      await close();
    }
  }
}
