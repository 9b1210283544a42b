import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { type EventSourceMessage, EventSourceParserStream } from 'eventsource-parser/stream';
import type { paths } from '../../client/index.ts';
import { type CliContext, CliError, unwrap } from '../context.ts';
import { oneLine } from '../output.ts';
import { type FilterFlags, filterOptions, filterQuery, sourceText } from './events.ts';
import type { Run } from './run.ts';

/**
 * `eps tail [pattern]`: follows `GET /v1/events/stream`, one line per event. The stream's ids
 * are positions in commit order; tail keeps the last one it printed and reconnects with
 * `Last-Event-ID` whenever the connection ends (a restart of the service, a network cut, an
 * `overflow`), so nothing is skipped and nothing printed twice. With `--resume-file` the position
 * also outlives tail itself: a tail started again with the same file goes on after the last event
 * the previous one printed (the file is written after each printed line; after a SIGKILL between
 * the two, that one line is printed again — at least once, as a Kafka consumer committing offsets).
 */

type StreamQuery = NonNullable<paths['/v1/events/stream']['get']['parameters']['query']>;

interface TailFlags extends FilterFlags {
  after?: string;
  resumeFile?: string;
  count?: string;
  json?: boolean;
}

interface StreamedEvent {
  eventId: string;
  pattern: string;
  version: string;
  timestamp: string;
  payload: unknown;
}

/** Waits before reconnecting: from 0.5 s, doubling to 10 s, back to the start once connected. */
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;

/** The last position a previous tail recorded, if the file exists. */
function readResumeFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Replaces the file in one step (write, then rename), so a kill never leaves half an id. */
function writeResumeFile(path: string, id: string): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, `${id}\n`);
  renameSync(temporary, path);
}

/** Why a connection ended: the reader stopped (signal, count reached) or it must reconnect. */
type Ended = { kind: 'stop' } | { kind: 'reconnect'; why: string };

class Tail {
  private printed = 0;
  constructor(
    private readonly context: CliContext,
    private readonly query: StreamQuery,
    private readonly flags: TailFlags,
    private lastId: string | undefined,
    private readonly limit: number,
    private readonly signal: AbortSignal,
  ) {}

  /** Follows until stopped; reconnects after every end that is not the reader's own. */
  async run(): Promise<void> {
    let delay = FIRST_RETRY_MS;
    let connectedOnce = false;
    while (!this.signal.aborted) {
      const ended = await this.connect(() => {
        delay = FIRST_RETRY_MS;
        this.context.err(
          connectedOnce
            ? `reconnected${this.lastId ? `, resuming after ${this.lastId}` : ''}`
            : `following events${this.lastId ? ` after ${this.lastId}` : ''} (Ctrl-C to stop)`,
        );
        connectedOnce = true;
      });
      if (ended.kind === 'stop' || this.signal.aborted) return;
      this.context.err(`${ended.why}; reconnecting in ${delay / 1000} s`);
      await sleep(delay, undefined, { signal: this.signal }).catch(() => undefined);
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  }

  /** One request for the stream, from the last position printed. */
  private open() {
    return this.context.client.GET('/v1/events/stream', {
      params: {
        query: this.query,
        header: this.lastId ? { 'last-event-id': this.lastId } : {},
      },
      parseAs: 'stream',
      signal: this.signal,
    });
  }

  private async connect(onOpen: () => void): Promise<Ended> {
    let answer: Awaited<ReturnType<Tail['open']>>;
    try {
      answer = await this.open();
    } catch (error) {
      if (this.signal.aborted) return { kind: 'stop' };
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      return {
        kind: 'reconnect',
        why: `cannot reach the service (${cause ?? (error as Error).message})`,
      };
    }
    const { response } = answer;
    // 503 (too many streams, or the database away) passes; any other refusal is the caller's.
    if (response.status === 503 || response.status === 502 || response.status === 504) {
      return { kind: 'reconnect', why: `the service answered ${response.status}` };
    }
    if (!response.ok) await unwrap(Promise.resolve(answer), 'following events');
    onOpen();
    return this.read(answer.data as unknown as ReadableStream<Uint8Array>);
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<Ended> {
    const messages = body
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(new EventSourceParserStream());
    try {
      for await (const message of messages) {
        if (message.event === 'overflow') {
          return { kind: 'reconnect', why: 'this reader fell behind the stream' };
        }
        if (message.id !== undefined && this.print(message, message.id) >= this.limit)
          return { kind: 'stop' };
      }
      return { kind: 'reconnect', why: 'the service closed the stream' };
    } catch (error) {
      if (this.signal.aborted) return { kind: 'stop' };
      return { kind: 'reconnect', why: `the stream broke (${(error as Error).message})` };
    }
  }

  /** Prints one event, then records its position; answers how many were printed. */
  private print(message: EventSourceMessage, id: string): number {
    const event = JSON.parse(message.data) as StreamedEvent;
    this.context.out(
      this.flags.json
        ? message.data
        : [
            event.timestamp,
            `${event.pattern}@${event.version}`,
            event.eventId,
            sourceText(event),
            oneLine(event.payload, 100),
          ]
            .filter(Boolean)
            .join('  '),
    );
    this.lastId = id;
    if (this.flags.resumeFile) writeResumeFile(this.flags.resumeFile, id);
    return ++this.printed;
  }
}

function countOf(text: string | undefined): number {
  if (text === undefined) return Number.POSITIVE_INFINITY;
  const count = Number(text);
  if (!Number.isInteger(count) || count < 1) {
    throw new CliError(`--count ${text}: expected a whole number above 0`, [], 2);
  }
  return count;
}

export function registerTail(program: Command, run: Run): void {
  filterOptions(
    program
      .command('tail')
      .description('follow events as they are committed; reconnects and resumes by itself'),
  )
    .option('--after <id>', 'start after this stream position instead of now')
    .option(
      '--resume-file <path>',
      'keep the last position here, and start after it when the file exists',
    )
    .option('--count <n>', 'stop after this many events')
    .option('--json', 'one JSON event per line')
    .action(
      run(async (context, pattern: string | undefined, flags: TailFlags) => {
        const resumed = flags.resumeFile ? readResumeFile(flags.resumeFile) : undefined;
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          await new Tail(
            context,
            filterQuery(pattern, flags),
            flags,
            resumed ?? flags.after,
            countOf(flags.count),
            stop.signal,
          ).run();
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        return 0;
      }),
    );
}
