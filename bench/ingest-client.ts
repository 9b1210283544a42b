import { parentPort, Worker, workerData } from 'node:worker_threads';
import { Pool } from 'undici';
import { v7 as uuidv7 } from 'uuid';
import { bookingEvent } from '../src/testing/fixtures.ts';
import { runConcurrently } from './support.ts';

/**
 * The ingest benchmark's HTTP load generator, run in a worker thread of its own so building,
 * sending and reading requests does not take turns with the service on one event loop. It
 * is still the same machine: client, service and PostgreSQL share its cores.
 */
export interface ClientPhase {
  url: string;
  kind: 'batch' | 'single';
  /** Events sent in the phase, numbered 0..events-1. */
  events: number;
  /** Events per request of a batch phase. */
  batchSize?: number;
  connections: number;
}

/** The spec's booking event, numbered: each a distinct eventId and bookingId. */
export const benchEvent = (i: number) => ({
  ...bookingEvent({ payload: { ...bookingEvent().payload, bookingId: `bk_${i}` } }),
  eventId: `bench-${i}-${uuidv7()}`,
});

export interface PhaseResult {
  /** Each request's latency in ms. */
  latencies: number[];
  /** From the first request sent to the last answer read (the worker's start-up excluded). */
  elapsedMs: number;
}

/** Runs one phase in a fresh worker. */
export function runClientPhase(phase: ClientPhase): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    // Node 20 does not hand tsx's loader to worker threads: the worker registers it itself
    // and then loads this file.
    const source = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => tsx.tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`;
    const worker = new Worker(source, { eval: true, workerData: phase });
    worker.once('message', (result: PhaseResult) => resolve(result));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the ingest client exited with ${code}`));
    });
  });
}

async function run(phase: ClientPhase): Promise<PhaseResult> {
  const http = new Pool(phase.url, { connections: phase.connections, pipelining: 1 });
  const post = async (path: string, body: unknown) => {
    const response = await http.request({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    await response.body.dump();
    if (response.statusCode >= 300) throw new Error(`${path} answered ${response.statusCode}`);
  };
  const size = phase.batchSize ?? 500;
  const start = performance.now();
  try {
    const latencies =
      phase.kind === 'single'
        ? await runConcurrently(phase.events, phase.connections, (i) =>
            post('/v1/events', benchEvent(i)),
          )
        : await runConcurrently(phase.events / size, phase.connections, (r) =>
            post('/v1/events/batch', {
              events: Array.from({ length: size }, (_, i) => benchEvent(r * size + i)),
            }),
          );
    return { latencies, elapsedMs: performance.now() - start };
  } finally {
    await http.close();
  }
}

if (parentPort && (workerData as ClientPhase | undefined)?.kind) {
  const port = parentPort;
  run(workerData as ClientPhase).then(
    (result) => port.postMessage(result),
    (error) => {
      throw error;
    },
  );
}
