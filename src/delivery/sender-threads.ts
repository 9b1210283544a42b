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
 * main-thread sender would have returned.
 *
 * The threads bound the attempts in flight themselves ({@link WebhookThreadsOptions.inFlight},
 * ROUTING_CONCURRENCY, split between them): each queues what it is handed and starts the next
 * attempt the moment one of its own ends. Bounded by the worker pool's lanes instead, an
 * attempt's slot was held until its outcome had crossed back to the main loop and the next
 * attempt had crossed over: with 16 in flight, each slot was held ~1.5 ms for ~0.8 ms of HTTP
 * (bench/delivery-cost.ts, 2-core Intel Xeon, 2026-12-05), so the receiver saw half the
 * requests in flight it was allowed and deliveries were capped by the hops, not by the CPU
 * (about two thirds of the two cores busy). The budget is the same: requests in flight to
 * receivers, at most ROUTING_CONCURRENCY (the delivery handler gives these attempts no lane).
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
  /**
   * Threads to send from, at least 1 (0 means sending from the main loop: no threads); at
   * most `inFlight` are started (each needs one attempt in flight at least).
   */
  threads: number;
  /**
   * Attempts in flight at once across the threads (ROUTING_CONCURRENCY), split between them as
   * evenly as it divides; more are queued in the thread they were handed to.
   */
  inFlight: number;
  /** The egress policy each thread's dispatcher enforces (the app's). */
  egress: Pick<EgressOptions, 'allowlist'>;
  /** Stamps `webhook-timestamp` (passed to the threads with each batch). */
  clock: Clock;
  logger: Logger;
}

export interface WebhookThreads {
  /** Bounds its attempts in flight itself (`limitsInFlight`): see the module comment. */
  send: Sender;
  /** Stops the threads; call once no attempt is in flight (after the workers stopped). */
  close(): Promise<void>;
}

/** What a sender thread is started with. */
export interface SenderThreadData {
  role: 'webhook-sender';
  egress: Pick<EgressOptions, 'allowlist'>;
  /** This thread's share of the attempts in flight. */
  inFlight: number;
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
  if (options.inFlight < 1) throw new Error('webhook threads: at least one attempt in flight');
  const count = Math.min(options.threads, options.inFlight);
  const threads = Array.from(
    { length: count },
    (_, k) =>
      new SenderThread(
        options,
        Math.floor(options.inFlight / count) + (k < options.inFlight % count ? 1 : 0),
      ),
  );
  let nextId = 0;
  const send: Sender = (request) => {
    // The least busy thread for its share (queued attempts count): attempts are alike, so
    // this keeps the threads evenly loaded.
    let chosen = threads[0]!;
    for (const thread of threads) if (thread.load < chosen.load) chosen = thread;
    return chosen.send(nextId++, request);
  };
  return {
    send: Object.assign(send, { limitsInFlight: true as const }),
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

  constructor(
    private readonly options: WebhookThreadsOptions,
    /** This thread's share of the attempts in flight. */
    private readonly inFlight: number,
  ) {}

  /** Attempts handed to this thread and not yet answered, per attempt it may have in flight. */
  get load(): number {
    return this.pending.size / this.inFlight;
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
    const data: SenderThreadData = {
      role: 'webhook-sender',
      egress: this.options.egress,
      inFlight: this.inFlight,
    };
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
