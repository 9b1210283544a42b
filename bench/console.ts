import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import {
  bundleReport,
  ensureConsoleBuilt,
  FIRST_LOAD_JS_BUDGET_BYTES,
} from '../src/console/build.ts';
import { launchChromium, openPage } from '../src/console/e2e/browser.ts';
import { CONSOLE_DIST } from '../src/console/routes.ts';
import { startService } from '../src/testing/service-process.ts';
import { median, quantile, round } from './stats.ts';
import { postJson } from './support.ts';

/**
 * Issue 16's console goals, measured in Debian's Chromium against a real service process
 * (PGlite in a temporary folder): the events page showing 1,000 rows (`?limit=1000`, the API's
 * largest page) stays under 100 ms per interaction, and a first visit to /console loads at most
 * 300 KB of gzipped JavaScript; and issue 16's tail goal, an event on /console/tail within 2 s
 * of its 202 (the e2e test only checks that it shows: on a loaded CI machine a 2 s bound fails
 * for reasons that are not the console's).
 *
 * An interaction's time runs from the input event's timestamp (the browser's, as the input
 * arrived) until the first frame that shows its result has been painted: the page checks for the
 * result in every animation frame, and once it is there, a task queued from that frame's
 * callback runs after its paint. The events table is windowed: a result is there when the table
 * states all 1,000 rows and its first row shows the new page (the rows below the viewport are
 * drawn as they are scrolled to, as a user sees them). Where the interaction asks the API, the time includes the
 * answer, and the API's share (the fetch's resource timing) is reported beside it.
 *
 * The interactions: a keystroke in the pattern field; a filter submitted (alternately the two
 * seeded patterns, each answered with 1,000 other events, so every row is replaced; `Until`
 * differs each time, so no answer comes from the cache); Older, twice: as a reader meets it
 * (scrolled down to the pager, the page fetched the next 1,000 events, and the click waits until
 * they came), and from the API, as it was measured before the page fetched ahead (the browser's
 * data saver on, which the page honours by not fetching ahead; Playwright scrolls to the button
 * and clicks it at once); Newer (the previous page, from the cache). BENCH_SMOKE=1 repeats each
 * 3 times instead of 20 (a check that it works, not a figure). The tail's time runs from the
 * moment the 202 of `POST /v1/events` reached the bench (its clock and the page's are the same
 * machine's) until the first painted frame with the event's row. The JavaScript sizes are the
 * build's gzip files (what index.html loads first, and what the events page loaded in all).
 */
const GOAL_MS = 100;
/** The tail's goal: 202 → row painted. */
const TAIL_GOAL_MS = 2000;
const ROWS = 1000;
const REPEATS = process.env.BENCH_SMOKE ? 3 : 20;
/** Seeded: two patterns, 2,000 and 1,000 events, interleaved in time. */
const SEED = { 'bench.created': 2000, 'bench.updated': 1000 } as const;
const BATCH = 500;

async function seed(url: string) {
  for (const pattern of Object.keys(SEED)) {
    await postJson(url, '/v1/event-definitions', {
      event_id: `Bench.${pattern.split('.')[1]}`,
      name: pattern,
      pattern,
      version: '1.0.0',
      payload_schema: { type: 'object' },
    });
  }
  const events = Array.from({ length: SEED['bench.created'] + SEED['bench.updated'] }, (_, i) => ({
    pattern: i % 3 === 2 ? 'bench.updated' : 'bench.created',
    source: { type: 'service', id: `shop-${i % 7}` },
    payload: { orderId: `o-${i}`, total: i % 500, lines: [{ sku: `sku-${i % 40}`, quantity: 1 }] },
    metadata: {
      correlationId: `order-${Math.floor(i / 3)}`,
      tags: { region: i % 2 ? 'eu' : 'us' },
    },
  }));
  for (let i = 0; i < events.length; i += BATCH) {
    const answer = await postJson(url, '/v1/events/batch', { events: events.slice(i, i + BATCH) });
    const refused = (answer.results as { status: string }[] | undefined)?.filter(
      (r) => r.status !== 'accepted',
    );
    if (refused?.length) throw new Error(`seeding refused: ${JSON.stringify(refused[0])}`);
  }
}

/**
 * Arms the page to time the next `trigger` event (`keydown` or `click`) until `done` (a JS
 * expression) holds in a painted frame; returns the evaluation that resolves with
 * `{ totalMs, apiMs }` once it has.
 */
interface Sample {
  totalMs: number;
  apiMs: number;
}

function armed(page: Page, trigger: 'keydown' | 'click', done: string) {
  return page.evaluate(`new Promise((resolve, reject) => {
    // A result that never shows fails the run instead of holding it forever.
    setTimeout(() => reject(new Error('not shown in 60 s: ' + ${JSON.stringify(done)})), 60000);
    // The resource timing buffer holds 250 entries by default: start each interaction empty.
    performance.clearResourceTimings();
    addEventListener('${trigger}', (event) => {
      const start = event.timeStamp;
      const check = () => {
        if (!(${done})) return requestAnimationFrame(check);
        setTimeout(() => {
          const api = performance.getEntriesByType('resource')
            .filter((entry) => entry.name.includes('/v1/events'));
          resolve({
            totalMs: performance.now() - start,
            apiMs: api.reduce((sum, entry) => sum + entry.duration, 0),
          });
        });
      };
      requestAnimationFrame(check);
    }, { capture: true, once: true });
  })`) as Promise<Sample>;
}

