import { Command, CommanderError } from 'commander';
import { registerApply } from './commands/apply.ts';
import { registerCodegen } from './commands/codegen.ts';
import { registerDlq } from './commands/dlq.ts';
import { registerEvents } from './commands/events.ts';
import { registerKeys } from './commands/keys.ts';
import { registerReplay } from './commands/replay.ts';
import { registerTail } from './commands/tail.ts';
import { registerTrace } from './commands/trace.ts';
import { registerValidate } from './commands/validate.ts';
import { type CliContext, CliError, createContext, describeError, wantsColor } from './context.ts';

/**
 * `eps`: the command line of the Event Processing Service. Talks to the service at `--url` /
 * EPS_URL (default http://127.0.0.1:8080) with `--api-key` / EPS_API_KEY, through the typed client.
 * Exit codes: 0 done, 1 failed (the error envelope's details printed as `field: message`),
 * 2 `diff --exit-code` found changes, or a usage error.
 */

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  color: boolean;
  env: NodeJS.ProcessEnv;
}

export function buildProgram(io: CliIo, setExitCode: (code: number) => void): Command {
  const program = new Command('eps')
    .description('Event Processing Service command line')
    .option('--url <url>', 'the service (default: EPS_URL or http://127.0.0.1:8080)')
    .option('--api-key <key>', 'API key (default: EPS_API_KEY)')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text.replace(/\n$/, '')),
      writeErr: (text) => io.err(text.replace(/\n$/, '')),
    });

  // Every action: the context from the global flags, its exit code, CliErrors printed as such.
  const run =
    (handler: (context: CliContext, ...args: never[]) => Promise<number | undefined>) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      const context = createContext(command.optsWithGlobals(), io, io.env);
      try {
        setExitCode((await handler(context, ...(args.slice(0, -1) as never[]))) ?? 0);
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        io.err(describeError(error));
        setExitCode(error.exitCode);
      }
    };

  registerApply(program, run);
  registerValidate(program, run);
  registerEvents(program, run);
  registerTrace(program, run);
  registerTail(program, run);
  registerReplay(program, run);
  registerDlq(program, run);
  registerKeys(program, io, setExitCode);
  registerCodegen(program, run);
  return program;
}

/** Runs `eps` with these arguments (without node and the script); resolves with the exit code. */
export async function runEps(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  return exitCode;
}

/** The process entry (bin/eps.js): real streams, the exit code on the process. */
export async function main(): Promise<void> {
  process.exitCode = await runEps(process.argv.slice(2), {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    color: wantsColor(process.stdout, process.env),
    env: process.env,
  });
}
