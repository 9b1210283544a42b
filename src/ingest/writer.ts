import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Database, Queryable } from '../db/database.ts';
import { DatabaseUnavailable, DataError } from '../db/pg-errors.ts';
import { AppError, validationError } from '../errors.ts';
import type { NormalizedEvent } from '../events/event.ts';
import type { RoutingHandOff } from '../routing/work.ts';
import { earlierClaims, recordProducers, type StoredClaim, storeEvents } from './outbox.ts';

/**
 * The spec's EventQueueConfig: the bounded queue between the receiver and the database.
 * Requests wait here for a shared commit (group commit), so concurrent single-event POSTs
 * share transactions instead of paying one fsync each.
 */
export interface EventQueueConfig {
  /** Most events waiting at once; a request that would exceed it is refused. Env `INGEST_MAX_QUEUE_DEPTH`, default 10,000. */
  maxQueueDepth: number;
  /** Above this many waiting events new requests get 503 `overloaded`. Env `INGEST_HIGH_WATERMARK`, default 8,000. */
  highWatermark: number;
  /** Most events committed in one transaction (a larger batch request still commits whole). Env `INGEST_BATCH_SIZE`, default 500. */
  batchSize: number;
  /** How long a partial batch may wait for company before it is written, in ms. Env `INGEST_PROCESSING_INTERVAL_MS`, default 0 (write as soon as a transaction slot is free). */
  processingInterval: number;
  /** Transactions in flight at once. Env `INGEST_CONCURRENT_COMMITS`, default 2. */
  concurrentCommits: number;
}

/** Told what the writer does: for metrics and the live streams. */
export interface WriterObserver {
  /** After a commit: the events it stored (repeats excluded), and those that matched a target. */
  committed(events: NormalizedEvent[], routed: NormalizedEvent[]): void;
  depthChanged(depth: number): void;
}

export type WriteStatus = 'accepted' | 'duplicate' | 'conflict';

export interface WriteOutcome {
  status: WriteStatus;
  eventId: string;
  /** The stored event's time: the original one for a duplicate. */
  timestamp: Date;
}

interface PendingWrite {
  events: NormalizedEvent[];
  resolve(outcomes: WriteOutcome[]): void;
  reject(error: unknown): void;
}

const overloaded = () =>
  new AppError(503, 'overloaded', 'the event queue is full; retry shortly', [], {
    'retry-after': '1',
  });

/** Outcome of a repeated eventId against the first sighting, within one commit or before it. */
function repeatOutcome(
  event: NormalizedEvent,
  first: { bodyHash: string; timestamp: Date },
): WriteOutcome {
  const status = first.bodyHash === event.bodyHash ? 'duplicate' : 'conflict';
  return { status, eventId: event.instance.eventId, timestamp: first.timestamp };
}

