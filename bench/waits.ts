import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { bookingDefinition } from '../src/testing/fixtures.ts';
import { type Publisher, startPublisher } from './publisher.ts';
import { type BenchReceiver, startReceiverWorker } from './receiver-worker.ts';
import { distribution, round } from './stats.ts';
import { createBenchDatabase, postJson, startBenchService } from './support.ts';

/**
 * Issue 17's scale figures for waits, against PostgreSQL (DATABASE_URL; skipped when unset):
 * 100,000 open waits — how fast they register, how fast a matching event resolves one while
 * they are open, and what they cost the service's memory.
 *
 * Setup: the service in process (startBenchService, default configuration: the resolver polls
 * every WAITS_POLL_INTERVAL_MS, 200 ms), the booking definition, a webhook receiver in a thread
 * of its own, and two client threads (bench/publisher.ts): one registers waits, one publishes
 * events, each over an undici Pool, so the load does not take turns with the service on its
 * event loop. Every wait is `{ pattern: bookings.created, correlationKey: K, timeout: PT1H,
 * notify: { url: receiver } }` (no lookback, no condition; the service generates its secret);
 * the event that resolves it has eventId K, so its correlationId (defaulting to its id) is K.
 *
 * Resolution latency is measured from the event's 202 (stamped by the publisher thread) to the
 * receipt of the signed resume POST at the wait's notify URL (stamped by the receiver thread):
 * that POST is how a user's engine learns that its wait resolved, so the figure includes what
 * a user waits for — the resolver round after the commit (up to one poll interval), the
 * resolution, and the notification sent as routing work. Polling GET /v1/waits/{id} instead
 * would add the bench's own poll interval and load the service with reads a user's engine
 * would not make.
 *
 * Phases, on one database and service:
 * 1. warm-up: WARMUP waits resolved by their events (connections, caches, JIT; not counted);
 * 2. `fewOpenWaits`: RESOLVED waits registered, then their events published open loop at RATE/s
 *    for SECONDS (at most RESOLVED waits open): the latency baseline; then, all of them
 *    resolved, the memory without open waits (so the two memory figures differ only by them);
 * 3. registration of OPEN_WAITS waits from REGISTRATION_CONNECTIONS connections at once
 *    (closed loop): registrations per second and the latency of each POST; memory with them
 *    open, and the waits table's size in PostgreSQL;
 * 4. `withOpenWaits`: the events of RESOLVED of them published as in phase 2, so OPEN_WAITS
 *    (down to OPEN_WAITS − RESOLVED) stay open while they resolve. Matching costs no more per
 *    event with many waits open when the two phases' latencies agree.
 * Memory is the bench's process after a forced garbage collection (bench/run.ts gives
 * `--expose-gc`): heap used by the main thread (the service; the bench's main thread holds
 * only counters by then) and RSS (the whole process, client and receiver threads included).
 *
 * Caveats: the client threads, the receiver, the service and PostgreSQL share the machine's 2
 * cores. BENCH_SMOKE=1 runs 1,000 waits and 40 events per phase (a check that it works, not a
 * figure).
 */
const SMOKE = Boolean(process.env.BENCH_SMOKE);
const OPEN_WAITS = SMOKE ? 1_000 : 100_000;
const RATE = SMOKE ? 20 : 200;
const SECONDS = SMOKE ? 2 : 20;
const RESOLVED = RATE * SECONDS;
const WARMUP = SMOKE ? 20 : 200;
const REGISTRATION_CONNECTIONS = 16;
const PUBLISH_CONNECTIONS = 32;
const RECEIPT_CAP_MS = 60_000;
const PATTERN = 'bookings.created';

interface Clients {
  registrar: Publisher;
  publisher: Publisher;
  receiver: BenchReceiver;
}

/** Registers waits `${prefix}0..total-1`; answers the registration figures. */
async function register(clients: Clients, prefix: string, total: number) {
  const result = await clients.registrar.run(prefix, {
    mode: 'burst',
    total,
    concurrency: REGISTRATION_CONNECTIONS,
  });
  const seconds = (result.endMs - result.startMs) / 1000;
  if (result.accepted.length !== total)
    throw new Error(`registered ${result.accepted.length} of ${total} waits`);
  return {
    waits: total,
    connections: REGISTRATION_CONNECTIONS,
    seconds: round(seconds, 2),
    perSecond: Math.round(total / seconds),
    postLatencyMs: distribution(result.latenciesMs),
  };
}

/**
 * Publishes the events of waits `${prefix}0..total-1` at `rate`/s and waits (bounded) for each
 * wait's resume POST; answers 202 → receipt latencies.
 */
