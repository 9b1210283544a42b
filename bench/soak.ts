import { randomUUID } from 'node:crypto';
import type { Database } from '../src/db/database.ts';
import { openDefinition } from '../src/testing/fixtures.ts';
import { freePort } from '../src/testing/free-port.ts';
import { startReceiver } from '../src/testing/receiver.ts';
import { type ServiceProcess, startService } from '../src/testing/service-process.ts';
import { currentLoadAverage } from './results-file.ts';
import { benchServiceEnv, measureOnEachBackend, type ServiceBackend } from './service-backends.ts';
import { distribution, round } from './stats.ts';
import { postJson } from './support.ts';

/**
 * `npm run soak`: the real service (`src/main.ts`, a child process) under mixed publish load —
 * single POSTs and batches from several publishers — with webhook subscriptions and START
 * triggers, SIGKILLed and restarted at random moments; on PGlite (a data folder of its own) and,
 * when DATABASE_URL names a server, on PostgreSQL (a database of its own on it). Once routing has
 * drained it counts, per backend: acknowledged events, lost ones (acknowledged, not readable by
 * GET /v1/events/{id}), duplicated ones (a workflow started twice for one event and trigger, a
 * webhook received under two webhook-ids for one event and subscription), undelivered ones,
 * restart times (kill → /readyz 200), acknowledgement latency and throughput. Writes
 * bench/results/<timestamp>-soak.json; exits 1 when anything was lost or duplicated.
 *
 * SOAK_SECONDS (default 120): load per backend, counted while the service is up; SOAK_KILLS
 * (default 5): SIGKILLs at random moments of it; SOAK_PUBLISHERS (default 6) concurrent
 * publishers; SOAK_DRAIN_SECONDS (default 300): how long routing may take afterwards.
 *
 * A publisher that gets no answer (the service was killed) or a 503 sends the same request again
 * (same eventIds) until it is answered, as a client should: an event is acknowledged by a 202
 * (batch: `accepted`) or by a 200 `duplicate` (stored by an answer the publisher never got).
 */
const SECONDS = Number(process.env.SOAK_SECONDS ?? 120);
const KILLS = Number(process.env.SOAK_KILLS ?? 5);
const PUBLISHERS = Number(process.env.SOAK_PUBLISHERS ?? 6);
/** Share of requests that are batches, and a batch's largest size (sizes 2..max, uniform). */
const BATCH_SHARE = 0.3;
const BATCH_MAX = 50;
/** How long routing may take to finish after the load stops. */
const DRAIN_SECONDS = Number(process.env.SOAK_DRAIN_SECONDS ?? 300);
const PATTERN = 'soak.event';
const SUBSCRIPTIONS = ['/hook-a', '/hook-b'];
const TRIGGERS = 2;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The service, restarted after every kill on the same port; `url` answers while it is up. */
class Service {
  private process: ServiceProcess | undefined;
  /** Per restart: kill → /readyz 200, and kill → listening (the rest is the first readiness probe). */
  readonly restartMs: number[] = [];
  readonly listeningMs: number[] = [];
  readonly url: string;

