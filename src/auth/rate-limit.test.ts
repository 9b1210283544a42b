import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type App, createApp } from '../app.ts';
import { loadConfig } from '../config.ts';
import type { Database } from '../db/database.ts';
import { loadMigrations } from '../db/migrate.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { TestClock } from '../testing/clock.ts';
import { RateLimiter } from './rate-limit.ts';
import { RateLimitStore } from './rate-limit-store.ts';
import type { RateClass } from './scopes.ts';

/** Limits small enough to reach in a test. */
const LIMITS: Record<RateClass, number> = {
  'events.publish': 1000,
  'events.read': 100,
  definitions: 3,
  triggers: 60,
  subscriptions: 60,
  admin: 5,
};

/** A store that counts its statements, to show what the request path costs. */
class CountingStore extends RateLimitStore {
  claims = 0;
  override claim(subject: string, rateClass: string, windowStart: Date, amount: number) {
    this.claims += 1;
    return super.claim(subject, rateClass, windowStart, amount);
  }
}

describe.each(testBackends())('rate limits on $name', (backend) => {
  let t: TestApp;
  let key: string;
  let headers: Record<string, string>;

  beforeAll(async () => {
    t = await startTestApp(backend, { authEnabled: true, rateLimitsPerMinute: LIMITS });
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    await t.reset();
    // 12:00:15 — the window is 12:00:00 to 12:01:00.
    t.clock.set('2026-01-15T12:00:15.000Z');
    key = (await t.app.apiKeys.create({ name: 'k', scopes: ['admin'] })).key;
    headers = { 'x-api-key': key };
  });

  const windowEnd = Date.parse('2026-01-15T12:01:00.000Z') / 1000;
  const list = (h = headers) => t.request('GET', '/v1/event-definitions', { headers: h });

  it('reports the limit, what remains and the reset on every limited response', async () => {
    const remaining: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await list();
      expect(response.status).toBe(200);
      expect(response.headers['x-ratelimit-limit']).toBe('3');
      expect(response.headers['x-ratelimit-reset']).toBe(String(windowEnd));
      remaining.push(response.headers['x-ratelimit-remaining']);
    }
    expect(remaining).toEqual(['2', '1', '0']);
  });

  it('answers 429 rate_limited with Retry-After beyond the limit, until the window ends', async () => {
    for (let i = 0; i < 3; i++) expect((await list()).status).toBe(200);
    t.clock.advance(5000); // 12:00:20
    const refused = await list();
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      error: {
        code: 'rate_limited',
        message: 'rate limit of 3 requests per minute for definitions exceeded',
        details: [],
      },
    });
    expect(refused.headers).toMatchObject({
      'x-ratelimit-limit': '3',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(windowEnd),
      'retry-after': '40',
    });
    // Refused before the body is read: a write is refused the same way.
    const write = await t.request('POST', '/v1/event-definitions', { headers, payload: {} });
    expect(write.status).toBe(429);

    t.clock.set('2026-01-15T12:01:00.000Z');
    const next = await list();
    expect(next.status).toBe(200);
    expect(next.headers['x-ratelimit-remaining']).toBe('2');
    expect(next.headers['x-ratelimit-reset']).toBe(String(windowEnd + 60));
  });

  it('limits each key and each route class on its own', async () => {
    for (let i = 0; i < 3; i++) await list();
    expect((await list()).status).toBe(429);
    // Same key, another class (admin: api-keys management).
    const keys = await t.request('GET', '/v1/api-keys', { headers });
    expect(keys.status).toBe(200);
    expect(keys.headers['x-ratelimit-limit']).toBe('5');
    // Another key, same class.
    const other = (await t.app.apiKeys.create({ name: 'other', scopes: ['definitions:read'] })).key;
    const response = await list({ authorization: `Bearer ${other}` });
    expect(response.status).toBe(200);
    expect(response.headers['x-ratelimit-remaining']).toBe('2');
  });

  it('puts no limit on public routes', async () => {
    for (let i = 0; i < 10; i++) {
      const response = await t.request('GET', '/healthz', { headers });
      expect(response.status).toBe(200);
      expect(response.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });

  describe('several instances sharing the database', () => {
    let second: App;
    let secondDb: Database;

    beforeAll(async () => {
      // A second pool on PostgreSQL (another process would have one); PGlite is in-process.
      secondDb = backend.name === 'postgres' ? await t.database.open() : t.db;
      const config = { ...loadConfig({}), authEnabled: true, rateLimitsPerMinute: LIMITS };
      second = await createApp({
        config,
        db: secondDb,
        clock: t.clock,
        logger: pino({ level: 'silent' }),
        migrations: await loadMigrations(),
      });
    });
    afterAll(async () => {
      await second.server.close();
      if (secondDb !== t.db) await secondDb.close();
    });

    it('refuses on one instance what another has used up', async () => {
      second.rateLimiter.reset();
      for (let i = 0; i < 3; i++) expect((await list()).status).toBe(200);
      const onSecond = await second.server.inject({
        method: 'GET',
        url: '/v1/event-definitions',
        headers,
      });
      expect(onSecond.statusCode).toBe(429);
      expect(onSecond.headers['x-ratelimit-remaining']).toBe('0');
    });

    it('serves exactly the limit when both instances take turns', async () => {
      second.rateLimiter.reset();
      const served: string[] = [];
      for (let i = 0; i < 6; i++) {
        const app = i % 2 === 0 ? t.app : second;
        const response = await app.server.inject({
          method: 'GET',
          url: '/v1/api-keys',
          headers,
        });
        if (response.statusCode === 200) served.push(i % 2 === 0 ? 'first' : 'second');
        else expect(response.statusCode).toBe(429);
      }
      expect(served).toEqual(['first', 'second', 'first', 'second', 'first']);
    });
  });

  describe('leases', () => {
    const limiterOn = (store: RateLimitStore, clock: TestClock, limit: number) =>
      new RateLimiter({ store, clock, limits: { 'events.publish': limit } });

    it('costs one statement per lease (1% of the limit), and none once refused', async () => {
      const store = new CountingStore(t.db);
      const limiter = limiterOn(store, t.clock, 1000);
      let allowed = 0;
      for (let i = 0; i < 1200; i++) {
        if ((await limiter.take('key-a', 'events.publish'))!.allowed) allowed += 1;
      }
      expect(allowed).toBe(1000);
      // 100 leases of 10; the last one fills the window, so the 200 refusals cost nothing.
      expect(store.claims).toBe(100);
    });

    it('never serves more than the limit across instances, whatever the lease sizes', async () => {
      const stores = [new CountingStore(t.db), new CountingStore(t.db), new CountingStore(t.db)];
      const limiters = stores.map((s) => limiterOn(s, t.clock, 250));
      let allowed = 0;
      for (let i = 0; i < 400; i++) {
        const decision = await limiters[i % 3]!.take('key-b', 'events.publish');
        if (decision!.allowed) allowed += 1;
      }
      expect(allowed).toBe(250);
    });

    it('waits for one claim when many requests of a key arrive at once', async () => {
      const store = new CountingStore(t.db);
      const limiter = limiterOn(store, t.clock, 10);
      const decisions = await Promise.all(
        Array.from({ length: 50 }, () => limiter.take('key-c', 'events.publish')),
      );
      expect(decisions.filter((d) => d!.allowed)).toHaveLength(10);
      expect(store.claims).toBeLessThanOrEqual(11);
    });

    it('prunes windows that ended before the previous one', async () => {
      const clock = new TestClock(new Date('2026-01-15T12:00:00.000Z'));
      const limiter = limiterOn(new RateLimitStore(t.db), clock, 100);
      await limiter.take('key-d', 'events.publish');
      clock.advance(60_000);
      await limiter.take('key-d', 'events.publish');
      clock.advance(60_000);
      await limiter.take('key-d', 'events.publish');
      const { rows } = await t.db.query<{ window_start: Date }>(
        `SELECT window_start FROM rate_limit_windows WHERE subject = 'key-d' ORDER BY window_start`,
      );
      expect(rows.map((r) => r.window_start.toISOString())).toEqual([
        '2026-01-15T12:01:00.000Z',
        '2026-01-15T12:02:00.000Z',
      ]);
    });

    it('treats a limit of 0 as no limit', async () => {
      const limiter = limiterOn(new CountingStore(t.db), t.clock, 0);
      expect(await limiter.take('key-e', 'events.publish')).toBeUndefined();
    });
  });
});