export class EventWriter {
  private readonly queue: PendingWrite[] = [];
  private queuedEvents = 0;
  private commitsInFlight = 0;
  /** Slots that have not taken their group yet. */
  private opening = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly config: EventQueueConfig,
    private readonly logger: Logger,
    private readonly routing: RoutingHandOff,
    private readonly observer: WriterObserver,
  ) {}

  /** Events waiting for or inside a commit. */
  get depth(): number {
    return this.queuedEvents;
  }

  /**
   * Commits one request's events together and resolves once they are durable; refuses with 503
   * when the queue is above its high watermark.
   */
  write(events: NormalizedEvent[]): Promise<WriteOutcome[]> {
    if (
      this.queuedEvents >= this.config.highWatermark ||
      this.queuedEvents + events.length > this.config.maxQueueDepth
    ) {
      return Promise.reject(overloaded());
    }
    this.queuedEvents += events.length;
    this.observer.depthChanged(this.queuedEvents);
    return new Promise<WriteOutcome[]>((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    const waiting = this.queue.reduce((n, w) => n + w.events.length, 0);
    if (this.config.processingInterval > 0 && waiting < this.config.batchSize) {
      this.lingerTimer ??= setTimeout(() => {
        this.lingerTimer = undefined;
        this.pump();
      }, this.config.processingInterval);
      return;
    }
    this.pump();
  }

  private pump(): void {
    // A slot takes its group at the end of this turn of the event loop, so the requests that
    // arrive meanwhile ride along instead of waiting a whole commit for the next slot. No more
    // slots open than there are queued requests to fill them.
    while (
      this.commitsInFlight < this.config.concurrentCommits &&
      this.queue.length > this.opening
    ) {
      this.commitsInFlight += 1;
      this.opening += 1;
      let group: PendingWrite[] | undefined;
      const take = () => {
        if (group) return group;
        this.opening -= 1;
        group = this.queue.length > 0 ? this.takeGroup() : [];
        return group;
      };
      void this.commitGroup(take).finally(() => {
        this.commitsInFlight -= 1;
        this.queuedEvents -= take().reduce((n, w) => n + w.events.length, 0);
        this.observer.depthChanged(this.queuedEvents);
        if (this.queue.length > 0) this.pump();
        else if (this.commitsInFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
    }
  }

  /** Whole requests, up to batchSize events (a single larger request goes alone). */
  private takeGroup(): PendingWrite[] {
    const group: PendingWrite[] = [this.queue.shift()!];
    let size = group[0]!.events.length;
    while (this.queue.length > 0 && size + this.queue[0]!.events.length <= this.config.batchSize) {
      const next = this.queue.shift()!;
      size += next.events.length;
      group.push(next);
    }
    return group;
  }

  /** Commits the group `take` returns; it is called inside the transaction, or on failure. */
  private async commitGroup(take: () => PendingWrite[]): Promise<void> {
    try {
      const { group, outcomes } = await this.commit(take);
      let offset = 0;
      for (const write of group) {
        write.resolve(outcomes.slice(offset, offset + write.events.length));
        offset += write.events.length;
      }
    } catch (error) {
      await this.fail(take(), error);
    }
  }

  /**
   * A data error (a value PostgreSQL refuses) fails the whole transaction; committing the
   * requests one by one confines it to the request that carried it.
   */
  private async fail(group: PendingWrite[], error: unknown): Promise<void> {
    if (error instanceof DataError && group.length > 1) {
      for (const write of group) await this.commitGroup(() => [write]);
      return;
    }
    const refused = this.refusal(error);
    for (const write of group) write.reject(refused);
  }

  /** What the requests of a failed commit are answered; nothing of it was acknowledged. */
  private refusal(error: unknown): AppError {
    if (error instanceof DataError)
      return validationError(`the event could not be stored: ${error.message}`);
    if (error instanceof DatabaseUnavailable) {
      this.logger.warn({ err: error.cause }, 'event commit failed: database unavailable');
      return error;
    }
    this.logger.error({ err: error }, 'event commit failed');
    return new AppError(503, 'unavailable', 'the event store is unavailable; retry shortly', [], {
      'retry-after': '1',
    });
  }

  /**
   * One statement (one transaction with the producer counts when a deprecated version is among
   * them): claim eventIds and insert the new events with their routing work (the outbox).
   */
  private async commit(
    take: () => PendingWrite[],
  ): Promise<{ group: PendingWrite[]; outcomes: WriteOutcome[] }> {
    // Requests arriving in this turn of the event loop join the group instead of the next one.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const events = take().flatMap((w) => w.events);
    const firstSightings = new Map<string, NormalizedEvent>();
    for (const event of events)
      if (!firstSightings.has(event.instance.eventId))
        firstSightings.set(event.instance.eventId, event);
    const unique = [...firstSightings.values()];
    const now = this.clock.now();
    let routed: NormalizedEvent[] = [];
    /** Stores the group; `autocommit`: outside a transaction, so its statement commits at once. */
    const store = async (db: Queryable, autocommit: boolean) => {
      for (;;) {
        const work = this.routing.plan(unique);
        const stored = await storeEvents(db, unique, work, now);
        if (stored.stale) {
          await this.routing.refresh(db);
          continue;
        }
        const routedIds = new Set(work.rows.map((w) => w.eventId));
        routed = unique.filter(
          (e) => stored.claimed.has(e.instance.eventId) && routedIds.has(e.instance.eventId),
        );
        // Woken before anything else can fail: the commit's notification skips this instance.
        if (autocommit && routed.length > 0) this.routing.committed();
        return earlierClaims(db, unique, stored.claimed);
      }
    };
    // Producers of deprecated versions are counted in the same transaction.
    const inTransaction = unique.some((e) => e.deprecated);
    const earlier = inTransaction
      ? await this.db.transaction(async (tx) => {
          const claimedBefore = await store(tx, false);
          const fresh = unique.filter((e) => !claimedBefore.has(e.instance.eventId));
          await recordProducers(tx, fresh, now);
          return claimedBefore;
        })
      : await store(this.db, true);
    const fresh = unique.filter((e) => !earlier.has(e.instance.eventId));
    if (inTransaction && routed.length > 0) this.routing.committed();
    if (events.length > 0) this.observer.committed(fresh, routed);
    const outcomes = events.map((event) => this.outcomeOf(event, firstSightings, earlier));
    return { group: take(), outcomes };
  }

  private outcomeOf(
    event: NormalizedEvent,
    firstSightings: Map<string, NormalizedEvent>,
    stored: Map<string, StoredClaim>,
  ): WriteOutcome {
    const id = event.instance.eventId;
    const earlier = stored.get(id);
    if (earlier) return repeatOutcome(event, earlier);
    const first = firstSightings.get(id)!;
    const firstTime = new Date(first.instance.timestamp);
    if (first === event) return { status: 'accepted', eventId: id, timestamp: firstTime };
    return repeatOutcome(event, { bodyHash: first.bodyHash, timestamp: firstTime });
  }

  /** Resolves once every queued write has been committed or refused (graceful shutdown). */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.commitsInFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
