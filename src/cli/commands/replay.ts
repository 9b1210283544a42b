import type { Command } from 'commander';
import { type CliContext, CliError, unwrap } from '../context.ts';
import { oneLine, sinceParameter, table } from '../output.ts';
import type { Run } from './run.ts';

/**
 * `eps replay` and `eps dlq`: sending stored events again to a trigger or subscription, and
 * the dead letters of subscriptions (deliveries whose attempts ran out).
 */

type Target = { kind: 'trigger' | 'subscription'; id: string; name: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Subscriptions by name (or id), for `--subscription`. */
async function subscriptionsNamed(context: CliContext, name: string) {
  if (UUID.test(name)) return [{ id: name, name }];
  const page = await unwrap(
    context.client.GET('/v1/subscriptions', { params: { query: { name } } }),
    `finding subscription ${name}`,
  );
  return page.subscriptions.map((s) => ({
    id: s.subscription_id,
    name: s.name ?? s.subscription_id,
  }));
}

/**
 * `trigger/<name>`, `subscription/<name>` (as kubectl's kind/name), or a bare name or id looked
 * up among both; a bare name that both kinds carry must say which.
 */
async function resolveTarget(context: CliContext, reference: string): Promise<Target> {
  const [prefix, rest] = reference.includes('/')
    ? reference.split(/\/(.*)/s)
    : [undefined, reference];
  const name = rest ?? reference;
  const found: Target[] = [];
  if (prefix === undefined || prefix === 'trigger') {
    if (UUID.test(name)) found.push({ kind: 'trigger', id: name, name });
    else {
      const page = await unwrap(
        context.client.GET('/v1/workflow-triggers', { params: { query: { name } } }),
        `finding trigger ${name}`,
      );
      for (const t of page.triggers as Array<{ id: string }>)
        found.push({ kind: 'trigger', id: t.id, name });
    }
  }
  if (prefix === undefined || prefix === 'subscription') {
    if (!UUID.test(name) || prefix === 'subscription') {
      for (const s of await subscriptionsNamed(context, name))
        found.push({ kind: 'subscription', ...s });
    }
  }
  if (prefix !== undefined && prefix !== 'trigger' && prefix !== 'subscription') {
    throw new CliError(`${reference}: expected trigger/<name> or subscription/<name>`, [], 2);
  }
  if (found.length === 0) throw new CliError(`no trigger or subscription named ${name}`);
  if (found.length > 1) {
    throw new CliError(
      `${name} names a trigger and a subscription: say trigger/${name} or subscription/${name}`,
      [],
      2,
    );
  }
  return found[0]!;
}

interface ReplayFlags {
  since: string;
  until?: string;
  force?: boolean;
  pattern?: string;
}

async function replay(context: CliContext, target: Target, flags: ReplayFlags) {
  const range = {
    startTime: sinceParameter(flags.since),
    ...(flags.until ? { endTime: sinceParameter(flags.until) } : {}),
  };
  const what = `replaying to ${target.kind} ${target.name}`;
  const path = { params: { path: { id: target.id } } };
  if (target.kind === 'trigger') {
    return unwrap(
      context.client.POST('/v1/workflow-triggers/{id}/replay', {
        ...path,
        body: { ...range, ...(flags.force ? { force: true } : {}) },
      }),
      what,
    );
  }
  return unwrap(
    context.client.POST('/v1/subscriptions/{id}/replay', {
      ...path,
      body: { ...range, ...(flags.pattern ? { pattern: flags.pattern } : {}) },
    }),
    what,
  ) as Promise<{ matched?: number; queued?: number }>;
}

async function deadLetters(context: CliContext, subscription: string | undefined) {
  const ids = subscription ? await subscriptionsNamed(context, subscription) : [undefined];
  if (ids.length === 0) throw new CliError(`no subscription named ${subscription}`);
  const letters: Array<Record<string, unknown>> = [];
  for (const s of ids) {
    const page = await unwrap(
      context.client.GET('/v1/dead-letters', {
        params: { query: { limit: 1000, ...(s ? { subscriptionId: s.id } : {}) } },
      }),
      'listing dead letters',
    );
    letters.push(...page.deadLetters);
  }
  return letters;
}

export function registerReplay(program: Command, run: Run): void {
  program
    .command('replay')
    .description('route stored events of a time range to a trigger or subscription again')
    .argument('<target>', 'trigger/<name>, subscription/<name>, or a name or id of either')
    .requiredOption(
      '--since <time>',
      'from this long ago (90s, 15m, 1h, 2d, 1w, PT1H) or this ISO time',
    )
    .option('--until <time>', 'up to this long ago or this time (default: now)')
    .option('--force', 'triggers: fire again also for events that fired before')
    .option('--pattern <pattern>', 'subscriptions: only events of this pattern')
    .action(
      run(async (context, reference: string, flags: ReplayFlags) => {
        const target = await resolveTarget(context, reference);
        const result = await replay(context, target, flags);
        context.out(
          `${target.kind} ${target.name}: ${result.matched ?? 0} events matched, ${result.queued ?? 0} queued`,
        );
        return 0;
      }),
    );

  const dlq = program.command('dlq').description('dead letters: deliveries whose attempts ran out');
  dlq
    .command('ls')
    .description('list dead letters, newest first')
    .option('--subscription <name>', 'of one subscription (name or id)')
    .option('--json', 'one JSON dead letter per line')
    .action(
      run(async (context, flags: { subscription?: string; json?: boolean }) => {
        const letters = await deadLetters(context, flags.subscription);
        if (flags.json) {
          for (const letter of letters) context.out(JSON.stringify(letter));
          return 0;
        }
        context.out(
          table(
            ['ID', 'SUBSCRIPTION', 'EVENT ID', 'ATTEMPTS', 'DEAD SINCE', 'ERROR'],
            letters.map((l) => [
              String(l.id),
              String(l.subscription_id),
              String(l.event_id),
              String(l.attempts),
              String(l.dead_since),
              oneLine(l.error ?? '', 60),
            ]),
          ),
        );
        return 0;
      }),
    );
  dlq
    .command('redeliver')
    .description('queue dead letters again with fresh attempts')
    .argument('[ids...]', 'dead letter ids (from eps dlq ls)')
    .option('--all', 'every dead letter (of --subscription, or of every subscription)')
    .option('--subscription <name>', 'with --all: of this subscription only')
    .action(
      run(async (context, ids: string[], flags: { all?: boolean; subscription?: string }) => {
        if (Boolean(flags.all) === ids.length > 0) {
          throw new CliError('name dead letter ids, or --all (not both)', [], 2);
        }
        if (flags.all) {
          const subscriptions = flags.subscription
            ? await subscriptionsNamed(context, flags.subscription)
            : [
                ...new Set(
                  (await deadLetters(context, undefined)).map((l) => String(l.subscription_id)),
                ),
              ].map((id) => ({ id, name: id }));
          let requeued = 0;
          for (const s of subscriptions) {
            const answer = await unwrap(
              context.client.POST('/v1/subscriptions/{id}/dead-letters/redeliver', {
                params: { path: { id: s.id } },
              }),
              `redelivering the dead letters of ${s.name}`,
            );
            requeued += answer.requeued;
          }
          context.out(`${requeued} dead letters queued again`);
          return 0;
        }
        for (const id of ids) {
          await unwrap(
            context.client.POST('/v1/dead-letters/{id}/redeliver', { params: { path: { id } } }),
            `redelivering ${id}`,
          );
          context.out(`${id} queued again`);
        }
        return 0;
      }),
    );
}
