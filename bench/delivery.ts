import { loadConfig } from '../src/config.ts';
import { localConfig } from '../src/testing/app.ts';
import { bookingDefinition } from '../src/testing/fixtures.ts';
import {
  BULLMQ,
  GRAPHILE,
  IN_FLIGHT,
  PGBOSS,
  type System,
  startBullMq,
  startGraphileWorker,
  startPgBoss,
} from './delivery-peers.ts';
import { type Load, type Publisher, startPublisher } from './publisher.ts';
import { type BenchReceiver, type Receipt, startReceiverWorker } from './receiver-worker.ts';
import { distribution, integerSetting, round } from './stats.ts';
import { createBenchDatabase, postJson, startBenchService } from './support.ts';

/**
 * Issue 5's delivery benchmark, extended by issue 13, against PostgreSQL (DATABASE_URL; skipped
 * when unset): webhook deliveries per second from publishing an event to its receipt at a
 * local receiver, with 10 subscriptions per event, for this service and, in the same run, for
 * three peers: pg-boss and graphile-worker (PostgreSQL) and BullMQ (the local Redis).
 *
 * - Receiver: node:http on 127.0.0.1 in a worker thread (bench/receiver-worker.ts), answering
 *   200 at once; it stamps each request with Date.now() and keys it by path and eventId, so
 *   duplicates are counted and not double-counted. Every system POSTs to it.
 * - Ours: the service in process (startBenchService, default configuration: one worker pool,
 *   routing batch ROUTING_BATCH_SIZE, 2 rounds in flight, at most 16 webhook requests in
 *   flight (ROUTING_CONCURRENCY: the 16 lanes the rounds share when the main loop sends; since
 *   2026-12-05 the DELIVERY_THREADS sender threads hold that bound themselves, starting a
 *   queued request as one ends, src/delivery/sender-threads.ts), 10 pooled connections, 100
 *   ms idle poll, woken by new events), the booking event definition and 10 webhook
 *   subscriptions (`bookings.created`, endpoints /hook/0..9). Publishing = POST /v1/events;
 *   accepted = the 202, which comes after the event and its routing work commit.
 *   Beside ours, not judged, the same service sending the other way: from its main loop
 *   (`oursOneLoop`, `threadsToOneLoop`) when the default uses a sender thread, from one sender
 *   thread (`oursOneThread`, `oneLoopToThread`) when it does not (DELIVERY_THREADS=0). With
 *   the earlier, shorter warm-up the one run second was faster in 16 of 21 burst sizes over
 *   the seven runs on file from 09:24 to 18:49 on 2026-12-03, whichever way it sent (see
 *   WARM_UP_EVENTS).
 * - Peers (bench/delivery-peers.ts, which states each one's settings and why): one job per
 *   delivery, job data = subscription index and the event's JSON body, each job POSTed with
 *   the same signed headers the service sends; the same budget for all: 16 requests in flight,
 *   5 attempts, 10 PostgreSQL connections. Publishing = adding an event's 10 jobs in one call;
 *   accepted = the call resolving.
 * - Producers: 32 concurrent publishers for every system (32 HTTP connections for ours), in a
 *   worker thread of their own (bench/publisher.ts): publishing is the load, not the system
 *   under test, so it does not share the main event loop with the systems.
 *
 * Phases, each system in turn, on the same receiver:
 * 1. Throughput, once per burst size (1,000, 2,000 and 5,000 events; BENCH_DELIVERY_BURSTS, a
 *    comma-separated list, runs others, e.g. `100,200` for a quick check that the benchmark
 *    works), each size on freshly started systems (new databases, a new Redis prefix), each
 *    warmed up with the same WARM_UP_EVENTS events (1,000; see there why not 200): the events
 *    published as fast as the 32 producers go (closed loop), then wait for all 10 × events
 *    receipts (capped). deliveries/s = receipts / (last receipt − first
 *    publish). Latencies here include the backlog's queueing.
 * 2. Latency: open loop at the same rate for all — half the slowest system's capacity in the
 *    largest burst, at most 50 events/s — for PACED_SECONDS; p50/p99 from acceptance to receipt.
 *
 * Judgement (issue 13): at **each** burst size, ours / each peer's deliveries per second ≥ 1.2
 * at 1,000 events and ≥ 1.5 at 2,000 and 5,000. It replaces issue 5's view (ours / pg-boss ≥ 1.5
 * in the largest burst only), which stays reported beside it as `earlierView`: the smallest
 * burst, which the earlier view left out as mostly ramp-up, is where one event loop receiving
 * the burst and sending every webhook capped the service (0.82–0.90× pg-boss), and the issue
 * asks for the goal to hold there too, against every peer. A run of other sizes is reported
 * and not judged (`goalMet: null`).
 *
 * Caveats: the service, the peers' workers and the producers share the bench's Node process
 * (the receiver does not), and PostgreSQL and Redis the same machine. The service does more
 * per delivery than the peers (it stores and validates the event, checks egress, and records
 * each attempt and the subscription's health), which is the product being measured.
 */
