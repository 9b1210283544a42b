import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { installAccessControl } from '../src/auth/access.ts';
import { ApiKeys } from '../src/auth/api-keys.ts';
import { RateLimiter } from '../src/auth/rate-limit.ts';
import { RateLimitStore } from '../src/auth/rate-limit-store.ts';
import { systemClock } from '../src/clock.ts';
import { loadConfig } from '../src/config.ts';
import type { Database } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { openPglite } from '../src/db/pglite.ts';
import { openPostgres } from '../src/db/postgres.ts';
import { createServer } from '../src/http/server.ts';
import { Metrics } from '../src/observability/metrics.ts';
import { Tracing } from '../src/observability/tracing.ts';
import { median } from './stats.ts';

/** A store that counts statements, to report what the request path costs the database. */
class CountingStore extends RateLimitStore {
  claims = 0;
  override claim(subject: string, rateClass: string, windowStart: Date, amount: number) {
    this.claims += 1;
    return super.claim(subject, rateClass, windowStart, amount);
  }
}

interface Variant {
  name: string;
  authEnabled: boolean;
  /** Events-publish limit per minute; 0 = unlimited. */
  limit: number;
  leaseFraction?: number;
}

const REQUESTS = 4_000;
const RUNS = 10;
const CONCURRENCY = 50;

/**
 * Overhead of authentication and rate limiting per request on a publish-class route that does
 * nothing else: the same server with auth off, auth on without limits, auth on with leased
 * limits (the default, 1% of the limit per claim) and auth on with one statement per request.
 * In process through `inject` (no sockets: a fetch client in the same process costs more than
 * the server and hides the differences). Few requests per run: `inject` retains about 10 KB
 * per request on Node 20 (plain Fastify too, real HTTP does not), so long runs run out of heap.
 * PGlite in memory unless DATABASE_URL is set. The two steps are also timed alone.
 */
export async function benchAuthRateLimit() {
  const { databaseUrl } = loadConfig();
  const db: Database = databaseUrl
    ? await openPostgres({ connectionString: databaseUrl })
    : await openPglite({ dataDir: undefined });
  await migrate(db);
  const apiKeys = new ApiKeys({ db, clock: systemClock, cacheSeconds: 10 });
  const { key } = await apiKeys.create({ name: 'bench', scopes: ['events:publish'] });

  const variants: Variant[] = [
    { name: 'auth off', authEnabled: false, limit: 0 },
    { name: 'auth on, no limit', authEnabled: true, limit: 0 },
    { name: 'auth on, limit with 1% leases', authEnabled: true, limit: 100_000_000 },
    {
      name: 'auth on, limit with a statement per request',
      authEnabled: true,
      limit: 100_000_000,
      leaseFraction: 1e-9,
    },
  ];
  const servers: {
    variant: Variant;
    server: FastifyInstance;
    store: CountingStore;
    runs: number[];
  }[] = [];
  for (const variant of variants) {
    const store = new CountingStore(db);
    const rateLimiter = new RateLimiter({
      store,
      clock: systemClock,
      limits: { 'events.publish': variant.limit },
      leaseFraction: variant.leaseFraction,
    });
    const { server } = await createServer({
      logger: pino({ level: 'silent' }),
      bodyLimitBytes: 1024,
      metrics: new Metrics({ processMetrics: false }),
      tracing: new Tracing({ serviceName: 'bench' }),
      installAccessControl: (app) =>
        installAccessControl(app, {
          apiKeys,
          rateLimiter,
          clock: systemClock,
          authEnabled: variant.authEnabled,
        }),
    });
    server.get('/v1/bench', { config: { access: 'events:publish' } }, async () => ({ ok: true }));
    await server.ready();
    servers.push({ variant, server, store, runs: [] });
  }
  const send = async (server: FastifyInstance) => {
    const response = await server.inject({
      method: 'GET',
      url: '/v1/bench',
      headers: { 'x-api-key': key },
    });
    return response.statusCode;
  };
  for (const { server } of servers) for (let i = 0; i < 2000; i++) await send(server); // warm-up
  for (const entry of servers) entry.store.claims = 0;
  // Round-robin runs, each starting at another variant, so drift (GC, JIT, the machine) and
  // the position in a round spread over every variant alike.
  for (let run = 0; run < RUNS; run++) {
    for (let i = 0; i < servers.length; i++) {
      const entry = servers[(run + i) % servers.length]!;
      const start = process.hrtime.bigint();
      for (let sent = 0; sent < REQUESTS; sent += CONCURRENCY) {
        const batch = await Promise.all(
          Array.from({ length: CONCURRENCY }, () => send(entry.server)),
        );
        if (batch.some((status) => status !== 200))
          throw new Error(`${entry.variant.name}: not 200`);
      }
      entry.runs.push(Number(process.hrtime.bigint() - start) / REQUESTS);
    }
  }
  const results: Record<string, unknown>[] = [];
  for (const { variant, server, store, runs } of servers) {
    const nsPerRequest = median(runs);
    results.push({
      variant: variant.name,
      usPerRequest: Math.round(nsPerRequest / 10) / 100,
      requestsPerSecond: Math.round(1e9 / nsPerRequest),
      statementsPerRequest: Math.round((store.claims / (RUNS * REQUESTS)) * 10_000) / 10_000,
    });
    await server.close();
  }
  // The two steps alone, per call: verifying a cached key, taking from a lease.
  const microRuns = { authenticate: [] as number[], take: [] as number[] };
  const microLimiter = new RateLimiter({
    store: new RateLimitStore(db),
    clock: systemClock,
    limits: { 'events.publish': 100_000_000 },
  });
  for (let run = 0; run < 7; run++) {
    let start = process.hrtime.bigint();
    for (let i = 0; i < 100_000; i++) await apiKeys.authenticate(key);
    microRuns.authenticate.push(Number(process.hrtime.bigint() - start) / 100_000);
    start = process.hrtime.bigint();
    for (let i = 0; i < 100_000; i++) await microLimiter.take('bench', 'events.publish');
    microRuns.take.push(Number(process.hrtime.bigint() - start) / 100_000);
  }
  await db.close();
  const base = results[0]!.usPerRequest as number;
  for (const result of results) {
    result.overheadUs = Math.round(((result.usPerRequest as number) - base) * 100) / 100;
  }
  return {
    name: 'auth-rate-limit',
    backend: databaseUrl ? 'postgres' : 'pglite',
    requests: REQUESTS,
    concurrency: CONCURRENCY,
    authenticateCachedKeyNs: Math.round(median(microRuns.authenticate)),
    rateLimitTakeFromLeaseNs: Math.round(median(microRuns.take)),
    variants: results,
  };
}
