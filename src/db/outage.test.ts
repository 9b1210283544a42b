import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { openDefinition } from '../testing/fixtures.ts';
import { type PostgresCluster, startPostgresCluster } from '../testing/postgres-cluster.ts';
import { startReceiver, type TestReceiver } from '../testing/receiver.ts';
import { type ServiceProcess, startService } from '../testing/service-process.ts';

/**
 * PostgreSQL going away under load, on the real service process and a cluster of the test's own:
 * stopped fast, crashed (immediate) and frozen (SIGSTOP). The process must live through it,
 * refuse with 503 + Retry-After while the database is gone, accept again once it is back, and
 * keep every event it acknowledged — stored, readable and delivered to the webhook.
 */
const PATTERN = 'outage.test';
const PUBLISHERS = 4;

interface Answer {
  /** When the answer arrived (ms since the epoch). */
  at: number;
  status: number | 'no answer';
  retryAfter: string | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Publishers that keep posting events until stopped, recording every answer. */
function startLoad(url: string) {
  const answers: Answer[] = [];
  const acked: string[] = [];
  let running = true;
  const publisher = async () => {
    let n = 0;
    while (running) {
      const eventId = randomUUID();
      let answer: Answer;
      try {
        const response = await fetch(`${url}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ eventId, pattern: PATTERN, payload: { n: n++ } }),
          signal: AbortSignal.timeout(20_000),
        });
        await response.arrayBuffer();
        answer = {
          at: Date.now(),
          status: response.status,
          retryAfter: response.headers.get('retry-after'),
        };
      } catch {
        answer = { at: Date.now(), status: 'no answer', retryAfter: null };
      }
      answers.push(answer);
      if (answer.status === 202) acked.push(eventId);
      // A real client would wait Retry-After; retrying sooner shows recovery sooner.
      else await sleep(50);
    }
  };
  const publishers = Array.from({ length: PUBLISHERS }, publisher);
  return {
    answers,
    acked,
    /** Resolves with the first answer with `status` that arrived at or after `since`. */
    async first(status: number, since: number, timeoutMs = 30_000): Promise<Answer> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = answers.find((a) => a.at >= since && a.status === status);
        if (found) return found;
        const unanswered = answers.find((a) => a.status === 'no answer');
        if (unanswered) throw new Error('the service stopped answering');
        if (Date.now() > deadline) throw new Error(`no ${status} within ${timeoutMs} ms`);
        await sleep(10);
      }
    },
    async stop(): Promise<void> {
      running = false;
      await Promise.all(publishers);
    },
  };
}

/** Every eventId of PATTERN the API lists (ascending pages through the cursor). */
async function storedEventIds(url: string): Promise<Set<string>> {
  const ids = new Set<string>();
  let cursor: string | undefined;
  do {
    const query = new URLSearchParams({ pattern: PATTERN, order: 'asc', limit: '1000' });
    if (cursor) query.set('cursor', cursor);
    const response = await fetch(`${url}/v1/events?${query}`);
    expect(response.status).toBe(200);
    const page = (await response.json()) as {
      events: Array<{ eventId: string }>;
      pagination: { hasMore: boolean; nextCursor: string | null };
    };
    for (const event of page.events) ids.add(event.eventId);
    cursor = page.pagination.hasMore ? (page.pagination.nextCursor ?? undefined) : undefined;
  } while (cursor);
  return ids;
}

describe('a PostgreSQL outage under load', () => {
  let cluster: PostgresCluster | undefined;
  let receiver: TestReceiver | undefined;
  let service: ServiceProcess | undefined;

  afterAll(async () => {
    if (service && service.child.exitCode === null) await service.stop('SIGKILL');
    await cluster?.destroy();
    await receiver?.close();
  });

  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${service!.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status, await response.clone().text()).toBe(201);
  };

  it('keeps the process up, answers 503 with Retry-After while down, and loses nothing acknowledged', async () => {
    [cluster, receiver] = await Promise.all([startPostgresCluster(), startReceiver()]);
    service = await startService({
      DATABASE_URL: cluster.url,
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      DATABASE_STATEMENT_TIMEOUT_MS: '1000',
      DELIVERY_ENCRYPTION_KEY: Buffer.alloc(32, 3).toString('base64'),
      EGRESS_ALLOWLIST: '127.0.0.1',
      // All the load comes from one address: no per-address rate limit in the way.
      RATE_LIMIT_EVENTS_PUBLISH: '0',
      RATE_LIMIT_EVENTS_READ: '0',
      // A delivery whose result could not be recorded is taken over this soon.
      ROUTING_LEASE_MS: '3000',
    });
    const { url } = service;
    await post('/v1/event-definitions', openDefinition(PATTERN));
    await post('/v1/subscriptions', {
      event_pattern: PATTERN,
      subscriber: { id: 'outage-hook', type: 'webhook', endpoint: receiver.url },
      retry_policy: {
        max_attempts: 50,
        initial_delay_ms: 200,
        backoff_factor: 1.5,
        max_delay_ms: 2000,
      },
    });
    const load = startLoad(url);
    const figures: Array<{ fault: string; firstRefusalMs: number; firstAcceptMs: number }> = [];
    const readinessMs: number[] = [];

    const faults: Array<{ name: string; down(): Promise<void>; up(): Promise<void> }> = [
      { name: 'stop -m fast', down: () => cluster!.stop('fast'), up: () => cluster!.start() },
      {
        name: 'stop -m immediate',
        down: () => cluster!.stop('immediate'),
        up: () => cluster!.start(),
      },
      { name: 'SIGSTOP', down: () => cluster!.freeze(), up: () => cluster!.thaw() },
    ];
    for (const fault of faults) {
      await load.first(202, Date.now());
      const downAt = Date.now();
      await fault.down();
      const refusal = await load.first(503, downAt);
      expect(refusal.retryAfter).toBe('1');

      // The quickest of three probes: on a loaded machine one answer may wait for the CPU.
      const probes: number[] = [];
      for (let i = 0; i < 3; i++) {
        const probeAt = Date.now();
        expect((await fetch(`${url}/readyz`)).status).toBe(503);
        probes.push(Date.now() - probeAt);
      }
      expect(Math.min(...probes)).toBeLessThan(1000);
      readinessMs.push(Math.min(...probes));
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      // Down a while longer: the workers fail their rounds and must back off, not give up.
      await sleep(1500);

      await fault.up();
      const upAt = Date.now();
      const accept = await load.first(202, upAt);
      figures.push({
        fault: fault.name,
        firstRefusalMs: refusal.at - downAt,
        firstAcceptMs: accept.at - upAt,
      });
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
    }
    await load.stop();

    expect(service.child.exitCode).toBeNull();
    expect(service.output()).not.toMatch(/Unhandled 'error' event|uncaught/i);
    const statuses = new Set(load.answers.map((a) => a.status));
    expect([...statuses].sort()).toEqual([202, 503]);
    expect(load.answers.filter((a) => a.status === 503 && a.retryAfter !== '1')).toEqual([]);

    const stored = await storedEventIds(url);
    const lost = load.acked.filter((id) => !stored.has(id));
    // The routing workers resumed by themselves: every acknowledged event reached the webhook.
    const deadline = Date.now() + 30_000;
    let undelivered = load.acked;
    while (undelivered.length > 0 && Date.now() < deadline) {
      await sleep(200);
      const delivered = new Set(receiver.received.map((r) => JSON.parse(r.body).eventId));
      undelivered = load.acked.filter((id) => !delivered.has(id));
    }
    console.info(
      JSON.stringify({
        acked: load.acked.length,
        refused: load.answers.filter((a) => a.status === 503).length,
        lost: lost.length,
        undelivered: undelivered.length,
        figures,
        readinessMs,
      }),
    );
    expect(lost).toEqual([]);
    expect(undelivered).toEqual([]);
  }, 120_000);
});
