import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { Listening } from '../db/listener.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Tracing } from '../observability/tracing.ts';
import { runPeriodically } from '../periodic.ts';
import { RoutingPlanner } from './planner.ts';
import type { RoutingIndex } from './routing-index.ts';
import type { RoutingHandOff, WorkHandler } from './work.ts';
import { routingLagSeconds, WORK_CHANNEL } from './work-store.ts';
import { type CompletionObserver, type WorkerOptions, WorkerPool } from './workers.ts';

/** The routing engine's options: the worker pool's, and whether this instance runs it. */
export interface RoutingOptions extends WorkerOptions {
  /**
   * Whether this instance runs routing workers. Off, it accepts and stores events (with their
   * work) and the instances that run workers route them. Env `ROUTING_WORKERS` (`on`/`off`),
   * default on.
   */
  workers: boolean;
}

export interface RoutingWiring {
  /** The writer's side of routing: work planned for the outbox write, workers woken after it. */
  handOff: RoutingHandOff;
  workers: WorkerPool;
  /** Starts the workers (when on), their cross-instance wake-ups and the lag gauge. */
  start(): void;
  /** Stops them; in-flight rounds finish first. */
  close(): Promise<void>;
}

/**
 * The routing engine: the worker pool over the handlers of each target kind, the planner the
 * writer hands its events to, and the wake-ups. A commit wakes this instance's workers in
 * process; on a PostgreSQL server it also notifies (see `workNotifyCte`), and the workers of
 * every other instance listen, so they do not wait for their next poll.
 */
export function wireRouting(deps: {
  db: Database;
  clock: Clock;
  logger: Logger;
  tracing: Tracing;
  metrics: Metrics;
  options: RoutingOptions;
  index: RoutingIndex;
  handlers: WorkHandler[];
  /** Called after each completed claim, after the routing metrics (the console's flow rates). */
  onCompletion?: CompletionObserver;
}): RoutingWiring {
  const { db, clock, logger, metrics, options } = deps;
  const workers = new WorkerPool(
    db,
    clock,
    deps.handlers,
    options,
    logger,
    deps.tracing,
    (work, completion, now, counts) => {
      if (completion.status === 'done')
        metrics.observeEventProcessing((now.getTime() - work.createdAt.getTime()) / 1000);
      deps.onCompletion?.(work, completion, now, counts);
    },
  );
  let listening: Listening | undefined;
  let lag: ReturnType<typeof runPeriodically> | undefined;
  return {
    handOff: new RoutingPlanner(deps.index, workers),
    workers,
    start() {
      if (options.workers) {
        workers.start();
        listening = db.listen?.(
          WORK_CHANNEL,
          // This instance's own outbox commits woke its workers in process already.
          (payload) => {
            if (payload !== workers.instanceTag) workers.wake();
          },
          (error) =>
            logger.warn(
              { err: error },
              'routing wake-ups: listening connection lost; reconnecting',
            ),
        );
      }
      lag = runPeriodically(
        'routing lag',
        5000,
        async () => metrics.setRoutingLag(await routingLagSeconds(db, clock.now())),
        logger,
      );
    },
    async close() {
      await lag?.stop();
      await listening?.close();
      await workers.stop();
    },
  };
}