/** Arms, acts once the page is armed, and waits for the painted result. */
async function timed(
  page: Page,
  trigger: 'keydown' | 'click',
  done: string,
  act: () => Promise<void>,
) {
  const result = armed(page, trigger, done);
  // The listener is in place once a round trip to the page has passed.
  await page.evaluate('0');
  await act();
  return result;
}

/**
 * The table is windowed (only the rows in view are drawn), so the rows it holds are read from its
 * `aria-rowcount` (the header row counts as one), and the first row is the one at index 2.
 */
const TABLE = `document.querySelector('table.events-table')`;
const firstRow = `${TABLE}.querySelector('tbody tr[aria-rowindex="2"]')`;
const rowCount = `Number(${TABLE}?.getAttribute('aria-rowcount')) - 1`;

/**
 * Waits until `condition` (a JS expression) holds in the page, checked every frame. Not
 * waitForFunction: that evaluates its string with eval, which the console's CSP refuses.
 */
async function shown(page: Page, condition: string, timeoutMs = 60_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    page.evaluate(`new Promise((resolve) => {
      const check = () => ((${condition}) ? resolve(true) : requestAnimationFrame(check));
      check();
    })`),
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`not shown in ${timeoutMs} ms: ${condition}`)),
        timeoutMs,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

function summary(samples: Sample[]) {
  return {
    ...latencies(
      samples.map((s) => s.totalMs),
      GOAL_MS,
    ),
    apiMedianMs: round(median(samples.map((s) => s.apiMs))),
  };
}

function latencies(ms: number[], goalMs: number) {
  const p95 = round(quantile(ms, 0.95));
  return {
    n: ms.length,
    medianMs: round(median(ms)),
    p95Ms: p95,
    maxMs: round(Math.max(...ms)),
    withinGoal: p95 < goalMs,
  };
}

/** A page of its own browser; fails if the page logged errors. */
async function inBrowser<T>(measure: (page: Page) => Promise<T>): Promise<T> {
  const browser = await launchChromium();
  const { page, errors, close } = await openPage(browser);
  try {
    const measured = await measure(page);
    if (errors.length > 0) throw new Error(`the page logged errors: ${errors.join('\n')}`);
    return measured;
  } finally {
    await close();
    await browser.close();
  }
}

/**
 * 202 → painted row on /console/tail, one event at a time. The page is armed before the POST:
 * it looks for the row in every animation frame and notes the time after the frame that shows
 * it has been painted (a task queued from that frame's callback runs after its paint).
 */
function measureTail(url: string) {
  return inBrowser(async (page) => {
    await page.goto(`${url}/console/tail`);
    await shown(page, `document.querySelector('.status')?.textContent === 'live'`);
    const samples: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const eventId = `tail-${i}-${Date.now()}`;
      const row = `[...document.querySelectorAll('[role="log"] a')].some((a) => a.textContent === ${JSON.stringify(eventId)})`;
      const painted = page.evaluate(`new Promise((resolve, reject) => {
        setTimeout(() => reject(new Error('not shown in 60 s: ${eventId}')), 60000);
        const check = () => (${row}) ? setTimeout(() => resolve(Date.now())) : requestAnimationFrame(check);
        check();
      })`) as Promise<number>;
      // The check is running once a round trip to the page has passed.
      await page.evaluate('0');
      await postJson(url, '/v1/events', {
        eventId,
        pattern: 'bench.created',
        payload: { orderId: eventId, total: i, lines: [] },
      });
      const acceptedAt = Date.now();
      samples.push((await painted) - acceptedAt);
    }
    return latencies(samples, TAIL_GOAL_MS);
  });
}

