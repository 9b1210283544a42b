import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { bookingDefinition } from '../src/testing/fixtures.ts';
import { backendCpu, backendCpuUsed, procCpuMicros } from './cpu-time.ts';
import { startPublisher } from './publisher.ts';
import { distribution, round } from './stats.ts';
import { createBenchDatabase, postJson, startBenchService } from './support.ts';

/**
 * Issue 4's end-to-end trigger benchmark, against PostgreSQL (DATABASE_URL; skipped when unset).
 *
 * Setup: the service in process (startBenchService, default configuration: routing batch
 * ROUTING_BATCH_SIZE, 2 rounds in flight, 16 lanes, 10 pooled connections), the booking event definition, one `builtin` workflow
 * definition and 5 enabled START triggers that all match `bookings.created` (patterns
 * `bookings.created`, `bookings.*`, `**.created`, `bookings.**`, `**`; no condition, default
 * input mapping), so every event must become 5 workflow_instances rows.
 *
 * Load: open loop — single-event `POST /v1/events` sent on a fixed schedule (1,000/s for 10 s)
 * over an undici Pool of 32 connections, from a publisher worker thread (bench/publisher.ts, so
 * the load does not take turns with the service on its event loop), whatever the answers' pace (requests beyond 32 in
 * flight wait in the client's queue; that wait counts in the POST latency reported). For each
 * event the bench records the wall-clock time its 202 arrived.
 *
 * Latency 202 → instance row, measured two ways that bracket the truth:
 * - `observed` (the headline): a separate `pg` connection polls workflow_instances every 50 ms
 *   (`created_at >= now - margin`, margin ≥ 250 ms and ≥ 2× the largest commit lag seen; rows
 *   already seen are skipped by id) and stamps each new row with the time its poll was issued.
 *   A row is visible to that poll's snapshot, so the stamp is at most one poll interval after
 *   its commit: an upper bound (+0–50 ms, ~25 ms on average). Every poll re-reads the rows of
 *   its margin: polling every 20 ms took about a quarter of a PostgreSQL core under load
 *   (pg_stat_statements), which the system under test then lacked; every 50 ms costs less than
 *   half of that, for a coarser (never smaller) upper bound.
 * - `createdAt`: the row's `created_at`, stamped by the service clock just before the INSERT
 *   (the service and the bench share the machine's clock; both use Date.now()). The commit comes
 *   after it, so this is a lower bound.
 * Reported per instance (each of the 5 rows of an event against that event's 202) and per event
 * (the last of its 5 rows). After the load stops the bench waits (at most 15 s) for the rest of
 * the firings; the distributions hold only rows that exist by then, so when `allFired` is false
 * they are censored and understate the real latency (the missing rows would be the slowest).
 * The goal is met when all 10,000 events were accepted at ≥ 95% of the offered rate, every
 * firing happened, and the per-instance observed p99 is under 250 ms.
 *
 * When the goal is missed, a second run, on a fresh database and service (so the first run's
 * backlog does not weigh on it), offers 10 s at 80% of the firing capacity measured while the
 * backlog drained (÷ 5 triggers): the estimate of the highest sustainable rate, with `keptUp`
 * saying whether it held (all fired, and ≤ 250 ms worth of firings waiting when the load stopped).
 *
 * CPU time of each phase, from its first send to the end of its drain (`cpu`): the PostgreSQL
 * backends of the bench database but the poller's (/proc/<pid>/stat; PostgreSQL on this
 * machine), this process (`process.cpuUsage`: the service, the poller and the publisher thread)
 * and its main thread alone (/proc/self/task/<pid>/stat: the service's event loop and the
 * poller), per accepted event and per firing. At 1,000 events/s the service and PostgreSQL use
 * about 1.6 of 2 cores whatever the change (at 500/s too, with nearly twice the CPU per event):
 * the writer commits and the workers claim as soon as they can, so CPU freed in one place goes
 * to smaller, more frequent commits and rounds, and CPU per event moves between the process and
 * PostgreSQL rather than down (A/B pairs of eeaf5b6 and 5d68fe7: process −30 µs, PostgreSQL
 * +20 to +26 µs with the same statements). Judge a change by latency and by the two together.
 *
 * Caveats: the publisher thread, the poller, the service and PostgreSQL share the machine's 2
 * cores; a 202 is stamped when the publisher thread reads it, which a busy thread delays (that
 * shortens the measured latencies a little).
 */
