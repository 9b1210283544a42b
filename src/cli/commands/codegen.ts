import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { listAll } from '../apply.ts';
import type { DefinitionSchema } from '../codegen.ts';
import { CliError, unwrap } from '../context.ts';
import type { Run } from './run.ts';

export function registerCodegen(program: Command, run: Run): void {
  program
    .command('codegen')
    .description("TypeScript types of the registered events' payloads, and a checked publish()")
    .requiredOption('-o, --out <file>', 'the .ts file to write (- prints it)')
    .option('--pattern <pattern>', 'only the definitions of this pattern (wildcards as the API)')
    .action(
      run(async (context, flags: { out: string; pattern?: string }) => {
        const definitions = (await listAll(async (offset) => {
          const page = await unwrap(
            context.client.GET('/v1/event-definitions', {
              params: {
                query: {
                  limit: 1000,
                  offset,
                  ...(flags.pattern ? { pattern: flags.pattern } : {}),
                },
              },
            }),
            'listing event definitions',
          );
          return {
            items: page.definitions as Record<string, unknown>[],
            hasMore: page.pagination?.hasMore ?? false,
          };
        })) as unknown as Array<DefinitionSchema & { status?: string }>;
        // A draft cannot be published yet; its types would promise what the service refuses.
        const publishable = definitions.filter((d) => d.status !== 'draft');
        if (publishable.length === 0)
          throw new CliError('no event definitions to generate types from');
        // Loaded here, not with the command line: json-schema-to-typescript takes about 0.3 s of
        // CPU to import, which every other eps command would pay at each start.
        const { generateTypes } = await import('../codegen.ts');
        const source = await generateTypes(publishable, context.baseUrl);
        if (flags.out === '-') context.out(source.trimEnd());
        else {
          await writeFile(flags.out, source);
          context.out(`${flags.out}: ${publishable.length} payload types`);
        }
        return 0;
      }),
    );
}
