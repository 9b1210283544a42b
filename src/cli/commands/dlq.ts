import type { Command } from 'commander';
import pLimit from 'p-limit';
import { type CliContext, CliError, unwrap } from '../context.ts';
import { Names, subscriptionsNamed } from '../names.ts';
import { oneLine, table } from '../output.ts';
import type { Run } from './run.ts';

/**
 * `eps dlq`: every dead letter in one place — deliveries to subscriptions, trigger firings,
 * processor firings and wait notifications whose attempts ran out — each listed and retried
 * through its own API (the scope of each kind applies: kinds the key may not read are left out
 * with a note).
 */

export const DEAD_LETTER_KINDS = ['subscription', 'trigger', 'processor', 'wait'] as const;
export type DeadLetterKind = (typeof DEAD_LETTER_KINDS)[number];

type Json = Record<string, unknown>;

/** A dead letter of any kind, in one shape; `record` is the API's own answer. */
export interface DeadLetter {
  kind: DeadLetterKind;
  /** What `eps dlq redeliver` takes: the delivery's or firing's id, or the wait's. */
  id: string;
  /** The subscription, trigger or processor it was for, or the wait. */
  targetId: string;
  eventId: string;
  attempts: number;
  deadSince: string;
  error: string;
  record: Json;
}

/** One kind's dead letters: one page of them, and its retry. */
interface Source {
  page(context: CliContext, limit: number, offset: number): Promise<DeadLetter[]>;
  redeliver(context: CliContext, id: string): Promise<unknown>;
  name(names: Names, targetId: string): Promise<string>;
}

const text = (value: unknown) => (value === null || value === undefined ? '' : String(value));

/** Where each kind's API record keeps a dead letter's fields. */
interface RecordFields {
  id: string;
  target: string;
  event: string;
  deadSince: string;
  error: string;
}

/** An API record as a dead letter of `kind`. */
const asLetter = (kind: DeadLetterKind, fields: RecordFields) => (record: Json) => ({
  kind,
  id: text(record[fields.id]),
  targetId: text(record[fields.target]),
  eventId: text(record[fields.event]),
  attempts: Number(record.attempts),
  deadSince: text(record[fields.deadSince]),
  error: text(record[fields.error]),
  record,
});

/** Trigger and processor firings: read and retried alike, their target under its own name. */
function firings(kind: 'trigger' | 'processor'): Source {
  return {
    page: async (context, limit, offset) => {
      const query = { params: { query: { status: 'dead' as const, limit, offset } } };
      const what = `listing dead ${kind} firings`;
      // Each kind's firings have their own type (the target's id under its own name).
      const { firings: found } =
        kind === 'trigger'
          ? await unwrap(context.client.GET('/v1/trigger-firings', query), what)
          : await unwrap(context.client.GET('/v1/processor-firings', query), what);
      return found.map(
        asLetter(kind, {
          id: 'id',
          target: `${kind}Id`,
          event: 'eventId',
          deadSince: 'updatedAt',
          error: 'error',
        }),
      );
    },
    redeliver: (context, id) => {
      const path = { params: { path: { id } } };
      return unwrap(
        kind === 'trigger'
          ? context.client.POST('/v1/trigger-firings/{id}/retry', path)
          : context.client.POST('/v1/processor-firings/{id}/retry', path),
        `retrying ${kind} firing ${id}`,
      );
    },
    name: (names, id) => names[kind](id),
  };
}