const RATE = 1_000;
const DURATION_S = 10;
const CONNECTIONS = 32;
const TRIGGER_PATTERNS = ['bookings.created', 'bookings.*', '**.created', 'bookings.**', '**'];
const POLL_MS = 50;
const MIN_MARGIN_MS = 250;
const MAX_MARGIN_MS = 3_000;
const DRAIN_CAP_MS = 15_000;
const SECOND_PHASE_DRAIN_CAP_MS = 20_000;
const WARMUP_RATE = 50;

interface Seen {
  eventId: string;
  createdMs: number;
  observedMs: number;
}

/** Polls workflow_instances for new rows on its own connection, stamping their arrival. */
class InstancePoller {
  readonly seen = new Map<string, Seen>();
  maxLagMs = 0;
  polls = 0;
  rowsRead = 0;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly client: pg.Client) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const issued = Date.now();
      await this.pollOnce(issued);
      const wait = issued + POLL_MS - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  private async pollOnce(issued: number): Promise<void> {
    const margin = Math.min(MAX_MARGIN_MS, Math.max(MIN_MARGIN_MS, 2 * this.maxLagMs));
    const { rows } = await this.client.query<{ id: string; e: string; c: number }>(
      `SELECT id::text AS id, trigger_event_id AS e, (extract(epoch FROM created_at) * 1000)::float8 AS c
         FROM workflow_instances WHERE created_at >= $1::timestamp`,
      [new Date(issued - margin).toISOString().slice(0, -1)],
    );
    this.polls++;
    this.rowsRead += rows.length;
    for (const row of rows) {
      if (this.seen.has(row.id)) continue;
      this.seen.set(row.id, { eventId: row.e, createdMs: row.c, observedMs: issued });
      this.maxLagMs = Math.max(this.maxLagMs, issued - row.c);
    }
  }

  /** Rows the polls never saw (committed later than the margin allowed for), stamped by created_at only. */
  async reconcile(): Promise<number> {
    const { rows } = await this.client.query<{ id: string; e: string; c: number }>(
      `SELECT id::text AS id, trigger_event_id AS e, (extract(epoch FROM created_at) * 1000)::float8 AS c
         FROM workflow_instances`,
    );
    let missed = 0;
    for (const row of rows) {
      if (this.seen.has(row.id)) continue;
      missed++;
      this.seen.set(row.id, { eventId: row.e, createdMs: row.c, observedMs: Number.NaN });
    }
    return missed;
  }
}

type Rig = Awaited<ReturnType<typeof startRig>>;

