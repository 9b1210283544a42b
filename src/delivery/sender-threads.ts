import { performance } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { startTypeScriptWorker } from '../typescript-worker.ts';
import type { EgressOptions } from './egress.ts';
import type { AttemptOutcome, DeliveryRequest, Sender } from './senders.ts';

/**
 * Webhook attempts sent from worker threads, so that one event loop does not both run the
 * service (ingest, claims, the delivery log) and send every webhook: building, signing and
 * sending a request and reading its answer (undici) was most of the main loop's time per
 * delivery. The main thread keeps everything with state — claims, the circuit breaker, retries,
 * dead letters, the delivery log — and hands each thread only the attempt, a pure
 * {@link DeliveryRequest}; the thread answers with its {@link AttemptOutcome}, exactly what the
 * main-thread sender would have returned. How many attempts are in flight is still bounded by
 * the worker pool's lanes (ROUTING_CONCURRENCY), whichever thread sends them.
 *
 * Each thread connects through an egress-guarded dispatcher of its own, made by
 * `createEgressDispatcher` from the app's egress policy: the same check on every connection.
 *
 * Threads start on the first webhook attempt (a service without webhook subscribers starts
 * none). A thread that stops unexpectedly fails its attempts in flight as retryable `failed`
 * outcomes — a receiver may have got one, and the retry carries the same `webhook-id` — and the
 * next attempt starts a new thread. Requests and outcomes cross in batches, one message per
 * turn of the sending loop, not one per attempt.
 */
export interface WebhookThreadsOptions {
  /** Threads to send from, at least 1 (0 means sending from the main loop: no threads). */
  threads: number;
  /** The egress policy each thread's dispatcher enforces (the app's). */
  egress: Pick<EgressOptions, 'allowlist'>;
  /** Stamps `webhook-timestamp` (passed to the threads with each batch). */
  clock: Clock;
  logger: Logger;
}

export interface WebhookThreads {
  send: Sender;
  /** Stops the threads; call once no attempt is in flight (after the workers stopped). */
  close(): Promise<void>;
}

/** What a sender thread is started with. */
export interface SenderThreadData {
  role: 'webhook-sender';
  egress: Pick<EgressOptions, 'allowlist'>;
}

/** A batch of attempts for a thread, with the main clock's time. */
export interface ToThread {
  nowMs: number;
  requests: Array<[id: number, request: DeliveryRequest]>;
}

export type FromThread =
  | { type: 'ready' }
  | { type: 'outcomes'; outcomes: Array<[id: number, outcome: AttemptOutcome]> };

export function startWebhookThreads(options: WebhookThreadsOptions): WebhookThreads {
  if (options.threads < 1) throw new Error('webhook threads: at least one thread');
  const threads = Array.from({ length: options.threads }, () => new SenderThread(options));
  let nextId = 0;
  return {
    send(request) {
      // The least busy thread: attempts are alike, so this keeps the threads evenly loaded.
      let chosen = threads[0]!;
      for (const thread of threads) if (thread.inFlight < chosen.inFlight) chosen = thread;
      return chosen.send(nextId++, request);
    },
    async close() {
      await Promise.all(threads.map((thread) => thread.close()));
    },
  };
}

const THREAD_MODULE = new URL('./sender-thread.ts', import.meta.url).href;

interface Pending {
  resolve(outcome: AttemptOutcome): void;
  started: number;
}

/** One sender thread, started on its first attempt and again after it stopped. */
class SenderThread {
  private worker: Worker | undefined;
  private ready = false;
  private queued: ToThread['requests'] = [];
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly options: WebhookThreadsOptions) {}

  get inFlight(): number {
    return this.pending.size;
  }

  send(id: number, request: DeliveryRequest): Promise<AttemptOutcome> {
    const worker = this.worker ?? this.start();
    // An idle thread does not keep the process alive; one with attempts in flight does.
    if (this.pending.size === 0) worker.ref();
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, started: performance.now() });
      if (this.queued.length === 0 && this.ready) setImmediate(() => this.flush());
      this.queued.push([id, request]);
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }

  private flush(): void {
    if (!this.worker || !this.ready || this.queued.length === 0) return;
    const batch: ToThread = { nowMs: this.options.clock.now().getTime(), requests: this.queued };
    this.queued = [];
    this.worker.postMessage(batch);
  }

  private start(): Worker {
    const data: SenderThreadData = { role: 'webhook-sender', egress: this.options.egress };
    const worker = startTypeScriptWorker(THREAD_MODULE, { workerData: data });
    this.worker = worker;
    this.ready = false;
    worker.on('message', (message: FromThread) => {
      if (message.type === 'ready') {
        this.ready = true;
        this.flush();
        return;
      }
      for (const [id, outcome] of message.outcomes) {
        this.pending.get(id)?.resolve(outcome);
        this.pending.delete(id);
      }
      if (this.pending.size === 0) worker.unref();
    });
    worker.on('error', (error) =>
      this.options.logger.error({ err: error }, 'webhook sender thread failed'),
    );
    worker.on('exit', (code) => this.stopped(worker, code));
    return worker;
  }

  /** The thread is gone: its attempts in flight failed (retryable); the next send starts one. */
  private stopped(worker: Worker, code: number): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.ready = false;
    this.queued = [];
    const error = `the webhook sender thread stopped (exit code ${code}) before the attempt's outcome was known`;
    for (const { resolve, started } of this.pending.values())
      resolve({ kind: 'failed', error, latencyMs: Math.round(performance.now() - started) });
    this.pending.clear();
  }
}
