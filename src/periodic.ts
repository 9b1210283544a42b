import type { Logger } from 'pino';

/**
 * Runs `task` now and then every `intervalMs` after the previous run ended (runs never
 * overlap). A failing run is logged and the schedule goes on. `stop` waits for a run in progress.
 */
export function runPeriodically(
  name: string,
  intervalMs: number,
  task: () => Promise<unknown>,
  logger: Logger,
) {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const run = () => {
    current = task()
      .then(
        () => undefined,
        (error: unknown) => logger.error({ err: error, task: name }, 'periodic task failed'),
      )
      .finally(() => {
        if (!stopped) timer = setTimeout(run, intervalMs).unref();
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