async function resolve(clients: Clients, prefix: string, total: number, rate: number) {
  const published = await clients.publisher.run(prefix, { mode: 'paced', total, rate });
  const acceptedAt = new Map(published.accepted);
  const start = Date.now();
  while ((await clients.receiver.count()) < acceptedAt.size && Date.now() - start < RECEIPT_CAP_MS)
    await new Promise((r) => setTimeout(r, 20));
  const { receipts, duplicates } = await clients.receiver.take();
  const latencies = receipts.flatMap((r) => {
    const at = acceptedAt.get(r.eventId);
    return at === undefined ? [] : [r.at - at];
  });
  return {
    offeredEventsPerSecond: rate,
    eventsAccepted: acceptedAt.size,
    notAccepted: published.refused,
    postLatencyFromScheduleMs: distribution(published.latenciesMs),
    resumesReceived: latencies.length,
    duplicateResumes: duplicates,
    allResolved: latencies.length === acceptedAt.size,
    latencyMs: distribution(latencies),
  };
}

/** The process's memory after a full collection, in MiB. */
function memory() {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  const mib = (bytes: number) => round(bytes / 2 ** 20);
  return { heapUsedMiB: mib(heapUsed), rssMiB: mib(rss), collected: gc !== undefined };
}

export async function benchWaits(serverUrl: string | undefined) {
  if (!serverUrl) return { name: 'waits', skipped: 'DATABASE_URL is not set' };
  const bench = await createBenchDatabase(serverUrl);
  const { app, url } = await startBenchService(bench.db);
  const receiver = await startReceiverWorker();
  const notifyUrl = `${receiver.url}/resume`;
  const registrar = await startPublisher({
    kind: 'waits',
    url,
    connections: REGISTRATION_CONNECTIONS,
    pattern: PATTERN,
    notifyUrl,
  });
  const publisher = await startPublisher({ kind: 'http', url, connections: PUBLISH_CONNECTIONS });
  const stats = new pg.Client({ connectionString: bench.url });
  await stats.connect();
  const clients = { registrar, publisher, receiver };
  try {
    await postJson(url, '/v1/event-definitions', bookingDefinition());
    await register(clients, 'warm-', WARMUP);
    const warmUp = await resolve(clients, 'warm-', WARMUP, RATE);
    if (!warmUp.allResolved) throw new Error('the warm-up waits did not all resolve');

    await register(clients, 'few-', RESOLVED);
    const fewOpenWaits = await resolve(clients, 'few-', RESOLVED, RATE);
    const withoutOpenWaits = memory();

    const registration = await register(clients, 'open-', OPEN_WAITS);
    const withOpen = memory();
    const { rows } = await stats.query<{ open: number; table_mib: number; index_mib: number }>(
      `SELECT (SELECT count(*) FROM waits WHERE status = 'waiting')::int AS open,
              round(pg_table_size('waits') / 1048576.0, 1)::float8 AS table_mib,
              round(pg_indexes_size('waits') / 1048576.0, 1)::float8 AS index_mib`,
    );
    const withOpenWaits = await resolve(clients, 'open-', RESOLVED, RATE);
    const { rows: resolvedRows } = await stats.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM waits WHERE status = 'resolved' AND correlation_key LIKE 'open-%'`,
    );
    return {
      name: 'waits',
      backend: 'postgres',
      smoke: SMOKE,
      waitsPollIntervalMs: loadConfig({}).waitsPollIntervalMs,
      latencyNote:
        "202 of the event (publisher thread) -> the wait's signed resume POST received at its notify URL (receiver thread)",
      registration,
      fewOpenWaits: { openWaitsAtStart: RESOLVED, ...fewOpenWaits },
      withOpenWaits: {
        openWaitsAtStart: rows[0]!.open,
        resolvedInDatabase: resolvedRows[0]!.n,
        ...withOpenWaits,
      },
      memory: {
        withoutOpenWaits,
        [`with${OPEN_WAITS}OpenWaits`]: withOpen,
        heapDeltaMiB: round(withOpen.heapUsedMiB - withoutOpenWaits.heapUsedMiB),
        rssDeltaMiB: round(withOpen.rssMiB - withoutOpenWaits.rssMiB),
        postgresWaitsTable: { tableMiB: rows[0]!.table_mib, indexesMiB: rows[0]!.index_mib },
      },
    };
  } finally {
    await stats.end();
    await publisher.close();
    await registrar.close();
    await app.close();
    await receiver.close();
    await bench.drop();
  }
}