const DEFAULT_BURSTS = [1_000, 2_000, 5_000];
const BURSTS = burstSizes(process.env.BENCH_DELIVERY_BURSTS);
/** Issue 13's goal per burst size: ours / each peer's deliveries per second at least this. */
const GOALS: ReadonlyMap<number, number> = new Map([
  [1_000, 1.2],
  [2_000, 1.5],
  [5_000, 1.5],
]);
const SUBSCRIPTIONS = 10;
const PRODUCERS = 32;
const WAIT_CAP_MS = 60_000;
const PACED_SECONDS = 5;
const PACED_MAX_RATE = 50;
/**
 * Events each system delivers before it is measured (JIT, connections, caches), the same for
 * every system; BENCH_DELIVERY_WARM_UP runs another number (200 reproduces runs before the
 * change). 1,000, not the 200 of earlier runs (nor the 50 before them): with 200, the system
 * measured first — always ours — was still warming up. Our service runs in this process beside
 * the second 'ours' (same code, so the first one's measured burst warms the second's JIT) and
 * each service's sender thread is an isolate of its own whose JIT warms only on what it sends:
 * in the seven runs on file from 09:24 to 18:49 on 2026-12-03 the second of the two was faster
 * in 16 of 21 burst sizes, whichever way it sent. With an extra unmeasured burst of each 'ours'
 * (of the measured burst's size) before the measured ones, ours measured 5,498 / 5,013 (5,764 /
 * 6,213 in a repeat) deliveries/s at 1,000 / 2,000 events, against 4,439 / 5,103 cold in the
 * run just before, and the two 'ours' came level (README, Benchmarks). A long-running service
 * is warm. Every system gets it: pg-boss thus starts each burst with 10,000 completed jobs in
 * its table (2,000 before), as a pg-boss that has run a while does.
 */
const WARM_UP_EVENTS = integerSetting(process.env.BENCH_DELIVERY_WARM_UP, 1_000);
/** The warm-up of runs before 8782d65: `methodChanged` is null when a run uses it again. */
const EARLIER_WARM_UP_EVENTS = 200;
/** Our sender threads: the default (DELIVERY_THREADS, by the machine's cores). */
const OUR_THREADS = loadConfig({}).delivery.threads;
/**
 * The other way of sending, run beside ours for comparison, not judged: from the main loop
 * (`oursOneLoop`) when the default uses threads, else from one sender thread (`oursOneThread`).
 */
const COMPARED_THREADS = OUR_THREADS === 0 ? 1 : 0;
const COMPARED = COMPARED_THREADS === 0 ? 'oursOneLoop' : 'oursOneThread';

