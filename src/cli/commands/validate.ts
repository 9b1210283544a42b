import type { Command } from 'commander';
import { createEpsClient } from '../../client/index.ts';
import { type CliContext, CliError, unwrap } from '../context.ts';
import { formatPosition, type Resource } from '../manifest.ts';
import type { ValidationFinding } from '../validate.ts';
import { loadOrFail } from './apply.ts';
import type { Run } from './run.ts';

/**
 * With `--against <url>`: each event definition of the files checked by that service's
 * compatibility check (`POST /v1/event-definitions/{ref}/compatibility`) against its released
 * versions. An event the service does not know yet has nothing to be compatible with.
 */
async function againstService(
  context: CliContext,
  url: string,
  resources: readonly Resource[],
): Promise<ValidationFinding[]> {
  const client = createEpsClient({
    baseUrl: url,
    ...(context.apiKey ? { apiKey: context.apiKey } : {}),
  });
  const findings: ValidationFinding[] = [];
  for (const resource of resources.filter((r) => r.kind === 'EventDefinition')) {
    const { event_id, version, payload_schema } = resource.body;
    const answer = await client.POST('/v1/event-definitions/{ref}/compatibility', {
      params: { path: { ref: String(event_id) } },
      body: { payload_schema, version } as never,
    });
    if (answer.response.status === 404) continue;
    const verdict = await unwrap(Promise.resolve(answer), `compatibility of ${resource.key}`);
    for (const change of verdict.changes ?? []) {
      if (!change.breaking) continue;
      findings.push({
        at: resource.positionOf(['payload_schema']),
        severity: 'error',
        message: `EventDefinition ${resource.key} payload_schema${change.path}: ${change.code} against ${change.version} (${verdict.mode}, ${change.direction})`,
      });
    }
  }
  return findings;
}

export function registerValidate(program: Command, run: Run): void {
  program
    .command('validate')
    .description(
      'check files offline: schemas, examples, patterns, conditions, mappings, trigger paths',
    )
    .requiredOption('-f, --filename <paths...>', 'YAML or JSON files, or folders of them')
    .option('--against <url>', "also check each event definition's compatibility with that service")
    .action(
      run(async (context, flags: { filename: string[]; against?: string }) => {
        const resources = await loadOrFail(flags.filename);
        // Loaded here, not with the command line: the checks import the compatibility and
        // expression engines (about 0.15 s of CPU), which every other eps command would pay.
        const { validateResources } = await import('../validate.ts');
        const findings = validateResources(resources);
        if (flags.against)
          findings.push(...(await againstService(context, flags.against, resources)));
        const errors = findings.filter((f) => f.severity === 'error');
        for (const finding of findings.filter((f) => f.severity === 'warning')) {
          context.err(`warning: ${formatPosition(finding.at)}: ${finding.message}`);
        }
        if (errors.length > 0) {
          throw new CliError(
            `${errors.length} problem${errors.length === 1 ? '' : 's'} in the files`,
            errors.map((f) => ({ field: formatPosition(f.at), message: f.message })),
          );
        }
        context.out(`${resources.length} resources valid.`);
        return 0;
      }),
    );
}
