import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { App } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import type { Database, Queryable } from '../src/db/database.ts';
import { localConfig } from '../src/testing/app.ts';
import { bookingDefinition } from '../src/testing/fixtures.ts';
import { backendCpu, backendCpuUsed, CLOCK_TICKS_PER_SECOND, procCpuMicros } from './cpu-time.ts';
import type { DriverReply, DriverRequest } from './delivery-cost-driver.ts';
import { integerSetting, round } from './stats.ts';
import { createBenchDatabase, postJson, startBenchService } from './support.ts';

/**
 * What one webhook delivery costs the service in CPU time, rather than how many it sends per
 * second: on a machine shared with other work, CPU time per delivery moves far less with the
 * load than throughput does, so a change to the delivery path can be judged there.
 *
 * Setup as in the delivery benchmark (bench/delivery.ts): the service in this process over a
 * fresh PostgreSQL database (DATABASE_URL; skipped when unset), the booking definition and 10
 * webhook subscriptions on a local receiver, default configuration except the sender threads.
 * The receiver and the 32 publishers run in a child process (bench/delivery-cost-driver.ts), so
 * this process's CPU time is the service's alone. Each DELIVERY_THREADS value measured
 * (BENCH_COST_THREADS, default `0,1`) gets a fresh database and service, warmed up with
 * WARM_UP_EVENTS events, then three phases of EVENTS events each (BENCH_COST_EVENTS):
 * 1. ingest: the routing workers stopped, the events published (32 at a time): the cost of
 *    accepting them and writing their work, per event;
 * 2. drain: the workers started on that backlog of 10 × EVENTS deliveries: delivery alone,
 *    in full rounds (ROUTING_BATCH_SIZE);
 * 3. live: the workers running while EVENTS more are published, as in the delivery benchmark's
 *    bursts: rounds are as large as what is due; `perDelivery` subtracts phase 1's cost of
 *    the same number of events (`raw` keeps it in).
 *
 * For each phase: CPU time in µs of the whole process (`process.cpuUsage`, user + system: the
 * main thread, sender threads, garbage collector and libuv threads), of the main thread alone
 * (/proc/self/task/<pid>/stat), of the webhook sender threads alone (`senderThreadsUs`: their
 * /proc/self/task/<tid>/stat, each thread's id asked of the thread itself through this
 * process's inspector once the warm-up started them; `otherThreadsUs` keeps them in, and the rest
 * of it is V8's compiler and garbage collector threads and libuv's), and of the database's
 * server processes (the PostgreSQL backends of the bench database, /proc/<pid>/stat: a backend
 * that exits within the phase is not counted), per delivery (per event for ingest); and the
 * statements and round trips the service sent (a transaction is its statements plus BEGIN and
 * COMMIT).
 *
 * BENCH_COST_PROFILE=<folder> writes CPU profiles of the main thread over the ingest and the
 * drain phases (`ingest-threads-<n>.cpuprofile`, `drain-threads-<n>.cpuprofile`, for Chrome's or
 * VS Code's profiler), and of each sender thread over the drain
 * (`drain-sender-<k>-threads-<n>.cpuprofile`, through the inspector's NodeWorker domain);
 * with BENCH_COST_PROFILE_KIND=heap, allocation profiles of the main thread over the same two
 * phases instead (`.heapprofile`). Profiling inflates the figures of that run.
 */
const SUBSCRIPTIONS = 10;
const PRODUCERS = 32;
const WARM_UP_EVENTS = 300;
const EVENTS = integerSetting(process.env.BENCH_COST_EVENTS, 2_000);
const THREADS = (process.env.BENCH_COST_THREADS ?? '0,1')
  .split(',')
  .map((text) => integerSetting(text, 0, 0));
const WAIT_CAP_MS = 120_000;
/** How long a sender thread's inspector may take to answer one question. */
const ASK_TIMEOUT_MS = 10_000;
/** How long a worker thread may take to say whether it is a sender thread. */
const ROLE_TIMEOUT_MS = 2_000;
const PROFILE_FOLDER = process.env.BENCH_COST_PROFILE;
/** `cpu` (the default) or `heap`: see startProfile. */
const PROFILE_KIND = process.env.BENCH_COST_PROFILE_KIND === 'heap' ? 'heap' : 'cpu';

/** Statements and round trips sent through a database, counted. */
interface Counts {
  statements: number;
  roundTrips: number;
}