  constructor(
    private readonly env: Record<string, string>,
    port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  async start(onListening = () => {}): Promise<void> {
    this.process = await startService(this.env, 180_000);
    onListening();
    while ((await fetch(`${this.url}/readyz`).catch(() => undefined))?.status !== 200)
      await sleep(50);
  }

  async killAndRestart(): Promise<void> {
    const killedAt = performance.now();
    await this.process!.stop('SIGKILL');
    await this.start(() => this.listeningMs.push(performance.now() - killedAt));
    this.restartMs.push(performance.now() - killedAt);
  }

  /** Milliseconds since `start` the service was up (restarts left out). */
  upSince(start: number): number {
    return performance.now() - start - this.restartMs.reduce((sum, ms) => sum + ms, 0);
  }

  async stop(): Promise<void> {
    const code = await this.process!.stop('SIGTERM');
    if (code !== 0) throw new Error(`the service stopped with ${code}:\n${this.output()}`);
  }

  output = () => this.process?.output() ?? '';
}

/** Publishers posting until stopped; every request is repeated until it is answered. */
function startPublishers(url: string) {
  const acked = new Set<string>();
  const singleLatencyMs: number[] = [];
  const batchLatencyMs: number[] = [];
  const unanswered = { noAnswer: 0, unavailable: 0 };
  const refusals: string[] = [];
  let running = true;

  /** Sends `body` until answered; the answer's status and body. */
  const send = async (path: string, body: unknown, latencies: number[]) => {
    for (;;) {
      const started = performance.now();
      try {
        const response = await fetch(`${url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
        const answer = (await response.json()) as any;
        if (response.status !== 503) {
          if (response.status < 300) latencies.push(performance.now() - started);
          return { status: response.status, answer };
        }
        unanswered.unavailable += 1;
      } catch {
        unanswered.noAnswer += 1;
      }
      await sleep(100);
    }
  };

  const publisher = async (p: number) => {
    let n = 0;
    while (running) {
      const event = () => ({ eventId: randomUUID(), pattern: PATTERN, payload: { p, n: n++ } });
      if (Math.random() < BATCH_SHARE) {
        const events = Array.from(
          { length: 2 + Math.floor(Math.random() * (BATCH_MAX - 1)) },
          event,
        );
        const { status, answer } = await send('/v1/events/batch', { events }, batchLatencyMs);
        if (status !== 200) refusals.push(`batch: ${status} ${JSON.stringify(answer)}`);
        else
          for (const result of answer.results as Array<{ eventId: string; status: string }>) {
            if (result.status === 'rejected')
              refusals.push(`batch item: ${JSON.stringify(result)}`);
            else acked.add(result.eventId);
          }
      } else {
        const single = event();
        const { status, answer } = await send('/v1/events', single, singleLatencyMs);
        if (status === 202 || (status === 200 && answer.status === 'duplicate'))
          acked.add(single.eventId);
        else refusals.push(`single: ${status} ${JSON.stringify(answer)}`);
      }
    }
  };
  const publishers = Array.from({ length: PUBLISHERS }, (_, p) => publisher(p));
  return {
    acked,
    singleLatencyMs,
    batchLatencyMs,
    unanswered,
    refusals,
    stop: async () => {
      running = false;
      await Promise.all(publishers);
    },
  };
}

/** Workflow instances of `definitionId` the API counts. */
async function instanceCount(url: string, definitionId: string): Promise<number> {
  const query = new URLSearchParams({ workflowDefinitionId: definitionId, limit: '1' });
  const response = await fetch(`${url}/v1/workflow-instances?${query}`);
  return ((await response.json()) as { pagination: { total: number } }).pagination.total;
}

/** The acknowledged events GET /v1/events/{id} does not find (8 reads in flight). */
async function unreadable(url: string, eventIds: string[]): Promise<string[]> {
  const lost: string[] = [];
  let next = 0;
  const reader = async () => {
    while (next < eventIds.length) {
      const id = eventIds[next++]!;
      const response = await fetch(`${url}/v1/events/${id}`);
      await response.arrayBuffer();
      if (response.status === 404) lost.push(id);
      else if (response.status !== 200) throw new Error(`GET /v1/events/${id}: ${response.status}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, reader));
  return lost;
}

/** Per (event, trigger): how many workflow instances started, from the store. */
async function workflowStarts(db: Database, definitionId: string) {
  const { rows } = await db.query<{ event_id: string; trigger_id: string; n: number }>(
    `SELECT trigger_event_id AS event_id, trigger_id, count(*)::int AS n FROM workflow_instances
      WHERE workflow_definition_id = $1 GROUP BY trigger_event_id, trigger_id`,
    [definitionId],
  );
  const open = await db.query<{ kind: string; status: string; n: number }>(
    `SELECT kind, status, count(*)::int AS n FROM routing_work WHERE status <> 'done' GROUP BY kind, status`,
  );
  return { pairs: rows, unfinishedWork: open.rows };
}

async function soak(backend: ServiceBackend) {
  const loadAverageAtStart = currentLoadAverage();
  // Every webhook: the webhook-ids each (subscription, event) arrived under.
  const webhookIds = new Map<string, Set<string>>();
  const receiver = await startReceiver((request, path) => {
    const key = `${path} ${JSON.parse(request.body).eventId}`;
    const ids = webhookIds.get(key) ?? new Set<string>();
    ids.add(String(request.headers['webhook-id']));
    webhookIds.set(key, ids);
  });
  // Every restart binds the same port, as a deployment would.
  const port = await freePort();
  const service = new Service(
    {
      ...benchServiceEnv(backend, port),
      EGRESS_ALLOWLIST: '127.0.0.1',
      // Work leased by a killed process is taken over after this (default 90 s).
      ROUTING_LEASE_MS: '5000',
    },
    port,
  );
  try {
    console.error(`${backend.name}: starting`);
    await service.start();
    const { url } = service;
    await postJson(url, '/v1/event-definitions', openDefinition(PATTERN));
    for (const path of SUBSCRIPTIONS)
      await postJson(url, '/v1/subscriptions', {
        event_pattern: PATTERN,
        subscriber: {
          id: `soak${path.replace('/', '-')}`,
          type: 'webhook',
          endpoint: `${receiver.url}${path}`,
        },
      });
    const workflowId = String(
      (await postJson(url, '/v1/workflow-definitions', { name: 'soak' })).id,
    );
    for (let priority = 0; priority < TRIGGERS; priority++)
      await postJson(url, '/v1/workflow-triggers', {
        workflowDefinitionId: workflowId,
        eventPattern: PATTERN,
        triggerType: 'START',
        priority,
      });

    console.error(`${backend.name}: ${SECONDS} s of load, ${KILLS} kills`);
    const loadStarted = performance.now();
    const publishers = startPublishers(url);
    // Kill moments are drawn over the time up, so every restart is followed by load however
    // long restarts take on a busy machine.
    const killAt = Array.from(
      { length: KILLS },
      () => (0.05 + 0.9 * Math.random()) * SECONDS * 1000,
    ).sort((a, b) => a - b);
    for (const at of killAt) {
      await sleep(at - service.upSince(loadStarted));
      await service.killAndRestart();
      console.error(
        `${backend.name}: killed and restarted in ${round(service.restartMs.at(-1)!)} ms`,
      );
    }
    await sleep(SECONDS * 1000 - service.upSince(loadStarted));
    await publishers.stop();
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    const upSeconds = service.upSince(loadStarted) / 1000;
    const acked = [...publishers.acked];

    console.error(`${backend.name}: ${acked.length} events acknowledged; waiting for routing`);
    const drainStarted = performance.now();
    const undeliveredWebhooks = () =>
      SUBSCRIPTIONS.flatMap((path) => acked.filter((id) => !webhookIds.has(`${path} ${id}`)));
    let previousCount = -1;
    for (;;) {
      const count = await instanceCount(url, workflowId);
      const settled = count >= acked.length * TRIGGERS && count === previousCount;
      if (settled && undeliveredWebhooks().length === 0) break;
      if (performance.now() - drainStarted > DRAIN_SECONDS * 1000) break;
      previousCount = count;
      await sleep(2000);
    }
    const drainSeconds = (performance.now() - drainStarted) / 1000;
    const lost = await unreadable(url, acked);
    await service.stop();

    const db = await backend.open();
    const starts = await workflowStarts(db, workflowId).finally(() => db.close());
    const startsPerEvent = new Map<string, number>();
    for (const { event_id, n } of starts.pairs)
      startsPerEvent.set(event_id, (startsPerEvent.get(event_id) ?? 0) + Math.min(n, 1));
    const duplicatedStarts = starts.pairs.filter((pair) => pair.n > 1);
    const duplicatedWebhooks = [...webhookIds].filter(([, ids]) => ids.size > 1);
    const undelivered = undeliveredWebhooks();

    return {
      backend: backend.name,
      seconds: round(loadSeconds),
      secondsUp: round(upSeconds),
      publishers: PUBLISHERS,
      kills: service.restartMs.length,
      loadAverageAtStart,
      loadAverageAtEnd: currentLoadAverage(),
      acked: acked.length,
      ackedPerSecond: round(acked.length / loadSeconds),
      // Restarts included above; here only the time the service was up.
      ackedPerSecondWhileUp: round(acked.length / upSeconds),
      lost: lost.length,
      duplicated: {
        workflowStarts: duplicatedStarts.length,
        webhooks: duplicatedWebhooks.length,
      },
      undelivered: {
        workflowStarts: acked.reduce(
          (sum, id) => sum + TRIGGERS - (startsPerEvent.get(id) ?? 0),
          0,
        ),
        webhooks: undelivered.length,
      },
      unfinishedRoutingWork: starts.unfinishedWork,
      retried: publishers.unanswered,
      refused: publishers.refusals.length,
      restartMs: distribution(service.restartMs),
      restartToListeningMs: distribution(service.listeningMs),
      singlePostLatencyMs: distribution(publishers.singleLatencyMs),
      batchLatencyMs: distribution(publishers.batchLatencyMs),
      drainSeconds: round(drainSeconds),
      examples: {
        lost: lost.slice(0, 5),
        duplicatedStarts: duplicatedStarts.slice(0, 5),
        duplicatedWebhooks: duplicatedWebhooks.slice(0, 5).map(([key, ids]) => [key, [...ids]]),
        undeliveredWebhooks: undelivered.slice(0, 5),
        refusals: publishers.refusals.slice(0, 5),
      },
    };
  } catch (error) {
    console.error(`${backend.name}: the service said:\n${service.output().slice(-5000)}`);
    throw error;
  } finally {
    await receiver.close();
  }
}

const results = await measureOnEachBackend('-soak', async (backend) => {
  const result = { name: 'soak', ...(await soak(backend)) };
  console.error(JSON.stringify(result));
  return result;
});
const failed = results.some(
  (r) => r.lost > 0 || r.duplicated.workflowStarts > 0 || r.duplicated.webhooks > 0,
);
process.exit(failed ? 1 : 0);
