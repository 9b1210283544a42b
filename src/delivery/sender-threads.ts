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
 * ROUTING_CONCURRENCY, split between them): each holds more attempts than it may send (see
 * HELD_PER_SLOT) and starts the next the moment one of its own ends. Bounded by the worker
 * pool's lanes instead, an attempt's slot was held until its outcome had crossed back to the
 * main loop and the next attempt had crossed over: with 16 in flight, each slot was held
 * ~1.5 ms for ~0.8 ms of HTTP (bench/delivery-cost.ts, 2-core Intel Xeon, 2026-12-05), so the
 * receiver saw half the requests in flight it was allowed and deliveries were capped by the
 * hops, not by the CPU (about two thirds of the two cores busy). The budget is the same:
 * requests in flight to receivers, at most ROUTING_CONCURRENCY (the delivery handler gives a
 * healthy subscription's attempts no lane).
 *
 * Each thread connects through an egress-guarded dispatcher of its own, made by
 * `createEgressDispatcher` from the app's egress policy: the same check on every connection.
 *
 * Threads start on the first webhook attempt (a service without webhook subscribers starts
 * none). What a thread does not hold waits on the main side. A thread that stops unexpectedly
 * fails the attempts it held as retryable `failed` outcomes — a receiver may have got one, and
 * the retry carries the same `webhook-id` — and a new thread takes those still waiting (or the
 * next attempt starts one). Requests and outcomes cross in batches, one message per turn of the
 * sending loop, not one per attempt.
 */
export interface WebhookThreadsOptions {
  /**
   * Threads to send from, at least 1 (0 means sending from the main loop: no threads); at
   * most `inFlight` are started (each needs one attempt in flight at least).
   */
  threads: number;
  /**
   * Attempts in flight at once across the threads (ROUTING_CONCURRENCY), split between them as
   * evenly as it divides; more wait, in the thread up to what it may hold (HELD_PER_SLOT), the
   * rest on the main side.
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

/**
 * What a thread holds at once, the rest waiting on the main side: at most HELD_PER_SLOT attempts
 * per slot (request in flight), and at most HELD_BYTES of bodies in all (counted in string
 * length), though one attempt per slot always goes. Enough that the thread starts the next
 * request the moment one ends even while the main loop is busy for a while (starting a round of
 * 2,000 deliveries is one long turn): in A/B runs of `bench/delivery-cost.ts` (2026-12-05, Intel
 * Xeon, run alone so not kept as results files), 4 per slot (64 for 16 in flight) drained ~10%
 * slower than handing the thread whole rounds (10,724 / 10,775 against 11,862 deliveries/s),
 * 64 per slot as fast (12,078 against 11,710). Bounded, so that a thread does not hold all of
 * the rounds in flight (4,000 bodies of up to 1 MiB each, copied per subscription by
 * `postMessage`), and a thread that dies fails only what it held — most of which it had not
 * started: each still counts as a failed attempt (a receiver may have got the few it started).
 * Refilled when it holds half of its count or less (fewer, larger messages, each of which
 * wakes a loop); where the bytes limit it, after every batch of outcomes.
 */
const HELD_PER_SLOT = 64;
const HELD_BYTES = 32 * 2 ** 20;

/** One sender thread, started on its first attempt and again after it stopped. */
class SenderThread {
  private worker: Worker | undefined;
  private ready = false;
  private closing = false;
  private flushing = false;
  /** Attempts not yet handed to the thread, oldest first. */
  private waiting: ToThread['requests'] = [];
  /** Attempts handed to the thread and not answered (they may have been sent), by body size. */
  private readonly held = new Map<number, number>();
  private heldBytes = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly options: WebhookThreadsOptions,
    /** This thread's share of the attempts in flight. */
    private readonly inFlight: number,
  ) {}

  /** Attempts given to this thread and not yet answered, per attempt it may have in flight. */
  get load(): number {
    return this.pending.size / this.inFlight;
  }

  send(id: number, request: DeliveryRequest): Promise<AttemptOutcome> {
    const worker = this.worker ?? this.start();
    // An idle thread does not keep the process alive; one with attempts in flight does.
    if (this.pending.size === 0) worker.ref();
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, started: performance.now() });
      this.waiting.push([id, request]);
      // The attempts made in this turn go over together.
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => {
          this.flushing = false;
          this.flush();
        });
      }
    });
  }

  /** Stops the thread; attempts not answered fail (call once none is in flight). */
  async close(): Promise<void> {
    this.closing = true;
    try {
      await this.worker?.terminate();
    } finally {
      this.closing = false;
    }
  }

  /** Hands the thread the oldest waiting attempts, up to what it may hold. */
  private flush(): void {
    if (!this.worker || !this.ready) return;
    let count = 0;
    for (const [id, { body }] of this.waiting) {
      if (this.held.size >= HELD_PER_SLOT * this.inFlight) break;
      if (this.held.size >= this.inFlight && this.heldBytes + body.length > HELD_BYTES) break;
      this.held.set(id, body.length);
      this.heldBytes += body.length;
      count++;
    }
    if (count === 0) return;
    const requests = this.waiting.splice(0, count);
    this.worker.postMessage({
      nowMs: this.options.clock.now().getTime(),
      requests,
    } satisfies ToThread);
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
      if (message.type === 'ready') this.ready = true;
      else
        for (const [id, outcome] of message.outcomes) {
          this.pending.get(id)?.resolve(outcome);
          this.pending.delete(id);
          this.heldBytes -= this.held.get(id) ?? 0;
          this.held.delete(id);
        }
      // Refilled once it holds half of its count or less (see HELD_PER_SLOT).
      if (this.held.size <= (HELD_PER_SLOT * this.inFlight) / 2) this.flush();
      if (this.pending.size === 0) worker.unref();
    });
    worker.on('error', (error) =>
      this.options.logger.error({ err: error }, 'webhook sender thread failed'),
    );
    worker.on('exit', (code) => this.stopped(worker, code));
    return worker;
  }

  /**
   * The thread is gone: the attempts it held failed (retryable: it may have sent them); those
   * still waiting go to a new thread — unless the threads are being closed, or this one stopped
   * before it was ready (a thread that cannot start would be restarted in a loop): then they
   * fail too, and the next attempt starts a thread.
   */
  private stopped(worker: Worker, code: number): void {
    if (this.worker !== worker) return;
    const failAll = this.closing || !this.ready;
    this.worker = undefined;
    this.ready = false;
    const error = `the webhook sender thread stopped (exit code ${code}) before the attempt's outcome was known`;
    const failed = failAll ? [...this.pending.keys()] : [...this.held.keys()];
    for (const id of failed) {
      const attempt = this.pending.get(id);
      attempt?.resolve({
        kind: 'failed',
        error,
        latencyMs: Math.round(performance.now() - (attempt?.started ?? 0)),
      });
      this.pending.delete(id);
    }
    this.held.clear();
    this.heldBytes = 0;
    if (failAll) this.waiting = [];
    else if (this.waiting.length > 0) this.start().ref();
  }
}