function countingDatabase(db: Database): { db: Database; counts: Counts } {
  const counts: Counts = { statements: 0, roundTrips: 0 };
  const counted = (q: Queryable): Queryable => ({
    query(sql, params, options) {
      counts.statements++;
      counts.roundTrips++;
      return q.query(sql, params, options);
    },
    exec: (sql) => q.exec(sql),
  });
  const wrapped: Database = {
    kind: db.kind,
    ...counted(db),
    transaction(fn) {
      counts.roundTrips += 2;
      return db.transaction((tx) => fn(counted(tx)));
    },
    close: () => db.close(),
  };
  if (db.stats) wrapped.stats = db.stats.bind(db);
  if (db.listen) wrapped.listen = db.listen.bind(db);
  return { db: wrapped, counts };
}

interface Snapshot {
  at: number;
  process: number;
  main: number;
  senders: number;
  backends: Map<number, number>;
  counts: Counts;
}

async function snapshot(
  admin: pg.Client,
  counts: Counts,
  senders: SenderThreads,
): Promise<Snapshot> {
  const { user, system } = process.cpuUsage();
  return {
    at: performance.now(),
    process: user + system,
    main: procCpuMicros(`self/task/${process.pid}`),
    senders: senders.cpuMicros(),
    backends: await backendCpu(admin),
    counts: { ...counts },
  };
}

/** CPU µs of each part between two snapshots, and statements and round trips. */
function used(start: Snapshot, end: Snapshot) {
  const database = backendCpuUsed(start.backends, end.backends);
  return {
    seconds: (end.at - start.at) / 1000,
    process: end.process - start.process,
    main: end.main - start.main,
    senders: end.senders - start.senders,
    database,
    statements: end.counts.statements - start.counts.statements,
    roundTrips: end.counts.roundTrips - start.counts.roundTrips,
  };
}
type Used = ReturnType<typeof used>;

/** Per unit (delivery or event), rounded: µs of CPU, statements and round trips. */
function per(usage: Used, units: number) {
  return {
    processUs: round(usage.process / units, 1),
    mainThreadUs: round(usage.main / units, 1),
    otherThreadsUs: round((usage.process - usage.main) / units, 1),
    senderThreadsUs: round(usage.senders / units, 1),
    databaseUs: round(usage.database / units, 1),
    statements: round(usage.statements / units, 3),
    roundTrips: round(usage.roundTrips / units, 3),
  };
}

function minus(a: Used, b: Used): Used {
  return {
    seconds: a.seconds,
    process: a.process - b.process,
    main: a.main - b.main,
    senders: a.senders - b.senders,
    database: a.database - b.database,
    statements: a.statements - b.statements,
    roundTrips: a.roundTrips - b.roundTrips,
  };
}

/**
 * A profile of this thread when BENCH_COST_PROFILE names a folder: of its CPU time, or with
 * BENCH_COST_PROFILE_KIND=heap of what it allocates (the heap profiler's sampling, every 32 KiB
 * on average, objects collected since included: `<name>.heapprofile`), which shows what feeds
 * the garbage collector.
 */
