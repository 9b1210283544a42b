import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { paths } from '../../client/index.ts';
import { type CliContext, CliError, unwrap } from '../context.ts';
import {
  collect,
  oneLine,
  parseJson,
  parseSource,
  parseTags,
  sinceTime,
  table,
} from '../output.ts';
import type { Run } from './run.ts';

/** `eps publish` and `eps events`: writing one event and querying the stored ones. */

type PublishBody = paths['/v1/events']['post']['requestBody']['content']['application/json'];
type EventQuery = NonNullable<paths['/v1/events']['get']['parameters']['query']>;

interface PublishFlags {
  data?: string;
  file?: string;
  version?: string;
  source?: string;
  eventId?: string;
  correlationId?: string;
  causationId?: string;
  tag?: string[];
  json?: boolean;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The payload: `--data`, else `--file` (`-` is standard input), else piped standard input, else
 * `{}` (an event that carries nothing but its pattern, e.g. a tick).
 */
async function payloadOf(flags: PublishFlags): Promise<Record<string, unknown>> {
  if (flags.data !== undefined && flags.file !== undefined) {
    throw new CliError('give the payload with --data or --file, not both', [], 2);
  }
  let text: string;
  let what: string;
  if (flags.data !== undefined) [text, what] = [flags.data, '--data'];
  else if (flags.file === '-' || (flags.file === undefined && !process.stdin.isTTY))
    [text, what] = [await readStdin(), 'standard input'];
  else if (flags.file !== undefined) {
    text = await readFile(flags.file, 'utf8').catch((error: Error) => {
      throw new CliError(`cannot read ${flags.file}: ${error.message}`, [], 2);
    });
    what = flags.file;
  } else return {};
  if (text.trim() === '' && flags.data === undefined) return {};
  const payload = parseJson(text, what);
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new CliError(`${what} must hold a JSON object (the payload)`, [], 2);
  }
  return payload as Record<string, unknown>;
}

function publishBody(pattern: string, payload: Record<string, unknown>, flags: PublishFlags) {
  const tags = parseTags(flags.tag);
  const metadata: NonNullable<PublishBody['metadata']> = {
    ...(flags.correlationId ? { correlationId: flags.correlationId } : {}),
    ...(flags.causationId ? { causationId: flags.causationId } : {}),
    ...(Object.keys(tags).length > 0 ? { tags } : {}),
  };
  return {
    pattern,
    payload,
    ...(flags.eventId ? { eventId: flags.eventId } : {}),
    ...(flags.version ? { version: flags.version } : {}),
    ...(flags.source ? { source: parseSource(flags.source) } : {}),
    ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
  } satisfies PublishBody;
}

/** The filters `eps events` and `eps tail` share: those of the live stream. */
export interface FilterFlags {
  correlationId?: string;
  causationId?: string;
  source?: string;
  userId?: string;
  tag?: string[];
}

/** The flags of `FilterFlags` on a command. */
export function filterOptions(command: Command): Command {
  return command
    .argument('[pattern]', 'exact, or with wildcards: * one segment, ** zero or more')
    .option('--correlation-id <id>', 'events of one correlation')
    .option('--causation-id <id>', 'events caused by this event')
    .option('--source <type:id>', 'events from this source')
    .option('--user-id <id>', 'metadata.userId')
    .option('--tag <name=value>', 'metadata.tags entry that must match (repeatable)', collect);
}

/** `FilterFlags` as query parameters (`source.type`, `tag.<name>`, …). */
export function filterQuery(pattern: string | undefined, flags: FilterFlags) {
  const source = flags.source ? parseSource(flags.source) : undefined;
  const tags = Object.entries(parseTags(flags.tag)).map(([name, value]) => [`tag.${name}`, value]);
  return {
    ...(pattern ? { pattern } : {}),
    ...(flags.correlationId ? { correlationId: flags.correlationId } : {}),
    ...(flags.causationId ? { causationId: flags.causationId } : {}),
    ...(source ? { 'source.type': source.type, 'source.id': source.id } : {}),
    ...(flags.userId ? { userId: flags.userId } : {}),
    ...(Object.fromEntries(tags) as Record<string, string>),
  };
}

interface EventsFlags extends FilterFlags {
  payload?: string;
  since?: string;
  until?: string;
  order: 'asc' | 'desc';
  limit: string;
  json?: boolean;
}

/** The most events one `eps events` prints, following cursors page by page up to it. */
const MAX_EVENTS = 100_000;
const PAGE = 1000;

