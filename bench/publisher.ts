import { parentPort, workerData } from 'node:worker_threads';
import { Queue } from 'bullmq';
import { Logger as GraphileLogger, makeWorkerUtils } from 'graphile-worker';
import PgBoss from 'pg-boss';
import { Pool } from 'undici';
import { bookingEvent } from '../src/testing/fixtures.ts';
import { startTypeScriptWorker } from '../src/typescript-worker.ts';
import { openLoop, runConcurrently } from './support.ts';

/**
 * The event publishers of the delivery and trigger benchmarks, in a worker thread of their own:
 * building and sending events is the load, not the system under test, so it does not take
 * turns with the service (or with pg-boss's workers) on the main event loop. Both systems get
 * the same treatment. It is still the same machine: publishers, systems, receiver and
 * PostgreSQL share its 2 cores.
 *
 * Targets: `http` POSTs single events to the service (accepted = its 202); `waits` registers
 * waits instead (POST /v1/waits, accepted = its 201), the key `${prefix}${i}` being the wait's
 * correlation key, which the event of that id resolves (its correlationId defaults to its id);
 * the peers add an event's jobs, one per subscription, in one call with a client of their own
 * (accepted = the call resolving): `pgboss` inserts into a pg-boss queue and tells the main
 * thread, which wakes its workers; `graphile` calls graphile-worker's `addJobs` (its workers
 * are woken by its own NOTIFY); `bullmq` calls BullMQ's `addBulk`.
 * Acceptance is stamped with `Date.now()`, the clock the receiver and the pollers use.
 */
export type PublisherTarget =
  | { kind: 'http'; url: string; connections: number }
  | { kind: 'waits'; url: string; connections: number; pattern: string; notifyUrl: string }
  | { kind: 'pgboss'; connectionString: string; queue: string; jobsPerEvent: number; pool: number }
  | {
      kind: 'graphile';
      connectionString: string;
      jobsPerEvent: number;
      maxAttempts: number;
      pool: number;
    }
  | {
      kind: 'bullmq';
      redis: { host: string; port: number };
      prefix: string;
      queue: string;
      jobsPerEvent: number;
      attempts: number;
    };

export type Load =
  /** Closed loop: `total` events from `concurrency` publishers, each waiting for its answer. */
  | { mode: 'burst'; total: number; concurrency: number }
  /** Open loop: `total` events at `rate` per second, whatever the answers' pace. */
  | { mode: 'paced'; total: number; rate: number };

export interface LoadResult {
  /** eventId → when its acceptance arrived. */
  accepted: Array<[string, number]>;
  /** Count per HTTP status or error name of the events not accepted. */
  refused: Record<string, number>;
  /** Per event: its answer's time minus its scheduled time (open loop) or its send time. */
  latenciesMs: number[];
  startMs: number;
  /** When the last answer arrived. */
  endMs: number;
  /** Requests still unanswered when the last one was scheduled (open loop). */
  inFlightAtLastSchedule: number;
}

export interface Publisher {
  /** Publishes events `${prefix}${i}`, i = 0..total-1. */
  run(prefix: string, load: Load): Promise<LoadResult>;
  close(): Promise<void>;
}

type Request = { type: 'run'; prefix: string; load: Load } | { type: 'close' };
type Reply =
  | { type: 'ready' }
  | { type: 'result'; result: LoadResult }
  | { type: 'published' }
  | { type: 'closed' }
  | { type: 'failed'; message: string };

/** Starts the publisher thread; `onPublished` runs on the main thread after each accepted event. */
export async function startPublisher(
  target: PublisherTarget,
  onPublished: () => void = () => {},
): Promise<Publisher> {
  const worker = startTypeScriptWorker(import.meta.url, { workerData: { publisher: target } });
  let waiting: { resolve: (reply: Reply) => void; reject: (error: Error) => void } | undefined;
  const failed = (error: Error) => {
    waiting?.reject(error);
    waiting = undefined;
  };
  worker.on('message', (reply: Reply) => {
    if (reply.type === 'published') onPublished();
    else if (reply.type === 'failed') failed(new Error(`publisher: ${reply.message}`));
    else {
      waiting?.resolve(reply);
      waiting = undefined;
    }
  });
  worker.on('error', failed);
  const next = () =>
    new Promise<Reply>((resolve, reject) => {
      waiting = { resolve, reject };
    });
  await next();
  return {
    async run(prefix, load) {
      const reply = next();
      worker.postMessage({ type: 'run', prefix, load } satisfies Request);
      const answer = await reply;
      if (answer.type !== 'result') throw new Error(`publisher answered ${answer.type}`);
      return answer.result;
    },
    async close() {
      const reply = next();
      worker.postMessage({ type: 'close' } satisfies Request);
      await reply;
      await worker.terminate();
    },
  };
}

/** The job body pg-boss carries: the event as the service would deliver it. */
function deliveryBody(eventId: string): string {
  const event = bookingEvent();
  return JSON.stringify({
    eventId,
    pattern: event.pattern,
    version: '1.0.0',
    source: event.source,
    timestamp: new Date().toISOString(),
    payload: event.payload,
    metadata: { correlationId: eventId, tags: {} },
  });
}

/** Publishes one event; resolves to 'accepted' or why not. */
type Send = (eventId: string) => Promise<'accepted' | string>;

type Connection = { send: Send; close(): Promise<void> };