const sources = (subscriptionId: string | undefined): Record<DeadLetterKind, Source> => ({
  subscription: {
    page: async (context, limit, offset) =>
      (
        await unwrap(
          context.client.GET('/v1/dead-letters', {
            params: { query: { limit, offset, ...(subscriptionId ? { subscriptionId } : {}) } },
          }),
          'listing dead deliveries',
        )
      ).deadLetters.map(
        asLetter('subscription', {
          id: 'id',
          target: 'subscription_id',
          event: 'event_id',
          deadSince: 'dead_since',
          error: 'error',
        }),
      ),
    redeliver: (context, id) =>
      unwrap(
        context.client.POST('/v1/dead-letters/{id}/redeliver', { params: { path: { id } } }),
        `redelivering ${id}`,
      ),
    name: (names, id) => names.subscription(id),
  },
  trigger: firings('trigger'),
  processor: firings('processor'),
  wait: {
    page: async (context, limit, offset) =>
      (
        await unwrap(
          context.client.GET('/v1/wait-notifications', {
            params: { query: { status: 'dead', limit, offset } },
          }),
          'listing dead wait notifications',
        )
      ).notifications.map(
        asLetter('wait', {
          id: 'waitId',
          target: 'waitId',
          event: 'eventId',
          deadSince: 'updatedAt',
          error: 'lastError',
        }),
      ),
    redeliver: (context, id) =>
      unwrap(
        context.client.POST('/v1/waits/{id}/notification/retry', { params: { path: { id } } }),
        `retrying the notification of wait ${id}`,
      ),
    name: (names, id) => names.wait(id),
  },
});

/** The most a list request asks for; the CLI pages through the rest. */
const PAGE = 1000;

/** Every dead letter of one kind, page after page. */
async function allOf(context: CliContext, source: Source): Promise<DeadLetter[]> {
  const letters: DeadLetter[] = [];
  for (;;) {
    const page = await source.page(context, PAGE, letters.length);
    letters.push(...page);
    if (page.length < PAGE) return letters;
  }
}

/** A key without a kind's read scope: that kind is left out of a listing over all kinds. */
const isForbidden = (error: unknown) => error instanceof CliError && error.status === 403;

interface Selection {
  kind?: string;
  subscription?: string;
}

/** The kinds `--kind` and `--subscription` select, with their sources. */
async function selected(context: CliContext, flags: Selection) {
  if (flags.kind !== undefined && !(DEAD_LETTER_KINDS as readonly string[]).includes(flags.kind)) {
    throw new CliError(`--kind ${flags.kind}: expected ${DEAD_LETTER_KINDS.join(', ')}`, [], 2);
  }
  if (flags.subscription && flags.kind && flags.kind !== 'subscription') {
    throw new CliError('--subscription selects subscription dead letters only', [], 2);
  }
  let subscriptionId: string | undefined;
  if (flags.subscription) {
    const [found] = await subscriptionsNamed(context, flags.subscription);
    if (!found) throw new CliError(`no subscription named ${flags.subscription}`);
    subscriptionId = found.id;
  }
  const kind = (flags.subscription ? 'subscription' : flags.kind) as DeadLetterKind | undefined;
  return { kinds: kind ? [kind] : [...DEAD_LETTER_KINDS], sources: sources(subscriptionId) };
}

/** The dead letters of the selected kinds, most recently dead first. */
async function deadLetters(context: CliContext, flags: Selection): Promise<DeadLetter[]> {
  const { kinds, sources: byKind } = await selected(context, flags);
  const lists = await Promise.all(
    kinds.map((kind) =>
      allOf(context, byKind[kind]).catch((error: unknown) => {
        if (kinds.length === 1 || !isForbidden(error)) throw error;
        context.err(`note: ${kind} dead letters left out: ${(error as Error).message}`);
        return [];
      }),
    ),
  );
  return lists.flat().sort((a, b) => b.deadSince.localeCompare(a.deadSince));
}

/**
 * Retries one dead letter by id. Without `--kind` each kind's retry is asked in turn: ids are
 * unique across kinds, and a kind that does not know the id (404) or may not be asked (403)
 * passes to the next.
 */
async function redeliverOne(context: CliContext, id: string, flags: Selection) {
  const { kinds, sources: byKind } = await selected(context, flags);
  for (const kind of kinds) {
    try {
      await byKind[kind].redeliver(context, id);
      return kind;
    } catch (error) {
      const passes = error instanceof CliError && (error.status === 404 || isForbidden(error));
      if (kinds.length === 1 || !passes) throw error;
    }
  }
  throw new CliError(`no dead letter ${id}`);
}

