import type { Command } from 'commander';
import pLimit from 'p-limit';
import { type CliContext, unwrap } from '../context.ts';
import { Names } from '../names.ts';
import { sourceText } from './events.ts';
import type { Run } from './run.ts';

/**
 * `eps trace <eventId>`: the event's correlation as a tree drawn with box characters, each event
 * under the event that caused it, and under each event what the routing did with it: the
 * triggers it fired (action, instances) and the deliveries to subscriptions (last outcome).
 */

type Json = Record<string, unknown>;

interface TraceEvent {
  eventId: string;
  pattern: string;
  version: string;
  timestamp: string;
  metadata: Json;
  source?: { type: string; id: string };
  children: TraceEvent[];
}

/** What the routing did with one event, as lines under it. */
interface Consequences {
  firings: Json[];
  deliveries: Json[];
}

/** Beyond this many events the tree is drawn without their firings and deliveries. */
const MAX_DETAILED_EVENTS = 200;

async function consequencesOf(context: CliContext, eventId: string): Promise<Consequences> {
  const path = { params: { path: { eventId } } };
  const [firings, deliveries] = await Promise.all([
    unwrap(context.client.GET('/v1/events/{eventId}/triggers', path), `firings of ${eventId}`),
    unwrap(
      context.client.GET('/v1/events/{eventId}/deliveries', {
        params: { path: { eventId }, query: { limit: 1000 } },
      }),
      `deliveries of ${eventId}`,
    ),
  ]);
  return { firings: firings.firings, deliveries: deliveries.deliveries };
}

/** One line per firing: the trigger, what it did and the instances it touched. */
async function firingLines(firings: Json[], names: Names): Promise<string[]> {
  return Promise.all(
    firings.map(async (f) => {
      const instances = (f.workflowInstanceIds as string[] | undefined) ?? [];
      const why = f.reason ?? f.error;
      return [
        `trigger ${await names.trigger(String(f.triggerId))}: ${f.action}`,
        instances.length > 0 ? ` → instance ${instances.join(', ')}` : '',
        why ? ` (${why})` : '',
        f.status === 'dead' ? ' [dead]' : '',
        f.replay ? ' [replay]' : '',
      ].join('');
    }),
  );
}

/**
 * One line per delivery (attempts of one subscription grouped): its last outcome and how many
 * attempts it took. Attempts come newest first.
 */
async function deliveryLines(attempts: Json[], names: Names): Promise<string[]> {
  const bySubscription = new Map<string, Json[]>();
  for (const attempt of attempts) {
    const id = String(attempt.subscription_id);
    bySubscription.set(id, [...(bySubscription.get(id) ?? []), attempt]);
  }
  return Promise.all(
    [...bySubscription].map(async ([id, tries]) => {
      const last = tries[0]!;
      const status = last.status_code ? ` ${last.status_code}` : '';
      const error = last.error ? ` (${last.error})` : '';
      const count = `${tries.length} attempt${tries.length === 1 ? '' : 's'}`;
      return `delivery ${await names.subscription(id)}: ${last.outcome}${status}, ${count}${error}`;
    }),
  );
}

function eventLine(event: TraceEvent, highlight: boolean, context: CliContext): string {
  const text = [
    `${event.pattern}@${event.version}`,
    event.eventId,
    event.timestamp,
    event.source ? `from ${sourceText(event)}` : '',
  ]
    .filter(Boolean)
    .join('  ');
  return highlight ? context.style.bold(`${text}  ◀`) : text;
}

/** The tree as lines: `├─`/`└─` before each child, `│ ` continuing a branch. */
function draw(
  roots: TraceEvent[],
  details: Map<string, string[]>,
  focus: string,
  context: CliContext,
): string[] {
  const lines: string[] = [];
  const walk = (event: TraceEvent, prefix: string, branch: string, below: string) => {
    lines.push(`${prefix}${branch}${eventLine(event, event.eventId === focus, context)}`);
    const inner = `${prefix}${below}`;
    const items: Array<string | TraceEvent> = [
      ...(details.get(event.eventId) ?? []),
      ...event.children,
    ];
    items.forEach((item, index) => {
      const last = index === items.length - 1;
      if (typeof item === 'string') {
        lines.push(`${inner}${last ? '└─ ' : '├─ '}${context.style.dim(item)}`);
      } else walk(item, inner, last ? '└─ ' : '├─ ', last ? '   ' : '│  ');
    });
  };
  for (const root of roots) walk(root, '', '', '');
  return lines;
}

function flatten(roots: TraceEvent[]): TraceEvent[] {
  return roots.flatMap((event) => [event, ...flatten(event.children)]);
}

export function registerTrace(program: Command, run: Run): void {
  program
    .command('trace')
    .description("draw the event's correlation: causes, effects, trigger firings and deliveries")
    .argument('<eventId>', 'any event of the correlation')
    .option('--json', 'the trace as JSON (events nested, each with its firings and deliveries)')
    .action(
      run(async (context, eventId: string, flags: { json?: boolean }) => {
        const trace = await unwrap(
          context.client.GET('/v1/events/{eventId}/trace', { params: { path: { eventId } } }),
          `tracing ${eventId}`,
        );
        const roots = trace.events as unknown as TraceEvent[];
        const events = flatten(roots);
        const detailed = events.slice(0, MAX_DETAILED_EVENTS);
        const limit = pLimit(4);
        const consequences = new Map(
          await Promise.all(
            detailed.map((e) =>
              limit(async () => [e.eventId, await consequencesOf(context, e.eventId)] as const),
            ),
          ),
        );
        if (flags.json) {
          const withDetails = (event: TraceEvent): Json => ({
            ...event,
            ...consequences.get(event.eventId),
            children: event.children.map(withDetails),
          });
          context.out(JSON.stringify({ ...trace, events: roots.map(withDetails) }, null, 2));
          return 0;
        }
        const names = new Names(context);
        const details = new Map<string, string[]>();
        for (const [id, { firings, deliveries }] of consequences) {
          details.set(id, [
            ...(await firingLines(firings, names)),
            ...(await deliveryLines(deliveries, names)),
          ]);
        }
        context.out(`correlation ${String(trace.correlationId)}`);
        for (const line of draw(roots, details, eventId, context)) context.out(line);
        if (trace.truncated || events.length > MAX_DETAILED_EVENTS) {
          context.err(
            `note: ${trace.truncated ? 'the correlation holds more events than a trace returns; ' : ''}firings and deliveries shown for the first ${Math.min(events.length, MAX_DETAILED_EVENTS)} events`,
          );
        }
        return 0;
      }),
    );
}
