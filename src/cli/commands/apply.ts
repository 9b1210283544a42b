import type { Command } from 'commander';
import {
  countActions,
  executePlan,
  hasChanges,
  planError,
  printPlan,
  readState,
} from '../apply.ts';
import { type CliContext, CliError } from '../context.ts';
import { formatPosition, loadManifests, type Resource } from '../manifest.ts';
import { type Plan, plan } from '../plan.ts';
import type { Run } from './run.ts';

interface PlanFlags {
  filename: string[];
  prune?: boolean;
  owner: string;
  verbose?: boolean;
}

/** Reads the files, failing with every problem as `file:line: message`. */
export async function loadOrFail(paths: readonly string[]): Promise<Resource[]> {
  const { resources, problems } = await loadManifests(paths);
  if (problems.length > 0) {
    throw new CliError(
      `${problems.length} problem${problems.length === 1 ? '' : 's'} in the files`,
      problems.map((p) => ({ field: formatPosition(p.at), message: p.message })),
    );
  }
  return resources;
}

async function planFiles(context: CliContext, flags: PlanFlags): Promise<Plan> {
  const resources = await loadOrFail(flags.filename);
  const planned = plan(resources, await readState(context.client), {
    owner: flags.owner,
    prune: flags.prune === true,
  });
  printPlan(context, planned, flags.verbose === true);
  const problem = planError(planned);
  if (problem) throw problem;
  return planned;
}

const fileOptions = (command: Command) =>
  command
    .requiredOption('-f, --filename <paths...>', 'YAML or JSON files, or folders of them')
    .option('--prune', 'also delete resources this owner applied that the files no longer hold')
    .option(
      '--owner <name>',
      'value of the eps.dev/managed-by label marking what apply manages',
      'eps',
    )
    .option('-v, --verbose', 'also list unchanged resources');

export function registerApply(program: Command, run: Run): void {
  fileOptions(
    program
      .command('apply')
      .description(
        'create, update (and with --prune delete) resources so the service matches the files',
      ),
  )
    .option('--dry-run', 'print the plan only')
    .action(
      run(async (context, flags: PlanFlags & { dryRun?: boolean }) => {
        const planned = await planFiles(context, flags);
        if (flags.dryRun || !hasChanges(planned)) return 0;
        await executePlan(context, planned, {
          enabled: process.stderr.isTTY === true,
          write: (text) => process.stderr.write(text),
        });
        const counts = countActions(planned);
        context.out(
          `Applied: ${counts.create} created, ${counts.update} updated, ${counts.delete} deleted.`,
        );
        return 0;
      }),
    );

  fileOptions(
    program.command('diff').description('print what apply would change (the plan), change nothing'),
  )
    .option('--exit-code', 'exit with 2 when there are changes, 0 when none (for CI)')
    .action(
      run(async (context, flags: PlanFlags & { exitCode?: boolean }) => {
        const planned = await planFiles(context, flags);
        return flags.exitCode && hasChanges(planned) ? 2 : 0;
      }),
    );
}