/** The peers, in the order they run after ours. */
const PEERS = {
  pgBoss: (serverUrl: string, receiver: BenchReceiver) =>
    startPgBoss(serverUrl, receiver, SUBSCRIPTIONS),
  graphileWorker: (serverUrl: string, receiver: BenchReceiver) =>
    startGraphileWorker(serverUrl, receiver, SUBSCRIPTIONS),
  bullMq: (_serverUrl: string, receiver: BenchReceiver) => startBullMq(receiver, SUBSCRIPTIONS),
};
type PeerName = keyof typeof PEERS;
const PEER_NAMES = Object.keys(PEERS) as PeerName[];

function burstSizes(text: string | undefined): number[] {
  if (!text) return DEFAULT_BURSTS;
  const sizes = text.split(',').map((size) => Number(size.trim()));
  if (sizes.some((size) => !Number.isInteger(size) || size < 1))
    throw new Error(`BENCH_DELIVERY_BURSTS: positive integers separated by commas, not ${text}`);
  return sizes;
}

/** Waits until `expected` receipts came, at most `capMs`; resolves with how many came. */
async function waitForReceipts(receiver: BenchReceiver, expected: number, capMs: number) {
  const start = Date.now();
  let received = await receiver.count();
  while (received < expected && Date.now() - start < capMs) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    received = await receiver.count();
  }
  return received;
}

function summarize(
  startMs: number,
  publishedMs: number,
  acceptedAt: Map<string, number>,
  taken: { receipts: Receipt[]; duplicates: number; bodyBytes: number },
) {
  const latencies: number[] = [];
  let lastReceipt = startMs;
  let delivered = 0;
  for (const r of taken.receipts) {
    const at = acceptedAt.get(r.eventId);
    if (at === undefined) continue;
    delivered++;
    latencies.push(r.at - at);
    lastReceipt = Math.max(lastReceipt, r.at);
  }
  const expected = acceptedAt.size * SUBSCRIPTIONS;
  return {
    eventsAccepted: acceptedAt.size,
    publishEventsPerSecond: Math.round(acceptedAt.size / ((publishedMs - startMs) / 1000)),
    deliveriesExpected: expected,
    deliveriesReceived: delivered,
    duplicatesReceived: taken.duplicates,
    allDelivered: delivered === expected,
    deliveriesPerSecond: Math.round(delivered / ((lastReceipt - startMs) / 1000)),
    secondsToLastReceipt: round((lastReceipt - startMs) / 1000, 2),
    averageBodyBytes: Math.round(taken.bodyBytes / Math.max(1, taken.receipts.length)),
    latencyMs: distribution(latencies),
  };
}
type PhaseResult = ReturnType<typeof summarize>;

async function runPhase(system: System, receiver: BenchReceiver, prefix: string, load: Load) {
  await receiver.take();
  const published = await system.publisher.run(prefix, load);
  const acceptedAt = new Map(published.accepted);
  await waitForReceipts(receiver, acceptedAt.size * SUBSCRIPTIONS, WAIT_CAP_MS);
  return summarize(published.startMs, published.endMs, acceptedAt, await receiver.take());
}

const throughputPhase = (system: System, receiver: BenchReceiver, tag: string, events: number) =>
  runPhase(system, receiver, `dlv-${tag}-burst-`, {
    mode: 'burst',
    total: events,
    concurrency: PRODUCERS,
  });

async function pacedPhase(system: System, receiver: BenchReceiver, tag: string, rate: number) {
  const { deliveriesPerSecond: _, ...rest } = await runPhase(
    system,
    receiver,
    `dlv-${tag}-paced-`,
    {
      mode: 'paced',
      total: Math.round(rate * PACED_SECONDS),
      rate,
    },
  );
  return { offeredEventsPerSecond: rate, seconds: PACED_SECONDS, ...rest };
}