/** A fresh database, the service, the definitions and triggers, the poller. */
async function startRig(serverUrl: string) {
  const bench = await createBenchDatabase(serverUrl);
  const { app, url } = await startBenchService(bench.db);
  const publisher = await startPublisher({ kind: 'http', url, connections: CONNECTIONS });
  // No sequential scans on the poller's connection: the database is new, its tables have no
  // statistics before autovacuum's first analysis (a minute away by default; never where
  // autovacuum is off, as on the 2-core EPYC these runs use), and without them PostgreSQL
  // read the whole of workflow_instances on every poll (50,000 rows by the end of a phase;
  // pg_stat_statements: 2.4-3.7 s of PostgreSQL time in a 10 s phase) instead of the rows of
  // its margin through workflow_instances_time_idx, CPU the system under test then lacked.
  const pollClient = new pg.Client({
    connectionString: bench.url,
    options: '-c TimeZone=UTC -c enable_seqscan=off',
  });
  await pollClient.connect();
  const poller = new InstancePoller(pollClient);
  const runId = randomBytes(3).toString('hex');
  let phases = 0;
  const close = async () => {
    await poller.stop();
    await pollClient.end();
    await publisher.close();
    await app.close();
    await bench.drop();
  };

  const post = (path: string, body: unknown) => postJson(url, path, body);
  const instancesOf = (eventIds: Set<string>) => {
    let n = 0;
    for (const s of poller.seen.values()) if (eventIds.has(s.eventId)) n++;
    return n;
  };

  /** One phase: `rate` events/s for `durationS`, then drain; statistics of that phase's events. */
  const phase = async (rate: number, durationS: number, drainCapMs: number) => {
    const total = Math.round(rate * durationS);
    const prefix = `e2e-${runId}-p${++phases}-`;
    const cpuAt = async () => {
      const { user, system } = process.cpuUsage();
      return {
        at: Date.now(),
        process: user + system,
        main: procCpuMicros(`self/task/${process.pid}`),
        backends: await backendCpu(pollClient),
      };
    };
    const cpuStart = await cpuAt();
    const published = await publisher.run(prefix, { mode: 'paced', total, rate });
    const { startMs, endMs: sendEndMs, refused, inFlightAtLastSchedule } = published;
    const acceptedAt = new Map(published.accepted);
    const postLatencies = published.latenciesMs;
    const accepted = new Set(acceptedAt.keys());
    const expected = accepted.size * TRIGGER_PATTERNS.length;
    const atLoadEnd = instancesOf(accepted);
    const { rows: pendingRows } = await pollClient.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM routing_work WHERE status IN ('pending', 'running')",
    );
    // Drain: wait (bounded) until the database holds every firing of the accepted events, give
    // the poller two more rounds, then pick up any row its window missed (stamped by created_at).
    const stored = async () =>
      (
        await pollClient.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM workflow_instances WHERE trigger_event_id LIKE $1',
          [`${prefix}%`],
        )
      ).rows[0]!.n;
    let drainEndMs = Date.now();
    while ((await stored()) < expected && Date.now() - sendEndMs < drainCapMs) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      drainEndMs = Date.now();
    }
    const cpuEnd = await cpuAt();
    await new Promise((resolve) => setTimeout(resolve, 3 * POLL_MS));
    const missedByPoller = await poller.reconcile();
    const finalCount = instancesOf(accepted);

    const perInstanceObserved: number[] = [];
    const perInstanceCreated: number[] = [];
    const lastByEvent = new Map<string, { observed: number; created: number; n: number }>();
    const arrivals: number[] = [];
    for (const s of poller.seen.values()) {
      const at = acceptedAt.get(s.eventId);
      if (at === undefined) continue;
      arrivals.push(s.observedMs);
      perInstanceObserved.push(s.observedMs - at);
      perInstanceCreated.push(s.createdMs - at);
      const last = lastByEvent.get(s.eventId) ?? { observed: 0, created: 0, n: 0 };
      lastByEvent.set(s.eventId, {
        observed: Math.max(last.observed, s.observedMs - at),
        created: Math.max(last.created, s.createdMs - at),
        n: last.n + 1,
      });
    }
    const complete = [...lastByEvent.values()].filter((l) => l.n === TRIGGER_PATTERNS.length);
    // Firings per second of wall clock, from the first scheduled send.
    const timeline: number[] = [];
    for (const a of arrivals) {
      const second = Math.floor((a - startMs) / 1000);
      if (second >= 0) timeline[second] = (timeline[second] ?? 0) + 1;
    }
    const inLoadWindow = arrivals.filter((a) => a <= sendEndMs).length;
    const drainSeconds = (drainEndMs - sendEndMs) / 1000;
    const drained = finalCount - atLoadEnd;
    const cpuPer = (units: number) => ({
      databaseUs: round(backendCpuUsed(cpuStart.backends, cpuEnd.backends) / units, 1),
      processUs: round((cpuEnd.process - cpuStart.process) / units, 1),
      mainThreadUs: round((cpuEnd.main - cpuStart.main) / units, 1),
    });
    return {
      offeredEventsPerSecond: rate,
      durationSeconds: durationS,
      eventsSent: total,
      eventsAccepted: accepted.size,
      notAccepted: refused,
      achievedEventsPerSecond: Math.round(accepted.size / ((sendEndMs - startMs) / 1000)),
      postLatencyFromScheduleMs: distribution(postLatencies),
      requestsInFlightWhenLastWasScheduled: inFlightAtLastSchedule,
      expectedInstances: expected,
      instancesWhenLoadStopped: atLoadEnd,
      backlogWhenLoadStopped: {
        firingsNotYetStarted: expected - atLoadEnd,
        routingWorkPendingOrRunning: pendingRows[0]!.n,
      },
      firingsPerSecondDuringLoad: Math.round(inLoadWindow / ((sendEndMs - startMs) / 1000)),
      firingsPerSecondWhileDraining: drainSeconds > 0.2 ? Math.round(drained / drainSeconds) : null,
      drainSeconds: round(drainSeconds, 2),
      instancesAtEnd: finalCount,
      allFired: finalCount === expected,
      // Kept up: every firing happened, and when the load stopped no more than 250 ms worth of
      // firings were still waiting.
      keptUp:
        finalCount === expected &&
        expected - atLoadEnd <=
          Math.max(TRIGGER_PATTERNS.length, rate * TRIGGER_PATTERNS.length * 0.25),
      firingsPerSecondTimeline: Array.from(timeline, (n) => n ?? 0),
      latencyMs: {
        perInstanceObserved: distribution(perInstanceObserved.filter((v) => !Number.isNaN(v))),
        perInstanceCreatedAt: distribution(perInstanceCreated),
        perEventLastInstanceObserved: distribution(
          complete.map((l) => l.observed).filter((v) => !Number.isNaN(v)),
        ),
        perEventLastInstanceCreatedAt: distribution(complete.map((l) => l.created)),
      },
      rowsMissedByPollerWindow: missedByPoller,
      cpu: {
        seconds: round((cpuEnd.at - cpuStart.at) / 1000, 2),
        perEvent: cpuPer(Math.max(1, accepted.size)),
        perFiring: cpuPer(Math.max(1, finalCount)),
      },
    };
  };

  try {
    await post('/v1/event-definitions', bookingDefinition());
    const definition = await post('/v1/workflow-definitions', {
      name: `bench-e2e-${runId}`,
      executor: 'builtin',
    });
    for (const [i, eventPattern] of TRIGGER_PATTERNS.entries()) {
      await post('/v1/workflow-triggers', {
        workflowDefinitionId: definition.id,
        eventPattern,
        triggerType: 'START',
        priority: i,
        description: `bench trigger ${i}`,
      });
    }
    poller.start();
    // Warm-up: connections, caches, JIT; its events are not counted.
    await phase(WARMUP_RATE, 1, 10_000);
  } catch (error) {
    await close();
    throw error;
  }
  return { phase, poller, close };
}

