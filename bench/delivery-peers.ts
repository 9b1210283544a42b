import { createHmac, randomBytes } from 'node:crypto';
import { Worker as BullWorker, Queue } from 'bullmq';
import { Logger as GraphileLogger, run as runGraphileWorker } from 'graphile-worker';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { Pool } from 'undici';
import { type Publisher, startPublisher } from './publisher.ts';
import type { BenchReceiver } from './receiver-worker.ts';

/**
 * The peers of the delivery benchmark (bench/delivery.ts): job queues doing what the service's
 * webhook subscriptions do, one job per delivery, each POSTed to the same receiver with the
 * same Standard Webhooks headers (HMAC-SHA256 signature) the service sends, through an undici
 * Pool of {@link IN_FLIGHT} connections. Every peer gets the service's in-flight budget:
 * {@link IN_FLIGHT} requests at once (the service's ROUTING_CONCURRENCY), 5 attempts (the
 * service's default retry policy) and, where it uses PostgreSQL, a pool of 10 connections
 * (the service's). Their workers run on the bench's main thread; each publisher runs in a
 * thread of its own (bench/publisher.ts), as the service's does.
 */
export const IN_FLIGHT = 16;
const ATTEMPTS = 5;
const POOL = 10;

/** One system under test, with its publisher thread; `fanOut` jobs (deliveries) per event. */
export interface System {
  publisher: Publisher;
  close(): Promise<void>;
}

/** What a peer's job carries: the subscription index and the event as the service sends it. */
type Delivery = { k: number; body: string };

/**
 * pg-boss 10. pg-boss refuses a polling interval under 500 ms, so, to be fair, the bench wakes
 * its workers (`notifyWorker`) after every insert — as the service wakes its own workers on
 * new events — and a worker whose batch was full asks for the next one at once instead of
 * waiting out the interval. Of the layouts tried with 16 in flight (1 worker × batch
 * 50/100/200 × 16 lanes, 2 × 50 × 8, 4 × 25 × 4, 16 × 5 × 1), one worker fetching 100 jobs and
 * POSTing them from 16 lanes was the fastest, so that is its setting.
 */
export const PGBOSS = {
  version: '10',
  workers: 1,
  batchSize: 100,
  lanesPerWorker: IN_FLIGHT,
  pollingIntervalSeconds: 0.5,
  retryLimit: ATTEMPTS - 1,
  pool: POOL,
  inFlightBudget: IN_FLIGHT,
  wakeUps: 'notifyWorker after every insert, and after a full batch',
};

/**
 * graphile-worker 0.17: `concurrentJobs` = 16 jobs at once, LISTEN/NOTIFY wake-ups (its own),
 * and the batching its performance guide recommends for many short jobs: a local queue that
 * locks 100 jobs per fetch (as pg-boss's batch) and completions batched per turn
 * (`completeJobBatchDelay: 0`).
 */
export const GRAPHILE = {
  version: '0.17',
  concurrentJobs: IN_FLIGHT,
  maxPoolSize: POOL,
  localQueueSize: 100,
  completeJobBatchDelay: 0,
  maxAttempts: ATTEMPTS,
  inFlightBudget: IN_FLIGHT,
  wakeUps: 'LISTEN/NOTIFY (its own)',
};

/**
 * BullMQ 6 on the local Redis (127.0.0.1:6379), a queue under a prefix of its own, removed at
 * the end: one Worker with `concurrency` 16, completed jobs removed (the service deletes a
 * delivered work row too), exponential backoff from 1 s. Its durability is Redis's: an
 * accepted job survives a crash only as far as Redis's persistence settings say, where the
 * service's 202 comes after a PostgreSQL commit.
 */
export const BULLMQ = {
  version: '6',
  redis: '127.0.0.1:6379',
  concurrency: IN_FLIGHT,
  attempts: ATTEMPTS,
  removeOnComplete: true,
  inFlightBudget: IN_FLIGHT,
  wakeUps: 'blocking Redis commands (its own)',
};

const QUEUE = 'deliveries';

/** Signed webhook POSTs to the receiver, as the service sends them. */
function webhookPoster(receiverUrl: string, userAgent: string, fanOut: number) {
  const http = new Pool(receiverUrl, { connections: IN_FLIGHT, pipelining: 1 });
  const secrets = Array.from({ length: fanOut }, () => randomBytes(32));
  return {
    async post({ k, body }: Delivery, id: string): Promise<void> {
      const timestamp = Math.floor(Date.now() / 1000).toString();
      const signature = createHmac('sha256', secrets[k]!)
        .update(`${id}.${timestamp}.${body}`)
        .digest('base64');
      const response = await http.request({
        method: 'POST',
        path: `/hook/${k}`,
        headers: {
          'content-type': 'application/json',
          'user-agent': userAgent,
          'webhook-id': id,
          'webhook-timestamp': timestamp,
          'webhook-signature': `v1,${signature}`,
        },
        body,
        headersTimeout: 15_000,
        bodyTimeout: 15_000,
      });
      await response.body.dump();
      if (response.statusCode < 200 || response.statusCode >= 300)
        throw new Error(`the receiver answered ${response.statusCode}`);
    },
    close: () => http.close(),
  };
}