/** This service, with 10 webhook subscriptions on the receiver, sending from `threads` threads. */
async function startOurs(
  serverUrl: string,
  receiver: BenchReceiver,
  threads: number,
): Promise<System> {
  const bench = await createBenchDatabase(serverUrl);
  const { delivery } = localConfig();
  const { app, url } = await startBenchService(bench.db, { delivery: { ...delivery, threads } });
  let publisher: Publisher | undefined;
  const close = async () => {
    await publisher?.close();
    await app.close();
    await bench.drop();
  };
  try {
    await postJson(url, '/v1/event-definitions', bookingDefinition());
    for (let k = 0; k < SUBSCRIPTIONS; k++) {
      await postJson(url, '/v1/subscriptions', {
        event_pattern: 'bookings.created',
        subscriber: { id: `bench-${k}`, type: 'webhook', endpoint: `${receiver.url}/hook/${k}` },
        description: `bench subscription ${k}`,
      });
    }
    publisher = await startPublisher({ kind: 'http', url, connections: PRODUCERS });
    return { publisher, close };
  } catch (error) {
    await close();
    throw error;
  }
}

type Systems = { ours: System; compared: System } & Record<PeerName, System>;

/** Every system, started on fresh databases and warmed up (connections, caches, JIT). */
async function startSystems(serverUrl: string, receiver: BenchReceiver) {
  const started: Array<[string, System]> = [];
  const close = async () => {
    for (const [, system] of started.reverse()) await system.close();
  };
  try {
    started.push(['ours', await startOurs(serverUrl, receiver, OUR_THREADS)]);
    started.push(['compared', await startOurs(serverUrl, receiver, COMPARED_THREADS)]);
    for (const name of PEER_NAMES) started.push([name, await PEERS[name](serverUrl, receiver)]);
    for (const [name, system] of started) {
      await receiver.take();
      await system.publisher.run(`dlv-${name}-warm-`, {
        mode: 'burst',
        total: WARM_UP_EVENTS,
        concurrency: PRODUCERS,
      });
      // A warm-up cut short would leave its stragglers to arrive in the next system's phases.
      const expected = WARM_UP_EVENTS * SUBSCRIPTIONS;
      const received = await waitForReceipts(receiver, expected, WAIT_CAP_MS);
      if (received < expected)
        throw new Error(
          `${name}'s warm-up: ${received} of ${expected} receipts in ${WAIT_CAP_MS} ms`,
        );
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { systems: Object.fromEntries(started) as Systems, close };
}

/** One burst size: every system's throughput, and ours / each peer's with the goal at this size. */
async function burst(systems: Systems, receiver: BenchReceiver, events: number) {
  const ours = await throughputPhase(systems.ours, receiver, `ours-${events}`, events);
  const compared = await throughputPhase(systems.compared, receiver, `cmp-${events}`, events);
  const peers = {} as Record<PeerName, PhaseResult>;
  for (const name of PEER_NAMES)
    peers[name] = await throughputPhase(systems[name], receiver, `${name}-${events}`, events);
  const ratios = Object.fromEntries(
    PEER_NAMES.map((name) => [
      name,
      round(ours.deliveriesPerSecond / peers[name].deliveriesPerSecond, 2),
    ]),
  ) as Record<PeerName, number>;
  const goal = GOALS.get(events);
  return {
    events,
    ours,
    compared,
    ...peers,
    ratios,
    oursToCompared: round(ours.deliveriesPerSecond / compared.deliveriesPerSecond, 2),
    goal: goal === undefined ? null : `ours / each peer >= ${goal}`,
    goalMet: goal === undefined ? null : PEER_NAMES.every((name) => ratios[name] >= goal),
  };
}
type BurstResult = Awaited<ReturnType<typeof burst>>;

/** Open loop for every system at half the slowest one's capacity in the largest burst. */
async function pacedPhases(systems: Systems, receiver: BenchReceiver, largest: BurstResult) {
  const slowest = Math.min(
    largest.ours.deliveriesPerSecond,
    ...PEER_NAMES.map((name) => largest[name].deliveriesPerSecond),
  );
  const rate = Math.max(1, Math.min(PACED_MAX_RATE, Math.floor((slowest * 0.5) / SUBSCRIPTIONS)));
  const paced: Record<string, Awaited<ReturnType<typeof pacedPhase>>> = {
    ours: await pacedPhase(systems.ours, receiver, 'ours', rate),
  };
  for (const name of PEER_NAMES)
    paced[name] = await pacedPhase(systems[name], receiver, name, rate);
  return paced;
}

/** The judgement across sizes: null unless every size the goal names ran. */
function judge(bursts: BurstResult[]) {
  const judged = bursts.filter((b) => b.goalMet !== null);
  const complete = [...GOALS.keys()].every((events) => judged.some((b) => b.events === events));
  return complete ? judged.every((b) => b.goalMet) : null;
}

export async function benchDelivery(serverUrl: string | undefined) {
  if (!serverUrl) return { name: 'delivery', skipped: 'DATABASE_URL is not set' };
  const receiver = await startReceiverWorker();
  try {
    const bursts: BurstResult[] = [];
    let paced: Awaited<ReturnType<typeof pacedPhases>> | undefined;
    for (const events of BURSTS) {
      const { systems, close } = await startSystems(serverUrl, receiver);
      try {
        const result = await burst(systems, receiver, events);
        bursts.push(result);
        if (events === BURSTS.at(-1)) paced = await pacedPhases(systems, receiver, result);
      } finally {
        await close();
      }
    }
    const largest = bursts.at(-1);
    if (!largest) throw new Error('no burst sizes');
    const config = loadConfig({});
    return {
      name: 'delivery',
      backend: 'postgres',
      bursts: BURSTS,
      smoke: BURSTS.join() !== DEFAULT_BURSTS.join(),
      subscriptionsPerEvent: SUBSCRIPTIONS,
      producers: PRODUCERS,
      warmUpEventsPerSystem: WARM_UP_EVENTS,
      methodChanged:
        WARM_UP_EVENTS === EARLIER_WARM_UP_EVENTS
          ? null
          : `each system warmed up with ${WARM_UP_EVENTS} events, not the earlier ${EARLIER_WARM_UP_EVENTS} (BENCH_DELIVERY_WARM_UP=${EARLIER_WARM_UP_EVENTS} runs the earlier method); the default became 1,000 because with 200 the system measured first (ours) was still warming up (see WARM_UP_EVENTS in bench/delivery.ts)`,
      settings: {
        ours: {
          routing: config.routing,
          deliveryThreads: OUR_THREADS,
          inFlightBudget: IN_FLIGHT,
          pooledConnections: 10,
          wakeUps: 'on new events',
        },
        pgBoss: PGBOSS,
        graphileWorker: GRAPHILE,
        bullMq: BULLMQ,
      },
      ratioByBurst: bursts.map((b) => ({
        events: b.events,
        deliveriesPerSecond: Object.fromEntries(
          (['ours', 'compared', ...PEER_NAMES] as const).map((name) => [
            name === 'compared' ? COMPARED : name,
            b[name].deliveriesPerSecond,
          ]),
        ),
        ratios: b.ratios,
        [COMPARED === 'oursOneLoop' ? 'threadsToOneLoop' : 'oneLoopToThread']: b.oursToCompared,
        goal: b.goal,
        goalMet: b.goalMet,
      })),
      byBurst: bursts.map(({ compared, oursToCompared: _, ...b }) => ({
        ...b,
        [COMPARED]: compared,
      })),
      paced,
      goal: 'at each burst size, ours / each peer deliveries per second >= 1.2 at 1,000 events, >= 1.5 at 2,000 and 5,000',
      goalMet: judge(bursts),
      judgementChanged:
        'issue 13: the goal is judged at every burst size and against every peer, not only in the largest burst against pg-boss; the smallest burst is where one event loop capped delivery (0.82-0.90x pg-boss)',
      earlierView: {
        goal: 'ours / pg-boss deliveries per second >= 1.5, in the largest burst',
        events: largest.events,
        ratioOursToPgBoss: largest.ratios.pgBoss,
        goalMet: largest.ratios.pgBoss >= 1.5,
      },
    };
  } finally {
    await receiver.close();
  }
}
