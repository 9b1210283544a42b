import type { Logger } from 'pino';
import { Backoff } from './backoff.ts';
import { DatabaseUnavailable } from './db/pg-errors.ts';

/** Retries of a failed run: 1 s doubling to a minute, never later than the next regular run. */
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;

/**
 * A different first run: `task` runs once before the regular task, and is tried again (backing
 * off) until it succeeds; the regular task follows `regularAfterMs` later (at most one
 * interval), then every interval. For start-up work that must be done before the service goes
 * on (creating partitions), where the rest of the regular task can wait a little but should
 * not wait a whole interval: a process restarted more often than the interval would never run it.
 */
export interface StartUpRun {
  task: () => Promise<unknown>;
  regularAfterMs: number;
}

/**
 * Runs `task` now and then every `intervalMs` after the previous run ended (runs never
 * overlap). A failing run is logged and retried sooner (backing off), so a database outage
 * delays the task by seconds, not by a whole interval. `stop` waits for a run in progress.
 * With `startUp`, that runs first instead (see {@link StartUpRun}).
 */
export function runPeriodically(
  name: string,
  intervalMs: number,
  task: () => Promise<unknown>,
  logger: Logger,
  startUp?: StartUpRun,
) {
  let pendingStartUp = startUp;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const backoff = new Backoff(FIRST_RETRY_MS, MAX_RETRY_MS);
  const run = () => {
    const startingUp = pendingStartUp;
    current = (startingUp ? startingUp.task() : task())
      .then(
        () => {
          backoff.succeeded();
          pendingStartUp = undefined;
          return startingUp ? Math.min(intervalMs, startingUp.regularAfterMs) : intervalMs;
        },
        (error: unknown) => {
          const retryInMs = Math.min(intervalMs, backoff.failed());
          if (error instanceof DatabaseUnavailable)
            logger.warn(
              { err: error.cause, task: name, retryInMs },
              'periodic task: database unavailable',
            );
          else logger.error({ err: error, task: name, retryInMs }, 'periodic task failed');
          return retryInMs;
        },
      )
      .then((delayMs) => {
        if (!stopped) timer = setTimeout(run, delayMs).unref();
      });
  };
  run();
  return {
    /** Resolves after the first run (start-up work such as creating partitions). */
    firstRun: () => current,
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}
