import { openPostgres } from '../src/db/postgres.ts';
import { localConfig } from '../src/testing/app.ts';
import { bookingDefinition } from '../src/testing/fixtures.ts';
import { type Publisher, startPublisher } from './publisher.ts';
import { type BenchReceiver, startReceiverWorker } from './receiver-worker.ts';
import { distribution } from './stats.ts';
import { createBenchDatabase, postJson, startBenchService } from './support.ts';

/**
 * Issue 13's wake-up benchmark, against PostgreSQL (DATABASE_URL; skipped when unset): 202 →
 * webhook receipt at 50 events/s (open loop, one webhook subscription), in two layouts on one
 * database:
 * - `oneInstance`: the publisher's instance routes (woken in process by its own commits);
 * - `acrossInstances`: the publisher's instance A runs no workers (`ROUTING_WORKERS=off`), and
 *   only instance B routes, woken by A's commits through LISTEN/NOTIFY.
 * Goal: acrossInstances p50 and p99 within 20 ms of oneInstance's. Both instances run in the
 * bench's process (each with its own pool of 10 connections and its own listening connection),
 * so they share one event loop; the publisher and the receiver run in threads of their own.
 * BENCH_SMOKE=1 runs 2 s per layout instead of 20 s (a check that it works, not a figure).
 */
const RATE = 50;
const SECONDS = process.env.BENCH_SMOKE ? 2 : 20;
const GOAL_MS = 20;

async function layout(serverUrl: string, receiver: BenchReceiver, across: boolean) {
  const bench = await createBenchDatabase(serverUrl);
  // One configuration for both instances: B must unseal the signing secrets A sealed, so they
  // share the encryption key, as every instance of one deployment does.
  const config = localConfig();
  const a = await startBenchService(bench.db, {
    ...config,
    routing: { ...config.routing, workers: !across },
  });
  // B: a second instance on the same database, with a pool (and listener) of its own.
  const bDb = across
    ? await openPostgres({ connectionString: bench.url, maxConnections: 10 })
    : undefined;
  const b = bDb ? await startBenchService(bDb, config) : undefined;
  let publisher: Publisher | undefined;
  try {
    await postJson(a.url, '/v1/event-definitions', bookingDefinition());
    await postJson(a.url, '/v1/subscriptions', {
      event_pattern: 'bookings.created',
      subscriber: { id: 'bench-wake', type: 'webhook', endpoint: `${receiver.url}/hook/0` },
    });
    publisher = await startPublisher({ kind: 'http', url: a.url, connections: 8 });
    // Warm-up: connections, the routing index, the first claims.
    await publisher.run(`wake-warm-${across}-`, { mode: 'paced', total: RATE, rate: RATE });
    await waitFor(receiver, RATE);
    await receiver.take();
    const total = RATE * SECONDS;
    const published = await publisher.run(`wake-${across}-`, { mode: 'paced', total, rate: RATE });
    await waitFor(receiver, published.accepted.length);
    const acceptedAt = new Map(published.accepted);
    const latencies = (await receiver.take()).receipts.flatMap((r) => {
      const at = acceptedAt.get(r.eventId);
      return at === undefined ? [] : [r.at - at];
    });
    return {
      accepted: acceptedAt.size,
      received: latencies.length,
      latencyMs: distribution(latencies),
    };
  } finally {
    await publisher?.close();
    await b?.app.close();
    await bDb?.close();
    await a.app.close();
    await bench.drop();
  }
}

async function waitFor(receiver: BenchReceiver, expected: number, capMs = 30_000) {
  const start = Date.now();
  while ((await receiver.count()) < expected && Date.now() - start < capMs)
    await new Promise((resolve) => setTimeout(resolve, 20));
}

export async function benchWakeUps(serverUrl: string | undefined) {
  if (!serverUrl) return { name: 'wake-ups', skipped: 'DATABASE_URL is not set' };
  const receiver = await startReceiverWorker();
  try {
    const oneInstance = await layout(serverUrl, receiver, false);
    const acrossInstances = await layout(serverUrl, receiver, true);
    const gap = (q: 'p50' | 'p99') =>
      (acrossInstances.latencyMs?.[q] ?? Number.NaN) - (oneInstance.latencyMs?.[q] ?? Number.NaN);
    return {
      name: 'wake-ups',
      offeredEventsPerSecond: RATE,
      seconds: SECONDS,
      smoke: Boolean(process.env.BENCH_SMOKE),
      oneInstance,
      acrossInstances,
      gapMs: { p50: gap('p50'), p99: gap('p99') },
      goal: `acrossInstances within ${GOAL_MS} ms of oneInstance at p50 and p99`,
      goalMet: gap('p50') <= GOAL_MS && gap('p99') <= GOAL_MS,
    };
  } finally {
    await receiver.close();
  }
}
