import type { Command } from 'commander';
import { type CliContext, CliError, unwrap } from '../context.ts';
import { isUuid, subscriptionsNamed } from '../names.ts';
import { sinceParameter } from '../output.ts';
import type { Run } from './run.ts';

/** `eps replay`: sending stored events again to a trigger or subscription. */

type Target = { kind: 'trigger' | 'subscription'; id: string; name: string };

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
    if (isUuid(name)) found.push({ kind: 'trigger', id: name, name });
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
    if (!isUuid(name) || prefix === 'subscription') {
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
}