async function startProfile() {
  if (!PROFILE_FOLDER) return undefined;
  const session = new Session();
  session.connect();
  if (PROFILE_KIND === 'heap') {
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 32_768,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  } else {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  return {
    async stop(name: string) {
      if (PROFILE_KIND === 'heap') {
        const { profile } = await session.post('HeapProfiler.stopSampling');
        writeFileSync(`${PROFILE_FOLDER}/${name}.heapprofile`, JSON.stringify(profile));
      } else {
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(`${PROFILE_FOLDER}/${name}.cpuprofile`, JSON.stringify(profile));
      }
      session.disconnect();
    },
  };
}

/**
 * The service's worker threads (the webhook sender threads: the bench's process runs no other
 * but the module loader's), reached through this process's inspector: each is asked its thread
 * id, whose /proc/self/task/<tid>/stat gives its CPU time, and can be profiled. Call once the
 * threads started; a thread started later is not counted. A thread that does not answer within
 * ASK_TIMEOUT_MS fails the run rather than hanging it.
 */
async function attachSenderThreads() {
  const session = new Session();
  session.connect();
  const candidates: string[] = [];
  session.on('NodeWorker.attachedToWorker', ({ params }) => {
    // Node's module loader hooks (tsx's) run on threads of their own, one per thread using them.
    if (params.workerInfo.url !== 'node:internal/modules/esm/worker')
      candidates.push(params.sessionId);
  });
  const replies = new Map<number, (reply: { result?: unknown; error?: unknown }) => void>();
  session.on('NodeWorker.receivedMessageFromWorker', ({ params }) => {
    const reply = JSON.parse(params.message) as { id?: number; result?: unknown; error?: unknown };
    if (reply.id === undefined) return;
    replies.get(reply.id)?.(reply);
    replies.delete(reply.id);
  });
  let nextId = 0;
  const ask = async (
    sessionId: string,
    method: string,
    params: object = {},
    timeoutMs = ASK_TIMEOUT_MS,
  ) => {
    const id = ++nextId;
    const reply = new Promise<{ result?: unknown; error?: unknown }>((resolve, reject) => {
      const timer = setTimeout(() => {
        replies.delete(id);
        reject(new Error(`worker inspector: ${method}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      replies.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
    });
    await session.post('NodeWorker.sendMessageToWorker', {
      sessionId,
      message: JSON.stringify({ id, method, params }),
    });
    const { result, error } = await reply;
    if (error) throw new Error(`worker inspector: ${method}: ${JSON.stringify(error)}`);
    return result as Record<string, unknown>;
  };
  // Existing workers are reported as attached after enable, as events: give them 100 ms to
  // arrive; the caller checks the count against the threads it started, so a miss fails the run.
  await session.post('NodeWorker.enable', { waitForDebuggerOnStart: false });
  await new Promise((resolve) => setTimeout(resolve, 100));
  // A loader thread was at times reported before its url was set (a run then failed with two
  // sender threads for one), so each candidate is asked what it is; a thread that does not
  // answer soon (a loader thread waiting for its next request) is not a sender thread.
  const workers: string[] = [];
  for (const sessionId of candidates) {
    const role = await ask(
      sessionId,
      'Runtime.evaluate',
      { expression: "process.getBuiltinModule('node:worker_threads').workerData?.role" },
      ROLE_TIMEOUT_MS,
    ).catch(() => undefined);
    if ((role as { result?: { value?: unknown } } | undefined)?.result?.value === 'webhook-sender')
      workers.push(sessionId);
  }
  const tasks: string[] = [];
  for (const sessionId of workers) {
    const { result } = (await ask(sessionId, 'Runtime.evaluate', {
      expression: "process.getBuiltinModule('node:fs').readlinkSync('/proc/thread-self')",
    })) as { result: { value: string } };
    tasks.push(result.value.replace(/^\d+\//, 'self/'));
  }
  // Unless profiling, the threads run without an inspector session, as in production.
  if (!PROFILE_FOLDER) await session.post('NodeWorker.disable');
  return {
    count: workers.length,
    cpuMicros: () => tasks.reduce((sum, task) => sum + procCpuMicros(task), 0),
    /** Profiles every thread when BENCH_COST_PROFILE names a folder. */
    async startProfiles() {
      if (!PROFILE_FOLDER) return undefined;
      for (const sessionId of workers) {
        await ask(sessionId, 'Profiler.enable');
        await ask(sessionId, 'Profiler.start');
      }
      return {
        async stop(name: string) {
          for (const [k, sessionId] of workers.entries()) {
            const { profile } = await ask(sessionId, 'Profiler.stop');
            writeFileSync(
              `${PROFILE_FOLDER}/${name.replace('{k}', String(k))}.cpuprofile`,
              JSON.stringify(profile),
            );
          }
        },
      };
    },
    close: () => session.disconnect(),
  };
}
type SenderThreads = Awaited<ReturnType<typeof attachSenderThreads>>;

/** The receiver and publishers' process, and requests to it answered in order. */
async function startDriver() {
  const child = fork(fileURLToPath(new URL('./delivery-cost-driver.ts', import.meta.url)), {
    execArgv: ['--import', 'tsx'],
  });
  const waiting: Array<(reply: DriverReply) => void> = [];
  child.on('message', (reply: DriverReply) => waiting.shift()?.(reply));
  const next = () => new Promise<DriverReply>((resolve) => waiting.push(resolve));
  const first = await next();
  if (first.type !== 'receiver') throw new Error(`driver answered ${first.type}`);
  const ask = async <T extends DriverReply['type']>(request: DriverRequest, expected: T) => {
    const reply = next();
    child.send(request);
    const answer = await reply;
    if (answer.type !== expected)
      throw new Error(
        `driver: ${answer.type === 'failed' ? answer.message : `answered ${answer.type}`}`,
      );
    return answer as Extract<DriverReply, { type: T }>;
  };
  return {
    receiverUrl: first.url,
    ask,
    async close() {
      await ask({ type: 'close' }, 'closed');
      child.kill();
    },
  };
}
type Driver = Awaited<ReturnType<typeof startDriver>>;

async function waitForReceipts(driver: Driver, expected: number): Promise<void> {
  const start = Date.now();
  while ((await driver.ask({ type: 'count' }, 'count')).count < expected) {
    if (Date.now() - start > WAIT_CAP_MS)
      throw new Error(`fewer than ${expected} deliveries within ${WAIT_CAP_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function publish(driver: Driver, prefix: string, total: number): Promise<void> {
  const { accepted } = await driver.ask(
    { type: 'publish', prefix, total, concurrency: PRODUCERS },
    'published',
  );
  if (accepted !== total) throw new Error(`${total - accepted} of ${total} events not accepted`);
}

/** Every delivery of the phase arrived, none twice. */
async function checkReceipts(driver: Driver, expected: number) {
  const taken = await driver.ask({ type: 'take' }, 'taken');
  if (taken.received !== expected || taken.duplicates > 0)
    throw new Error(
      `expected ${expected} deliveries, got ${taken.received} (${taken.duplicates} duplicates)`,
    );
}

async function measure(serverUrl: string, driver: Driver, threads: number) {
  const bench = await createBenchDatabase(serverUrl);
  const { db, counts } = countingDatabase(bench.db);
  const admin = new pg.Client({ connectionString: bench.url });
  await admin.connect();
  const { delivery } = localConfig();
  let app: App | undefined;
  let senders: SenderThreads | undefined;
  try {
    const started = await startBenchService(db, { delivery: { ...delivery, threads } });
    app = started.app;
    await postJson(started.url, '/v1/event-definitions', bookingDefinition());
    for (let k = 0; k < SUBSCRIPTIONS; k++)
      await postJson(started.url, '/v1/subscriptions', {
        event_pattern: 'bookings.created',
        subscriber: {
          id: `cost-${k}`,
          type: 'webhook',
          endpoint: `${driver.receiverUrl}/hook/${k}`,
        },
      });
    await driver.ask({ type: 'connect', url: started.url, connections: PRODUCERS }, 'connected');
    await publish(driver, `cost-${threads}-warm-`, WARM_UP_EVENTS);
    await waitForReceipts(driver, WARM_UP_EVENTS * SUBSCRIPTIONS);
    await driver.ask({ type: 'take' }, 'taken');
    const deliveries = EVENTS * SUBSCRIPTIONS;
    const attached = await attachSenderThreads();
    senders = attached;
    if (attached.count !== threads)
      throw new Error(`expected ${threads} sender threads, found ${attached.count}`);
    const snap = () => snapshot(admin, counts, attached);

    await app.workers.stop();
    const ingestProfiling = await startProfile();
    const s0 = await snap();
    await publish(driver, `cost-${threads}-backlog-`, EVENTS);
    const s1 = await snap();
    await ingestProfiling?.stop(`ingest-threads-${threads}`);
    const profiling = await startProfile();
    const senderProfiling = PROFILE_KIND === 'cpu' ? await attached.startProfiles() : undefined;
    app.workers.start();
    await waitForReceipts(driver, deliveries);
    const s2 = await snap();
    await profiling?.stop(`drain-threads-${threads}`);
    await senderProfiling?.stop(`drain-sender-{k}-threads-${threads}`);
    await checkReceipts(driver, deliveries);

    const s3 = await snap();
    await publish(driver, `cost-${threads}-live-`, EVENTS);
    await waitForReceipts(driver, deliveries);
    const s4 = await snap();
    await checkReceipts(driver, deliveries);

    const ingest = used(s0, s1);
    const drain = used(s1, s2);
    const live = used(s3, s4);
    return {
      deliveryThreads: threads,
      ingestPerEvent: per(ingest, EVENTS),
      drainPerDelivery: per(drain, deliveries),
      drainDeliveriesPerSecond: Math.round(deliveries / drain.seconds),
      livePerDelivery: per(minus(live, ingest), deliveries),
      liveRawPerDelivery: per(live, deliveries),
      liveDeliveriesPerSecond: Math.round(deliveries / live.seconds),
    };
  } finally {
    senders?.close();
    await app?.close();
    await admin.end();
    await bench.drop();
  }
}

export async function benchDeliveryCost(serverUrl: string | undefined) {
  if (!serverUrl) return { name: 'delivery-cost', skipped: 'DATABASE_URL is not set' };
  const driver = await startDriver();
  try {
    const results = [];
    for (const threads of THREADS) results.push(await measure(serverUrl, driver, threads));
    return {
      name: 'delivery-cost',
      backend: 'postgres',
      events: EVENTS,
      subscriptionsPerEvent: SUBSCRIPTIONS,
      producers: PRODUCERS,
      routing: loadConfig({}).routing,
      clockTicksPerSecond: CLOCK_TICKS_PER_SECOND,
      method:
        'CPU µs per delivery (per event for ingest): process = process.cpuUsage (all threads), mainThread = /proc/self/task/<pid>/stat, senderThreads = /proc/self/task/<tid>/stat of the webhook sender threads (included in otherThreads), database = PostgreSQL backends of the bench database; receiver and publishers in a child process, not counted; live = live phase minus the ingest phase',
      results,
    };
  } finally {
    await driver.close();
  }
}
