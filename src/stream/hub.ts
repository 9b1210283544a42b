import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';
import { AppError } from '../errors.ts';
import {
  type CommitPosition,
  currentPosition,
  formatPosition,
  isAfter,
  type PositionedEvent,
  readAfter,
} from '../store/commit-order.ts';
import type { Conditions } from '../store/query.ts';
import type { EventFilter } from './filters.ts';

export interface StreamOptions {
  /** Most streams open at once; one more is a 503. Env `STREAM_MAX_CLIENTS`, default 100. */
  maxClients: number;
  /** A comment line every this many ms keeps proxies from closing a quiet stream. Env `STREAM_HEARTBEAT_MS`, default 15,000. */
  heartbeatMs: number;
  /**
   * How often new commits are looked for, in ms, when this instance's writer has not said so
   * (other instances' commits, transactions that ended late). Env `STREAM_POLL_INTERVAL_MS`, default 250.
   */
  pollIntervalMs: number;
  /**
   * Events one stream may have waiting for a slow reader; beyond that it gets `event: overflow`
   * and is closed (it resumes from its last event id). Env `STREAM_CLIENT_BUFFER_EVENTS`, default 1000.
   */
  clientBufferEvents: number;
}

/** Rows read per statement, by the shared reader and by a stream catching up. */
const PAGE = 500;

const NO_CONDITIONS: Conditions = { where: [], params: [] };

/**
 * The live event stream (`GET /v1/events/stream`): one reader per instance follows the store in
 * commit order (see src/store/commit-order.ts) and hands each new event to the open streams
 * whose filters it passes; a stream that starts at a position (`Last-Event-ID`, `?after=`) first
 * reads what it missed with its own filters, then joins. Memory is bounded per stream: a reader
 * that cannot keep up is dropped with `event: overflow` rather than buffered without end.
 */
export class EventStreams {
  private readonly streams = new Set<EventStream>();
  /** Where the shared reader is: every event up to here was handed to the live streams. */
  private position: CommitPosition | undefined;
  private askingPosition: Promise<CommitPosition> | undefined;
  private reading: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly db: Database,
    private readonly options: StreamOptions,
    private readonly logger: Logger,
  ) {}

  /** This instance committed events: look now rather than at the next poll. */
  nudge(): void {
    this.wake?.();
  }

  /** Refuses a stream beyond the limit (503), before anything is written. */
  assertCapacity(): void {
    if (this.closed || this.streams.size >= this.options.maxClients) {
      throw new AppError(
        503,
        'overloaded',
        this.closed
          ? 'the service is shutting down'
          : `at most ${this.options.maxClients} event streams may be open at once (STREAM_MAX_CLIENTS)`,
        [],
        { 'retry-after': '5' },
      );
    }
  }

  /**
   * Streams events to `response` (headers already sent) from `after`, or from now when absent,
   * until the client goes away, overflows or the service stops.
   */
  async open(
    response: ServerResponse,
    filter: { conditions: Conditions; test: EventFilter },
    after: CommitPosition | undefined,
  ): Promise<void> {
    this.assertCapacity();
    const stream = new EventStream(response, filter.test, this.options.clientBufferEvents, () =>
      this.streams.delete(stream),
    );
    this.streams.add(stream);
    this.startReading();
    try {
      if (after === undefined) {
        stream.goLive(this.position ?? (await this.startingPosition()));
      } else {
        await this.catchUp(stream, after, filter.conditions);
      }
    } catch (error) {
      // The database went away: the client reconnects with its last event id.
      this.logger.warn({ err: error }, 'event stream could not read the store; closing it');
      stream.close();
    }
  }

  /**
   * Reads what the stream missed with its own filters, then joins the live events. Live events
   * arriving meanwhile wait in the stream; when too many arrive they are dropped and the reading
   * goes on, because every read after the drop covers at least what the shared reader had read
   * before it (both read only ended transactions, and the horizon only moves forward).
   */
  private async catchUp(
    stream: EventStream,
    after: CommitPosition,
    conditions: Conditions,
  ): Promise<void> {
    // Where the reader starts is settled before this stream reads: a read of its own taken
    // earlier could stop short of that start, and what lies between neither would send.
    if (this.position === undefined) await this.startingPosition();
    let cursor = after;
    for (;;) {
      stream.missedLive = false;
      let page: PositionedEvent[];
      do {
        page = await readAfter(this.db, cursor, conditions, PAGE);
        for (const event of page) await stream.send(event);
        if (stream.isClosed) return;
        cursor = page.at(-1)?.position ?? cursor;
      } while (page.length === PAGE);
      if (!stream.missedLive) break;
    }
    stream.goLive(cursor);
  }

  /**
   * Where the shared reader starts when nobody was listening: asked of the store once, however
   * many callers wait for it. Two separate asks could answer two positions, and the later one
   * would move the reader back or past events it had not handed out yet.
   */
  private startingPosition(): Promise<CommitPosition> {
    this.askingPosition ??= currentPosition(this.db)
      .then((position) => {
        this.position ??= position;
        return this.position;
      })
      .finally(() => {
        this.askingPosition = undefined;
      });
    return this.askingPosition;
  }

  private startReading(): void {
    if (this.reading) return;
    this.heartbeat ??= setInterval(() => {
      for (const stream of this.streams) stream.heartbeat();
    }, this.options.heartbeatMs);
    this.reading = this.follow().finally(() => {
      this.reading = undefined;
      // A stream may have opened while the loop was ending.
      if (this.streams.size > 0 && !this.closed) this.startReading();
    });
  }

  /** The shared reader: while streams are open, hands every newly readable event to them. */
  private async follow(): Promise<void> {
    while (!this.closed && this.streams.size > 0) {
      let full = false;
      try {
        const from = this.position ?? (await this.startingPosition());
        const page = await readAfter(this.db, from, NO_CONDITIONS, PAGE);
        if (page.length > 0) {
          this.position = page.at(-1)!.position;
          for (const stream of this.streams) stream.offer(page);
        }
        full = page.length === PAGE;
      } catch (error) {
        this.logger.warn({ err: error }, 'event stream reader failed; retrying');
      }
      if (!full) await this.pause();
    }
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    // With nobody listening, the next stream starts from the store again.
    this.position = undefined;
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.options.pollIntervalMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  /** Ends every stream (the service is stopping) and the reader. */
  async close(): Promise<void> {
    this.closed = true;
    for (const stream of this.streams) stream.close();
    this.wake?.();
    await this.reading;
  }
}