function measureEventsPage(url: string) {
  return inBrowser(async (page) => {
    const scripts = new Set<string>();
    page.on('response', (response) => {
      const path = new URL(response.url()).pathname;
      if (path.endsWith('.js')) scripts.add(path.replace(/^\/console\//, ''));
    });
    await page.goto(`${url}/console/events?limit=${ROWS}`);
    await shown(page, `${rowCount} === ${ROWS}`);

    const keystroke = [];
    const pattern = page.getByLabel('Pattern');
    for (let i = 0; i < REPEATS; i++) {
      const before = await pattern.inputValue();
      const key = 'abcdefghij'[i % 10]!;
      keystroke.push(
        await timed(
          page,
          'keydown',
          `document.getElementById('filter-pattern').value === ${JSON.stringify(before + key)}`,
          () => pattern.press(key),
        ),
      );
    }

    const filter = [];
    for (let i = 0; i < REPEATS; i++) {
      const wanted = i % 2 === 0 ? 'bench.updated' : 'bench.created';
      await pattern.fill(wanted);
      await page.getByLabel('Until').fill(`2099-01-01T00:${String(i).padStart(2, '0')}`);
      filter.push(
        await timed(
          page,
          'click',
          `${rowCount} === ${ROWS} && ${firstRow}?.textContent.includes('${wanted}')`,
          () => page.getByRole('button', { name: 'Search' }).click(),
        ),
      );
    }

    // All 3,000 events, three pages of 1,000; a fresh `endTime` each round, so no page of a round
    // is in the cache when it starts.
    const firstEventId = `${firstRow}?.querySelector('a[href*="/events/"]')?.textContent`;
    // The first event of the page shown, read at the top of the page (the windowed table draws
    // no first row while the page is scrolled down to the pager).
    const firstEvent = async () => JSON.stringify(await page.evaluate(firstEventId));
    const turn = async (button: 'Older' | 'Newer', before: string) =>
      timed(
        page,
        'click',
        // A first row not drawn (the page still scrolled down) is not the new page: it turns in
        // a task after the click's (see events.tsx).
        `${rowCount} === ${ROWS} && (${firstEventId} ?? ${before}) !== ${before}`,
        () => page.getByRole('button', { name: button }).click(),
      );
    const open = async (round: string) => {
      await page.goto(`${url}/console/events?limit=${ROWS}&endTime=${round}`);
      await shown(page, `${rowCount} === ${ROWS}`);
    };

    // Older from the API (and Newer from the cache), as measured before the page fetched ahead:
    // with the data saver on, the page leaves the next page until Older asks for it.
    const cdp = await page.context().newCDPSession(page);
    const dataSaver = (on: boolean) =>
      cdp.send('Emulation.setDataSaverOverride', { dataSaverEnabled: on });
    await dataSaver(true);
    const older: Sample[] = [];
    const newer: Sample[] = [];
    for (let i = 0; i < REPEATS; i++) {
      await open(`2099-01-02T00:${String(i).padStart(2, '0')}`);
      older.push(await turn('Older', await firstEvent()));
      newer.push(await turn('Newer', await firstEvent()));
    }
    await dataSaver(false);

    // Older as a reader meets it: scrolled down to the pager, by when the page has fetched the
    // next one.
    const olderPrefetched: Sample[] = [];
    for (let i = 0; i < REPEATS; i++) {
      await open(`2099-01-03T00:${String(i).padStart(2, '0')}`);
      const before = await firstEvent();
      await page.getByRole('button', { name: 'Older' }).scrollIntoViewIfNeeded();
      // The document's own resource timing (a fresh one per page load) holds the page fetched
      // ahead once it has arrived; two frames later it has been read into the cache.
      await shown(
        page,
        `performance.getEntriesByType('resource').some((entry) => entry.name.includes('cursor='))`,
      );
      await page.evaluate(
        'new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))',
      );
      olderPrefetched.push(await turn('Older', before));
    }
    return {
      interactions: {
        keystrokeInPatternField: summary(keystroke),
        filterSubmitted: summary(filter),
        olderPagePrefetched: summary(olderPrefetched),
        olderPageFromApi: summary(older),
        newerPageFromCache: summary(newer),
      },
      eventsPageJsFiles: [...scripts],
    };
  });
}

export async function benchConsole() {
  await ensureConsoleBuilt();
  const bundle = await bundleReport();
  const dataDir = await mkdtemp(join(tmpdir(), 'eps-bench-console-'));
  const service = await startService(
    {
      DATA_DIR: dataDir,
      // info: startService waits for the "Server listening" line.
      LOG_LEVEL: 'info',
      DELIVERY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
      // About 150 reads of events in a minute, faster than a person pages; the default limit
      // (100 a minute) answered some of them 429.
      RATE_LIMIT_EVENTS_READ: '10000',
    },
    180_000,
  );
  try {
    await seed(service.url);
    const measured = await measureEventsPage(service.url);
    const tail = await measureTail(service.url);
    const eventsPageJs = await Promise.all(
      measured.eventsPageJsFiles.map(
        async (file) => (await stat(join(CONSOLE_DIST, `${file}.gz`))).size,
      ),
    );
    return {
      name: 'console',
      database: 'PGlite (service process)',
      seededEvents: SEED['bench.created'] + SEED['bench.updated'],
      rowsShown: ROWS,
      goalMsPerInteraction: GOAL_MS,
      ...measured,
      tailAcceptedToPainted: { ...tail, goalMs: TAIL_GOAL_MS },
      firstLoadJsGzipBytes: bundle.firstLoadJsGzipBytes,
      firstLoadJsGzipKiB: round(bundle.firstLoadJsGzipBytes / 1024),
      firstLoadJsBudgetKiB: FIRST_LOAD_JS_BUDGET_BYTES / 1024,
      firstLoadWithinBudget: bundle.firstLoadJsGzipBytes <= FIRST_LOAD_JS_BUDGET_BYTES,
      eventsPageJsGzipKiB: round(eventsPageJs.reduce((a, b) => a + b, 0) / 1024),
      totalJsGzipKiB: round(bundle.totalJsGzipBytes / 1024),
    };
  } finally {
    await service.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
