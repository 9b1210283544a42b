import { randomUUID } from 'node:crypto';
import type { Attributes } from '@opentelemetry/api';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Logger } from 'pino';
import { Backoff } from '../backoff.ts';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { DatabaseUnavailable } from '../db/pg-errors.ts';
import { SpanAttributes, type Tracing } from '../observability/tracing.ts';
import type {
  ClaimedRow,
  ClaimedWork,
  EventlessWork,
  Lanes,
  OutcomeCounts,
  TargetKind,
  WorkHandler,
  WorkOutcome,
  WorkResult,
  WorkWaker,
} from './work.ts';
import { type Completion, claimWork, completeWork, renewLeases } from './work-store.ts';

export type { Completion };

/** Told every recorded attempt of a claim (metrics, flow rates). */
export type CompletionObserver = (
  work: ClaimedRow,
  completion: Completion,
  now: Date,
  /** What the outcome tells beyond its status, as its handler reads it. */
  counts: OutcomeCounts,
) => void;

export interface WorkerOptions {
  /**
   * Work rows claimed per round; an event's fan-out row (its deliveries in one row) is one row.
   * For trigger work, events: each head is claimed with its due triggers on top.
   * Env `ROUTING_BATCH_SIZE`, default 200.
   */
  batchSize: number;
  /**
   * Deliveries a round holds at most: a fan-out row weighs its deliveries, any other row one,
   * and a round's first row is claimed whatever its weight (a fan-out wider than this still
   * runs). With ten subscriptions per event, 200 fan-out rows are 2,000 deliveries; rounds that
   * large cost PostgreSQL half as much per delivery as rounds of 200 (the claim, the attempts'
   * insert and the recording are per round), and a round that outlasts its lease keeps it
   * (see `leaseMs`). Env `ROUTING_ROUND_DELIVERIES`, default 2,000.
   */
  roundDeliveries: number;
  /**
   * Rows processed at once, across the rounds in flight (for deliveries: requests in flight; a
   * handler whose sender holds that bound itself may run them outside the lanes, as the
   * webhook sender threads do). Env `ROUTING_CONCURRENCY`, default 16.
   */
  concurrency: number;
  /**
   * Rounds in flight at once: while one round's rows run, the next is claimed and the last
   * recorded, so the lanes do not wait for the database between rounds. Env `ROUTING_ROUNDS`,
   * default 2.
   */
  rounds: number;
  /** Pause between rounds when nothing was due, in ms. Env `ROUTING_POLL_INTERVAL_MS`, default 100. */
  pollIntervalMs: number;
  /**
   * How long a claim holds before another worker may take the row over, in ms: how soon the
   * rows of a worker that died are sent again. A round that runs longer (a slow endpoint, an
   * http workflow executor taking 60 s) renews its rows' leases every third of it, so a live
   * worker keeps its rows however long its round takes. Env `ROUTING_LEASE_MS`, default 90,000.
   */
  leaseMs: number;
}

/** Pauses of a worker loop after failed rounds (a database outage): 250 ms doubling to 5 s. */
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5000;

/**
 * Claims due routing work and hands each row to the handler of its kind. Several pools — in one
 * process or in several processes sharing PostgreSQL — share the work through SKIP LOCKED claims;
 * a pool that dies leaves leases that expire, and its rows are taken over.
 */