function eventQuery(pattern: string | undefined, flags: EventsFlags): EventQuery {
  return {
    ...filterQuery(pattern, flags),
    ...(flags.payload ? { payload: flags.payload } : {}),
    ...(flags.since ? { startTime: sinceTime(flags.since, new Date()) } : {}),
    ...(flags.until ? { endTime: sinceTime(flags.until, new Date()) } : {}),
    order: flags.order,
  };
}

type StoredEvent = NonNullable<
  paths['/v1/events']['get']['responses'][200]['content']['application/json']['events']
>[number];

/** Every page up to `limit` events, through the cursor the service hands back. */
async function queryEvents(
  context: CliContext,
  query: EventQuery,
  limit: number,
): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  let cursor: string | undefined;
  while (events.length < limit) {
    const size = Math.min(PAGE, limit - events.length);
    const page = await unwrap(
      context.client.GET('/v1/events', {
        params: {
          query: { ...query, limit: size, ...(cursor && { cursor }) },
        },
      }),
      'querying events',
    );
    events.push(...page.events);
    cursor = (page.pagination as { nextCursor?: string | null }).nextCursor ?? undefined;
    if (!cursor || page.events.length < size) break;
  }
  return events;
}

/** `type:id` of the event's source (top-level in the wire format), or empty. */
export const sourceText = (event: object) => {
  const { source } = event as { source?: { type?: string; id?: string } };
  return source ? `${source.type}:${source.id}` : '';
};

function limitOf(text: string): number {
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVENTS) {
    throw new CliError(`--limit ${text}: expected a whole number from 1 to ${MAX_EVENTS}`, [], 2);
  }
  return limit;
}

export function registerEvents(program: Command, run: Run): void {
  program
    .command('publish')
    .description('publish one event and print its receipt')
    .argument('<pattern>', 'the event pattern, e.g. bookings.created')
    .option('-d, --data <json>', 'the payload as JSON')
    .option('-f, --file <path>', 'the payload from a JSON file (- reads standard input)')
    .option('--version <version>', "the definition's version (default: its default version)")
    .option('--source <type:id>', 'who publishes, e.g. workflow:wf_42')
    .option(
      '--event-id <id>',
      'the eventId (default: a UUIDv7 the service makes; repeats are idempotent)',
    )
    .option('--correlation-id <id>', 'metadata.correlationId')
    .option('--causation-id <id>', 'metadata.causationId: the event that caused this one')
    .option('--tag <name=value>', 'metadata.tags entry (repeatable)', collect)
    .option('--json', 'print the receipt as JSON')
    .action(
      run(async (context, pattern: string, flags: PublishFlags) => {
        const body = publishBody(pattern, await payloadOf(flags), flags);
        const receipt = await unwrap(
          context.client.POST('/v1/events', { body }),
          `publishing ${pattern}`,
        );
        if (!('eventId' in receipt)) throw new CliError('publishing: unexpected answer');
        context.out(
          flags.json
            ? JSON.stringify(receipt)
            : `${receipt.status === 'accepted' ? context.style.green('accepted') : context.style.yellow('duplicate')} ${receipt.eventId} at ${receipt.timestamp}`,
        );
        return 0;
      }),
    );

  filterOptions(
    program
      .command('events')
      .description('list stored events, newest first (filters as GET /v1/events)'),
  )
    .option('--payload <json>', 'a JSON object the payload must contain')
    .option('--since <time>', 'from this time or this long ago (90s, 15m, 1h, 2d, PT1H, ISO time)')
    .option('--until <time>', 'before this time or this long ago')
    .option('--order <order>', 'desc (newest first) or asc', 'desc')
    .option('--limit <n>', 'at most this many events', '20')
    .option('--json', 'one JSON event per line instead of the table')
    .action(
      run(async (context, pattern: string | undefined, flags: EventsFlags) => {
        if (flags.order !== 'asc' && flags.order !== 'desc') {
          throw new CliError(`--order ${flags.order}: expected asc or desc`, [], 2);
        }
        const events = await queryEvents(context, eventQuery(pattern, flags), limitOf(flags.limit));
        if (flags.json) {
          for (const event of events) context.out(JSON.stringify(event));
          return 0;
        }
        context.out(
          table(
            ['TIME', 'EVENT ID', 'PATTERN', 'VERSION', 'SOURCE', 'PAYLOAD'],
            events.map((e) => [
              e.timestamp,
              e.eventId,
              e.pattern,
              e.version,
              sourceText(e),
              oneLine(e.payload, 60),
            ]),
          ),
        );
        return 0;
      }),
    );
}
