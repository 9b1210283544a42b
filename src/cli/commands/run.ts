import type { CliContext } from '../context.ts';

/**
 * Wraps a command's handler into a commander action: the handler gets the context built from the
 * global flags and its own arguments, and answers the exit code.
 */
export type Run = (
  handler: (context: CliContext, ...args: never[]) => Promise<number | undefined>,
) => (...args: unknown[]) => Promise<void>;