export class WorkerPool implements WorkWaker {
  private readonly handlers: Map<TargetKind, WorkHandler>;
  private readonly lanes: LimitFunction;
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly wakers = new Set<() => void>();
  /**
   * A wake-up that found no loop pausing: every loop was mid-round, and each may have claimed
   * before the new work was committed. The next pause returns at once instead of leaving that
   * work for a whole poll interval (a minute, where only notifications are meant to wake).
   */
  private wakeMissed = false;
  /**
   * Deliveries per claimed row in the last claim that found work: the next claim looks at about
   * `roundDeliveries` / this many rows (at most `batchSize`), so it neither locks rows it then
   * gives back (each row lock is a write to PostgreSQL) nor falls short of the round.
   */
  private deliveriesPerRow = 1;
  readonly workerId = randomUUID();
  /** This pool's commits notify with its id (see {@link WorkWaker.instanceTag}). */
  readonly instanceTag = this.workerId;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    handlers: WorkHandler[],
    private readonly options: WorkerOptions,
    private readonly logger: Logger,
    private readonly tracing: Tracing,
    /** Told every recorded attempt (metrics). */
    private readonly onRecorded: CompletionObserver = () => {},
  ) {
    this.handlers = new Map(handlers.map((h) => [h.kind, h]));
    this.lanes = pLimit(options.concurrency);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = Array.from({ length: this.options.rounds }, () => this.run());
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await Promise.all(this.loops);
  }

  /** New work exists: skip the rest of the idle pause, or the next one if no loop is pausing. */
  wake(): void {
    if (this.wakers.size === 0) this.wakeMissed = true;
    for (const wake of this.wakers) wake();
  }

  private async run(): Promise<void> {
    const backoff = new Backoff(FIRST_RETRY_MS, MAX_RETRY_MS);
    while (this.running) {
      let processed = 0;
      let pauseMs = this.options.pollIntervalMs;
      try {
        processed = await this.runOnce();
        backoff.succeeded();
      } catch (error) {
        pauseMs = Math.max(pauseMs, backoff.failed());
        // An outage is expected to end: a warning per retry (at most one per MAX_RETRY_MS).
        if (error instanceof DatabaseUnavailable)
          this.logger.warn(
            { err: error.cause, retryInMs: pauseMs },
            'routing paused: database unavailable',
          );
        else this.logger.error({ err: error, retryInMs: pauseMs }, 'routing round failed');
      }
      if (processed === 0 && this.running) await this.pause(pauseMs);
    }
  }

  /** Waits `ms`, or less when {@link wake} says new work exists (or said so during the round). */
  private pause(ms: number): Promise<void> {
    if (this.wakeMissed) {
      this.wakeMissed = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  /** One round: claim due rows, process them, record each attempt. Returns how many ran. */
  async runOnce(): Promise<number> {
    const { batchSize, roundDeliveries } = this.options;
    // From 1 to batchSize rows: a row holds one delivery at least.
    const claimed = await claimWork(
      this.db,
      this.workerId,
      this.clock.now(),
      this.options.leaseMs,
      roundDeliveries,
      Math.min(batchSize, Math.ceil(roundDeliveries / this.deliveriesPerRow)),
    );
    if (claimed.length === 0) return 0;
    const rows = [...new Set(claimed.map((w) => w.fanoutId ?? w.id))];
    // As the claim weighs rows: a fan-out row by its deliveries, a firings row as one.
    const weight = new Set(
      claimed.map((w) => (w.kind === 'delivery' ? w.id : (w.fanoutId ?? w.id))),
    );
    this.deliveriesPerRow = weight.size / rows.length;
    const renewal = this.keepLeases(rows);
    try {
      const byKind = new Map<TargetKind, ClaimedRow[]>();
      for (const work of claimed) {
        const ofKind = byKind.get(work.kind);
        if (ofKind) ofKind.push(work);
        else byKind.set(work.kind, [work]);
      }
      const done = await Promise.all(
        [...byKind].map(([kind, works]) => this.processKind(kind, works)),
      );
      await this.record(done.flat());
    } finally {
      clearInterval(renewal);
    }
    return claimed.length;
  }

  /**
   * Renews the leases of a round's rows every third of the lease while the round runs: a round
   * is as slow as its slowest lanes (2,000 deliveries over 16 lanes at a 15 s timeout would take
   * half an hour), and a lease that ran out would let another worker claim the rows and send
   * them again while this one still sends them. A round shorter than a third of the lease (the
   * common case) renews nothing. A renewal that fails (the database is away) is retried at the
   * next tick (one at a time); if the lease runs out meanwhile, the round's recording is
   * refused, as for a worker that died.
   */
  private keepLeases(rows: string[]): NodeJS.Timeout {
    const { leaseMs } = this.options;
    // One renewal at a time: while the database is away they would pile up on the pool.
    let renewing = false;
    const timer = setInterval(() => {
      if (renewing) return;
      renewing = true;
      const until = new Date(this.clock.now().getTime() + leaseMs);
      renewLeases(this.db, this.workerId, rows, until)
        .catch((error: unknown) =>
          this.logger.warn({ err: error, rows: rows.length }, 'routing leases not renewed'),
        )
        .finally(() => {
          renewing = false;
        });
    }, leaseMs / 3);
    timer.unref();
    return timer;
  }

  /** The handler of a kind gets the round's rows of that kind at once. */
  private async processKind(kind: TargetKind, works: ClaimedRow[]): Promise<Recorded[]> {
    const handler = this.handlers.get(kind);
    await handler?.prepare?.();
    // The rows are this round's own: each gets its span's context in place, not in a copy.
    const traced = works.map((work) => {
      const { span, context } = this.startSpan(work);
      work.trace = context;
      return { work, span };
    });
    const results = handler
      ? await this.attempt(handler, works)
      : works.map((w) => dead(`no handler for ${w.kind} work`));
    return traced.map(({ work, span }, i) => {
      const result = results[i] ?? dead('the handler returned no result');
      span.setAttribute('routing.outcome', OUTCOME_NAMES[result.kind]);
      span.end();
      const completion = this.completion(work, result, this.clock.now());
      // At the usual `warn` level the log object would be built per attempt for nothing.
      if (this.logger.isLevelEnabled('info')) {
        const { id: workId, eventId, targetId, attempts: attempt } = work;
        this.logger.info(
          { workId, kind, eventId, targetId, status: completion.status, attempt },
          'routing outcome',
        );
      }
      return { work, result, completion };
    });
  }

  /** One statement records the round (one commit, not one per row). */
  private async record(done: Recorded[]): Promise<void> {
    const now = this.clock.now();
    const recorded = await completeWork(
      this.db,
      this.workerId,
      done.map(({ work, completion }) => ({
        id: work.id,
        completion,
        ...(work.fanoutId === undefined ? {} : { fanout: heldIn(work, work.fanoutId) }),
      })),
      now,
    );
    // A fan-out row's lease is one lease: one warning for its deliveries, not one each.
    const lostFanouts = new Map<string, number>();
    for (const { work, result, completion } of done) {
      if (recorded.has(work.id)) {
        const handler = this.handlers.get(work.kind);
        this.onRecorded(work, completion, now, handler?.counts?.(completion.outcome) ?? NO_COUNTS);
        handler?.recorded?.(result);
      } else if (work.fanoutId !== undefined)
        lostFanouts.set(work.fanoutId, (lostFanouts.get(work.fanoutId) ?? 0) + 1);
      else this.leaseLost({ workId: work.id });
    }
    for (const [fanoutId, deliveries] of lostFanouts) this.leaseLost({ fanoutId, deliveries });
  }

  private leaseLost(work: { workId: string } | { fanoutId: string; deliveries: number }): void {
    this.logger.warn(work, 'routing work lease was lost before its result was recorded');
  }

  /**
   * A span per attempt, a child of the span that received the event (stored with it), so a
   * tracing backend draws the request, its firings and its deliveries as one tree, however much
   * later they run. An event stored without one (before the column existed) starts a trace.
   */
  private startSpan(work: ClaimedRow) {
    const parent = this.tracing.extract(
      work.receiveTraceparent ? { traceparent: work.receiveTraceparent } : {},
    );
    // Start attributes, so a sampler sees them; built only when spans are exported (without an
    // exporter, the common case, nothing reads them and the object was built per attempt).
    return this.tracing.startSpan(
      SPAN_NAMES[work.kind],
      parent,
      this.tracing.exporting ? { attributes: attemptAttributes(work) } : {},
    );
  }

  /**
   * The handler's results: work of an event to `handle`, work of none to `handleEventless`;
   * work whose event is gone never reaches it.
   */
  private async attempt(handler: WorkHandler, works: ClaimedRow[]): Promise<WorkResult[]> {
    const stored: ClaimedWork[] = [];
    const eventless: EventlessWork[] = [];
    for (const work of works) {
      if (work.eventId === null) eventless.push(work);
      else if (hasEvent(work)) stored.push(work);
    }
    const results = new Map<string, WorkResult>();
    const handleEventless = handler.handleEventless?.bind(handler);
    await Promise.all([
      this.handled(stored, (batch, lanes) => handler.handle(batch, lanes), results),
      handleEventless && this.handled(eventless, handleEventless, results),
    ]);
    return works.map(
      (w) => results.get(w.id) ?? (w.eventId === null ? NO_EVENTLESS_HANDLER : EVENT_GONE),
    );
  }

  /** Runs one handler call over `works` (when there are any), its results put in `into` by id. */
  private async handled<W extends ClaimedWork | EventlessWork>(
    works: W[],
    handle: (works: W[], lanes: Lanes) => Promise<WorkResult[]>,
    into: Map<string, WorkResult>,
  ): Promise<void> {
    if (works.length === 0) return;
    let results: WorkResult[];
    try {
      results = await handle(works, this.lanes);
    } catch (error) {
      const failed = this.unexpected(error, works);
      results = works.map(() => failed);
    }
    works.forEach((work, i) => {
      const result = results[i];
      if (result) into.set(work.id, result);
    });
  }

  /** A handler threw (they must not for expected failures): a bug or an outage, worth a retry. */
  private unexpected(error: unknown, works: Array<{ id: string }>): WorkResult {
    this.logger.error({ err: error, workIds: works.map((w) => w.id) }, 'routing handler failed');
    const message = error instanceof Error ? error.message : String(error);
    return { kind: 'retry', outcome: { error: message }, error: message, delayMs: 1000 };
  }

  private completion(work: ClaimedRow, result: WorkResult, now: Date): Completion {
    const { outcome } = result;
    const at = (delayMs: number) => new Date(now.getTime() + delayMs);
    switch (result.kind) {
      case 'deferred':
        return {
          status: 'pending',
          outcome,
          error: null,
          nextAttemptAt: at(result.delayMs),
          uncount: true,
        };
      case 'done':
        return {
          status: 'done',
          outcome,
          error: null,
          nextAttemptAt: now,
          ...(result.logged ? { forget: true } : {}),
        };
      case 'skipped':
      case 'filtered':
        return { status: 'done', outcome, error: null, nextAttemptAt: now };
      case 'retry':
        if (work.attempts < work.maxAttempts)
          return {
            status: 'pending',
            outcome,
            error: result.error,
            nextAttemptAt: at(result.delayMs),
          };
        return this.dead(work, outcome, result.error, now);
      case 'dead':
        return this.dead(work, outcome, result.error, now);
    }
  }

  private dead(work: ClaimedRow, outcome: WorkOutcome, error: string, now: Date): Completion {
    const handler = this.handlers.get(work.kind);
    return {
      status: 'dead',
      outcome: handler ? handler.deadOutcome(outcome, error) : outcome,
      error,
      nextAttemptAt: now,
    };
  }
}

/** A round's row with what its handler decided and what is recorded. */
interface Recorded {
  work: ClaimedRow;
  result: WorkResult;
  completion: Completion;
}

/** Where a delivery held in a fan-out row is, and what a row of its own would need. */
const heldIn = (work: ClaimedRow, fanoutId: string) => ({
  fanoutId,
  targetId: work.targetId,
  sequence: work.sequence,
  maxAttempts: work.maxAttempts,
  idempotencyKey: work.idempotencyKey,
});

/** Work of an event that is still stored (a check, not a copy: rows are many per round). */
const hasEvent = (work: ClaimedRow): work is ClaimedWork =>
  work.eventId !== null && work.event !== undefined;

/**
 * The attributes an attempt's span starts with. A module function, not a closure per attempt
 * (see Tracing.startSpan on what tsx's keepNames makes those cost).
 */
function attemptAttributes(work: ClaimedRow): Attributes {
  const event = work.event;
  return {
    ...(work.eventId === null ? {} : { [SpanAttributes.EVENT_ID]: work.eventId }),
    ...(event ? { [SpanAttributes.EVENT_PATTERN]: event.pattern } : {}),
    ...(event?.source
      ? {
          [SpanAttributes.EVENT_SOURCE_TYPE]: event.source.type,
          [SpanAttributes.EVENT_SOURCE_ID]: event.source.id,
        }
      : {}),
    [TARGET_ATTRIBUTES[work.kind]]: work.targetId,
    'routing.attempt': work.attempts,
  };
}

const dead = (error: string): WorkResult => ({ kind: 'dead', outcome: {}, error });

const NO_COUNTS: OutcomeCounts = { failed: false, fired: false };

/** The span's `routing.outcome`: finished work is `done`, whether or not it was attempted. */
/** The span of one attempt, by target kind. */
const SPAN_NAMES: Record<TargetKind, string> = {
  trigger: 'trigger.fire',
  delivery: 'delivery.attempt',
  processor: 'processor.derive',
  resume: 'wait.resume',
};

/** The span attribute naming the attempt's target, by target kind. */
const TARGET_ATTRIBUTES: Record<TargetKind, string> = {
  trigger: SpanAttributes.TRIGGER_ID,
  delivery: SpanAttributes.SUBSCRIPTION_ID,
  processor: 'processor.id',
  resume: 'wait.id',
};

const OUTCOME_NAMES: Record<WorkResult['kind'], string> = {
  done: 'done',
  skipped: 'done',
  filtered: 'done',
  retry: 'retry',
  dead: 'dead',
  deferred: 'deferred',
};

const EVENT_GONE = dead('the event is no longer stored (retention)');
const NO_EVENTLESS_HANDLER = dead('this kind of work has no handler of work without an event');