export async function benchTriggersE2e(serverUrl: string | undefined) {
  if (!serverUrl) return { name: 'triggers-e2e', skipped: 'DATABASE_URL is not set' };
  const onFreshRig = async <T>(fn: (rig: Rig) => Promise<T>) => {
    const rig = await startRig(serverUrl);
    try {
      return { result: await fn(rig), poller: rig.poller };
    } finally {
      await rig.close();
    }
  };

  const { result: main, poller } = await onFreshRig((rig) =>
    rig.phase(RATE, DURATION_S, DRAIN_CAP_MS),
  );
  const p99 = main.latencyMs.perInstanceObserved?.p99 ?? Number.POSITIVE_INFINITY;
  const goalMet =
    main.eventsAccepted === main.eventsSent &&
    main.achievedEventsPerSecond >= RATE * 0.95 &&
    main.allFired &&
    p99 < 250;

  // Missed: measure again, on a fresh database, at 80% of the firing capacity seen while the
  // backlog drained (÷ 5 triggers), so the backlog of the first run does not weigh on it.
  let sustained: typeof main | undefined;
  if (!goalMet) {
    const capacity = main.firingsPerSecondWhileDraining ?? main.firingsPerSecondDuringLoad;
    const rate = Math.max(
      5,
      Math.min(RATE, Math.floor((capacity * 0.8) / TRIGGER_PATTERNS.length)),
    );
    ({ result: sustained } = await onFreshRig((rig) =>
      rig.phase(rate, DURATION_S, SECOND_PHASE_DRAIN_CAP_MS),
    ));
  }
  return {
    name: 'triggers-e2e',
    backend: 'postgres',
    triggersPerEvent: TRIGGER_PATTERNS.length,
    triggerPatterns: TRIGGER_PATTERNS,
    executor: 'builtin',
    routing: loadConfig({}).routing,
    connections: CONNECTIONS,
    pollIntervalMs: POLL_MS,
    poller: {
      polls: poller.polls,
      rowsRead: poller.rowsRead,
      maxCommitLagSeenMs: poller.maxLagMs,
    },
    latencyNote:
      'observed = first 50 ms poll that saw the row (upper bound, +0-50 ms); createdAt = service clock before the INSERT (lower bound); perEventLastInstance = the last of the 5 rows of an event; only instances that exist by the end of the drain are in the distributions',
    cpuNote:
      'cpu = from the first send to the end of the drain: databaseUs = PostgreSQL backends of the bench database but the poller (/proc/<pid>/stat), processUs = this process (service, poller, publisher thread), mainThreadUs = its main thread (service event loop and poller); per accepted event and per firing (instance row)',
    methodChanged:
      "since bbb3f91 the poller's connection runs with enable_seqscan=off: without statistics each poll had read the whole of workflow_instances (CPU taken from the system under test); what the poller stamps is unchanged, and runs before it stay on file",
    main,
    goal: 'p99 202 -> instance row < 250 ms at 1,000 events/s (per instance, observed), every event accepted and fired',
    goalMet,
    ...(sustained
      ? {
          sustainedRateCheck: {
            why: 'goal missed at 1,000 events/s: a fresh run at 80% of the firing capacity measured while draining, / 5 triggers',
            ...sustained,
          },
        }
      : {}),
  };
}