/**
 * Retries every selected dead letter. A subscription's are queued in one call
 * (`POST /v1/subscriptions/{id}/dead-letters/redeliver`); firings and notifications one by one.
 */
async function redeliverAll(context: CliContext, flags: Selection) {
  const letters = await deadLetters(context, flags);
  const { sources: byKind } = await selected(context, flags);
  const counts = new Map<DeadLetterKind, number>();
  const add = (kind: DeadLetterKind, n: number) => counts.set(kind, (counts.get(kind) ?? 0) + n);
  const limit = pLimit(4);
  const subscriptions = new Set<string>();
  await Promise.all(
    letters.map((letter) => {
      if (letter.kind !== 'subscription') {
        return limit(async () => {
          try {
            await byKind[letter.kind].redeliver(context, letter.id);
            add(letter.kind, 1);
          } catch (error) {
            // Retried by someone else since it was listed: nothing left to do for it.
            if (!(error instanceof CliError && error.status === 409)) throw error;
          }
        });
      }
      if (subscriptions.has(letter.targetId)) return undefined;
      subscriptions.add(letter.targetId);
      return limit(async () => {
        const answer = await unwrap(
          context.client.POST('/v1/subscriptions/{id}/dead-letters/redeliver', {
            params: { path: { id: letter.targetId } },
          }),
          `redelivering the dead letters of subscription ${letter.targetId}`,
        );
        add('subscription', answer.requeued);
      });
    }),
  );
  return counts;
}

interface ListFlags extends Selection {
  json?: boolean;
}

async function list(context: CliContext, flags: ListFlags) {
  const letters = await deadLetters(context, flags);
  if (flags.json) {
    for (const letter of letters) context.out(JSON.stringify(letter));
    return 0;
  }
  const names = new Names(context);
  const { sources: byKind } = await selected(context, flags);
  const rows = await Promise.all(
    letters.map(async (l) => [
      l.kind,
      l.id,
      await byKind[l.kind].name(names, l.targetId),
      l.eventId,
      String(l.attempts),
      l.deadSince,
      oneLine(l.error, 60),
    ]),
  );
  context.out(table(['KIND', 'ID', 'TARGET', 'EVENT ID', 'ATTEMPTS', 'DEAD SINCE', 'ERROR'], rows));
  return 0;
}

const kindOption = `only dead letters of this kind: ${DEAD_LETTER_KINDS.join(', ')}`;

export function registerDlq(program: Command, run: Run): void {
  const dlq = program
    .command('dlq')
    .description(
      'dead letters: deliveries, trigger firings, processor firings and wait notifications whose attempts ran out',
    );
  dlq
    .command('ls')
    .description('list dead letters of every kind, most recently dead first')
    .option('--kind <kind>', kindOption)
    .option('--subscription <name>', 'the dead deliveries of one subscription (name or id)')
    .option('--json', 'one JSON dead letter per line')
    .action(run((context, flags: ListFlags) => list(context, flags)));
  dlq
    .command('redeliver')
    .description('queue dead letters again with fresh attempts, each through its own retry')
    .argument('[ids...]', 'dead letter ids (the ID column of eps dlq ls)')
    .option('--all', 'every dead letter (of --kind, or of --subscription)')
    .option('--kind <kind>', kindOption)
    .option('--subscription <name>', 'with --all: the dead deliveries of this subscription only')
    .action(
      run(async (context, ids: string[], flags: Selection & { all?: boolean }) => {
        if (Boolean(flags.all) === ids.length > 0) {
          throw new CliError('name dead letter ids, or --all (not both)', [], 2);
        }
        if (flags.all) {
          const counts = await redeliverAll(context, flags);
          const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
          const byKind = DEAD_LETTER_KINDS.filter((kind) => counts.get(kind))
            .map((kind) => `${counts.get(kind)} ${kind}`)
            .join(', ');
          context.out(`${total} dead letters queued again${byKind ? `: ${byKind}` : ''}`);
          return 0;
        }
        for (const id of ids) {
          const kind = await redeliverOne(context, id, flags);
          context.out(`${kind} ${id} queued again`);
        }
        return 0;
      }),
    );
}