/** A database of its own on the server `serverUrl` names, dropped by `drop`. */
async function peerDatabase(serverUrl: string, tag: string) {
  const name = `eps_bench_${tag}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** Runs `close` when `start` throws, so a failed start leaves nothing behind. */
async function startOrClose<T>(close: () => Promise<void>, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
}

/** pg-boss on its own database: one job per delivery, workers POSTing to the receiver. */
export async function startPgBoss(
  serverUrl: string,
  receiver: BenchReceiver,
  fanOut: number,
): Promise<System> {
  const database = await peerDatabase(serverUrl, 'pgboss');
  const boss = new PgBoss({
    connectionString: database.url,
    max: PGBOSS.pool,
    schedule: false,
    application_name: 'bench-pgboss',
  });
  const onError = (error: Error) => console.error('pg-boss:', error.message);
  boss.on('error', onError);
  const poster = webhookPoster(receiver.url, 'bench-pgboss', fanOut);
  let publisher: Publisher | undefined;
  const close = async () => {
    await publisher?.close();
    await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
    // Its pool may still be ending when the database is dropped: that is not worth a message.
    boss.off('error', onError);
    boss.on('error', () => {});
    await poster.close();
    await database.drop();
  };
  return startOrClose(close, async () => {
    await boss.start();
    await boss.createQueue(QUEUE, {
      name: QUEUE,
      policy: 'standard',
      retryLimit: PGBOSS.retryLimit,
      retryDelay: 1,
      retryBackoff: true,
    });
    const workerIds: string[] = [];
    for (let w = 0; w < PGBOSS.workers; w++) {
      let id = '';
      id = await boss.work<Delivery>(
        QUEUE,
        { batchSize: PGBOSS.batchSize, pollingIntervalSeconds: PGBOSS.pollingIntervalSeconds },
        async (jobs) => {
          let next = 0;
          const lane = async () => {
            while (next < jobs.length) {
              const job = jobs[next++]!;
              await poster.post(job.data, job.id);
            }
          };
          await Promise.all(
            Array.from({ length: Math.min(PGBOSS.lanesPerWorker, jobs.length) }, lane),
          );
          // A full batch: more is likely waiting, so fetch again without the polling pause.
          if (jobs.length === PGBOSS.batchSize) boss.notifyWorker(id);
        },
      );
      workerIds.push(id);
    }
    publisher = await startPublisher(
      {
        kind: 'pgboss',
        connectionString: database.url,
        queue: QUEUE,
        jobsPerEvent: fanOut,
        pool: PGBOSS.pool,
      },
      () => {
        for (const id of workerIds) boss.notifyWorker(id);
      },
    );
    return { publisher, close };
  });
}

/** graphile-worker on its own database: one job per delivery. */
export async function startGraphileWorker(
  serverUrl: string,
  receiver: BenchReceiver,
  fanOut: number,
): Promise<System> {
  const database = await peerDatabase(serverUrl, 'graphile');
  const poster = webhookPoster(receiver.url, 'bench-graphile-worker', fanOut);
  // Our own pool rather than graphile-worker's: its runner does not wait for the pool it made to
  // end, and the forced DROP DATABASE then killed an idle client of it with no error listener,
  // which took the whole benchmark down (57P01). This one listens and is ended before the drop.
  const pool = new pg.Pool({ connectionString: database.url, max: GRAPHILE.maxPoolSize });
  pool.on('error', () => {});
  let runner: Awaited<ReturnType<typeof runGraphileWorker>> | undefined;
  let publisher: Publisher | undefined;
  const close = async () => {
    await publisher?.close();
    await runner?.stop();
    await pool.end();
    await poster.close();
    await database.drop();
  };
  return startOrClose(close, async () => {
    runner = await runGraphileWorker({
      pgPool: pool,
      concurrency: GRAPHILE.concurrentJobs,
      noHandleSignals: true,
      logger: new GraphileLogger(() => () => {}),
      taskList: {
        deliver: (payload, helpers) => poster.post(payload as Delivery, helpers.job.id),
      },
      preset: {
        worker: {
          localQueue: { size: GRAPHILE.localQueueSize },
          completeJobBatchDelay: GRAPHILE.completeJobBatchDelay,
        },
      },
    });
    publisher = await startPublisher({
      kind: 'graphile',
      connectionString: database.url,
      jobsPerEvent: fanOut,
      maxAttempts: GRAPHILE.maxAttempts,
      pool: GRAPHILE.maxPoolSize,
    });
    return { publisher, close };
  });
}

/** BullMQ on the local Redis, under a prefix of its own: one job per delivery. */
export async function startBullMq(receiver: BenchReceiver, fanOut: number): Promise<System> {
  const prefix = `eps-bench-${randomBytes(4).toString('hex')}`;
  const [host, port] = BULLMQ.redis.split(':') as [string, string];
  const connection = { host, port: Number(port), maxRetriesPerRequest: null };
  const poster = webhookPoster(receiver.url, 'bench-bullmq', fanOut);
  const queue = new Queue(QUEUE, { connection, prefix });
  let worker: BullWorker | undefined;
  let publisher: Publisher | undefined;
  const close = async () => {
    await publisher?.close();
    await worker?.close();
    await queue.obliterate({ force: true });
    await queue.close();
    await poster.close();
  };
  return startOrClose(close, async () => {
    await queue.waitUntilReady();
    worker = new BullWorker<Delivery>(QUEUE, (job) => poster.post(job.data, job.id ?? job.name), {
      connection,
      prefix,
      concurrency: BULLMQ.concurrency,
      removeOnComplete: { count: 0 },
    });
    worker.on('error', (error) => console.error('bullmq:', error.message));
    await worker.waitUntilReady();
    publisher = await startPublisher({
      kind: 'bullmq',
      redis: { host, port: Number(port) },
      prefix,
      queue: QUEUE,
      jobsPerEvent: fanOut,
      attempts: BULLMQ.attempts,
    });
    return { publisher, close };
  });
}