/** One open stream: an SSE response, its filter, and what waits for it. */
class EventStream {
  /** The position of the last event sent (or where the stream started). */
  private cursor: CommitPosition | undefined;
  private live = false;
  private waiting: PositionedEvent[] = [];
  private blocked = false;
  private closed = false;
  /** Set when live events were dropped while catching up (the catch-up reads further). */
  missedLive = false;

  constructor(
    private readonly response: ServerResponse,
    private readonly test: EventFilter,
    private readonly bufferLimit: number,
    private readonly onClose: () => void,
  ) {
    response.on('close', () => this.close());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Events the shared reader found, in commit order. */
  offer(events: PositionedEvent[]): void {
    if (this.closed) return;
    for (const event of events) if (this.test(event.event)) this.waiting.push(event);
    if (this.live) this.flush();
    if (this.waiting.length <= this.bufferLimit) return;
    if (this.live) {
      this.overflow();
    } else {
      this.waiting = [];
      this.missedLive = true;
    }
  }

  goLive(from: CommitPosition): void {
    if (this.closed) return;
    this.cursor ??= from;
    this.live = true;
    this.flush();
  }

  /** Writes one event (catching up), waiting while the connection's buffer is full. */
  async send(event: PositionedEvent): Promise<void> {
    if (this.closed || !this.write(event)) return;
    await new Promise<void>((resolve) => {
      this.response.once('drain', resolve);
      this.response.once('close', resolve);
    });
    this.blocked = false;
  }

  private flush(): void {
    while (!this.blocked && !this.closed && this.waiting.length > 0) {
      const event = this.waiting.shift()!;
      if (this.cursor && !isAfter(event.position, this.cursor)) continue;
      if (this.write(event)) {
        this.response.once('drain', () => {
          this.blocked = false;
          this.flush();
        });
      }
    }
  }

  /** Sends `event`; true when the connection's buffer is full (the caller must wait). */
  private write(event: PositionedEvent): boolean {
    this.cursor = event.position;
    const full = !this.response.write(
      `id: ${formatPosition(event.position)}\ndata: ${JSON.stringify(event.event)}\n\n`,
    );
    this.blocked = full;
    return full;
  }

  heartbeat(): void {
    if (!this.blocked && !this.closed) this.response.write(': heartbeat\n\n');
  }

  /** The reader fell too far behind: say so, and where it got to, then close. */
  private overflow(): void {
    const lastEventId = this.cursor ? formatPosition(this.cursor) : null;
    this.response.write(
      `event: overflow\ndata: ${JSON.stringify({
        message: `more than ${this.bufferLimit} events were waiting for this reader; reconnect with Last-Event-ID to resume`,
        lastEventId,
      })}\n\n`,
    );
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.waiting = [];
    this.response.end();
    this.onClose();
  }
}