async function connect(target: PublisherTarget): Promise<Connection> {
  switch (target.kind) {
    case 'http':
      return postEach(target, '/v1/events', 202, (eventId) => ({ ...bookingEvent(), eventId }));
    case 'waits':
      return postEach(target, '/v1/waits', 201, (correlationKey) => ({
        pattern: target.pattern,
        correlationKey,
        timeout: 'PT1H',
        notify: { url: target.notifyUrl },
      }));
    case 'pgboss':
      return connectPgBoss(target);
    case 'graphile':
      return connectGraphile(target);
    case 'bullmq':
      return connectBullMq(target);
  }
}

/** POSTs one JSON body per key to `path` of the service; accepted when it answers `accepted`. */
function postEach(
  target: { url: string; connections: number },
  path: string,
  accepted: number,
  body: (key: string) => unknown,
): Connection {
  const http = new Pool(target.url, { connections: target.connections, pipelining: 1 });
  return {
    send: async (key) => {
      const response = await http.request({
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body(key)),
      });
      await response.body.dump();
      return response.statusCode === accepted ? 'accepted' : String(response.statusCode);
    },
    close: () => http.close(),
  };
}

async function connectPgBoss(
  target: Extract<PublisherTarget, { kind: 'pgboss' }>,
): Promise<Connection> {
  const boss = new PgBoss({
    connectionString: target.connectionString,
    max: target.pool,
    schedule: false,
    supervise: false,
    migrate: false,
    application_name: 'bench-pgboss-publisher',
  });
  boss.on('error', () => {});
  await boss.start();
  return {
    send: async (eventId) => {
      const body = deliveryBody(eventId);
      await boss.insert(
        Array.from({ length: target.jobsPerEvent }, (_, k) => ({
          name: target.queue,
          data: { k, body },
        })),
      );
      parentPort!.postMessage({ type: 'published' } satisfies Reply);
      return 'accepted';
    },
    close: () => boss.stop({ graceful: false, wait: true }),
  };
}

async function connectGraphile(
  target: Extract<PublisherTarget, { kind: 'graphile' }>,
): Promise<Connection> {
  const utils = await makeWorkerUtils({
    connectionString: target.connectionString,
    maxPoolSize: target.pool,
    logger: new GraphileLogger(() => () => {}),
  });
  return {
    send: async (eventId) => {
      const body = deliveryBody(eventId);
      await utils.addJobs(
        Array.from({ length: target.jobsPerEvent }, (_, k) => ({
          identifier: 'deliver',
          payload: { k, body },
          maxAttempts: target.maxAttempts,
        })),
      );
      return 'accepted';
    },
    close: async () => {
      await utils.release();
    },
  };
}

async function connectBullMq(
  target: Extract<PublisherTarget, { kind: 'bullmq' }>,
): Promise<Connection> {
  const queue = new Queue(target.queue, {
    connection: { ...target.redis, maxRetriesPerRequest: null },
    prefix: target.prefix,
  });
  await queue.waitUntilReady();
  const opts = {
    attempts: target.attempts,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: true,
  };
  return {
    send: async (eventId) => {
      const body = deliveryBody(eventId);
      await queue.addBulk(
        Array.from({ length: target.jobsPerEvent }, (_, k) => ({
          name: 'deliver',
          data: { k, body },
          opts,
        })),
      );
      return 'accepted';
    },
    close: () => queue.close(),
  };
}

async function runLoad(send: Send, prefix: string, load: Load): Promise<LoadResult> {
  const accepted: Array<[string, number]> = [];
  const refused: Record<string, number> = {};
  const latenciesMs: number[] = [];
  const publish = async (i: number, since: number) => {
    const eventId = `${prefix}${i}`;
    const outcome = await send(eventId).catch((error: Error) => error.name);
    const at = Date.now();
    latenciesMs.push(at - since);
    if (outcome === 'accepted') accepted.push([eventId, at]);
    else refused[outcome] = (refused[outcome] ?? 0) + 1;
  };
  if (load.mode === 'burst') {
    const startMs = Date.now();
    await runConcurrently(load.total, load.concurrency, (i) => publish(i, Date.now()));
    return {
      accepted,
      refused,
      latenciesMs,
      startMs,
      endMs: Date.now(),
      inFlightAtLastSchedule: 0,
    };
  }
  const pending = new Set<Promise<void>>();
  const { startMs } = await openLoop(load.total, load.rate, (i, scheduled) => {
    const done: Promise<void> = publish(i, scheduled).finally(() => pending.delete(done));
    pending.add(done);
  });
  const inFlightAtLastSchedule = pending.size;
  await Promise.all(pending);
  return { accepted, refused, latenciesMs, startMs, endMs: Date.now(), inFlightAtLastSchedule };
}

async function serve(target: PublisherTarget): Promise<void> {
  const port = parentPort!;
  const connection = await connect(target);
  port.on('message', (request: Request) => {
    if (request.type === 'close') {
      void connection.close().finally(() => port.postMessage({ type: 'closed' } satisfies Reply));
      return;
    }
    runLoad(connection.send, request.prefix, request.load).then(
      (result) => port.postMessage({ type: 'result', result } satisfies Reply),
      (error: Error) =>
        port.postMessage({ type: 'failed', message: error.message } satisfies Reply),
    );
  });
  port.postMessage({ type: 'ready' } satisfies Reply);
}

const publisherTarget = (workerData as { publisher?: PublisherTarget } | null)?.publisher;
if (parentPort && publisherTarget) {
  serve(publisherTarget).catch((error: Error) =>
    parentPort!.postMessage({ type: 'failed', message: error.message } satisfies Reply),
  );
}
