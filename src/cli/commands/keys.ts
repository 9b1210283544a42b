import type { Command } from 'commander';

/**
 * `eps keys create|list|revoke …`: the key management that was `npm run keys` (which now runs
 * this). Its arguments pass through to keys-command.ts untouched; the database code is loaded
 * only when the command runs, so the other commands start without it.
 */
export function registerKeys(
  program: Command,
  io: { out: (text: string) => void; err: (text: string) => void },
  setExitCode: (code: number) => void,
): void {
  program
    .command('keys')
    .description('create, list and revoke API keys in the database (DATABASE_URL or DATA_DIR)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument(
      '[arguments...]',
      'create --scopes <scope,…> [--name] [--kind service] | list | revoke <id>',
    )
    .action(async (args: string[]) => {
      const { runKeys } = await import('../keys.ts');
      setExitCode(await runKeys(args, io));
    });
}