describe.each(testBackends())('rate limits with auth off on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend, { authEnabled: false, rateLimitsPerMinute: LIMITS });
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    await t.reset();
    t.clock.set('2026-01-15T12:00:15.000Z');
  });

  const listFrom = (remoteAddress: string) =>
    t.app.server.inject({ method: 'GET', url: '/v1/event-definitions', remoteAddress });

  it('counts per client address and sends the same headers as with auth on', async () => {
    const windowEnd = String(Date.parse('2026-01-15T12:01:00.000Z') / 1000);
    const remaining: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await listFrom('127.0.0.1');
      expect(response.statusCode).toBe(200);
      expect(response.headers['x-ratelimit-limit']).toBe('3');
      expect(response.headers['x-ratelimit-reset']).toBe(windowEnd);
      remaining.push(response.headers['x-ratelimit-remaining']);
    }
    expect(remaining).toEqual(['2', '1', '0']);

    const refused = await listFrom('127.0.0.1');
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('45');
    expect(refused.json().error.code).toBe('rate_limited');

    // Another address has a budget of its own.
    const other = await listFrom('127.0.0.2');
    expect(other.statusCode).toBe(200);
    expect(other.headers['x-ratelimit-remaining']).toBe('2');
  });

  it('leaves public routes and the identity route unlimited', async () => {
    for (let i = 0; i < 10; i++) {
      for (const url of ['/healthz', '/v1/me']) {
        const response = await t.request('GET', url);
        expect(response.status).toBe(200);
        expect(response.headers['x-ratelimit-limit']).toBeUndefined();
      }
    }
  });
});
