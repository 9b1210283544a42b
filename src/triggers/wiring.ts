import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { RoutingIndex } from '../routing/routing-index.ts';
import type { Waits } from '../waits/service.ts';
import type { WorkflowBatchExecutor } from '../workflows/port.ts';
import { TriggerFiringHandler } from './firing.ts';
import { Triggers } from './service.ts';
import type { TriggerTargets } from './targets.ts';
import { TriggerRouting } from './trigger-routing.ts';

export interface TriggerWiring {
  triggers: Triggers;
  /** Firing records, dry runs, replays and dead-firing retries. */
  routing: TriggerRouting;
  /** Fires the claimed trigger work (the routing engine's `trigger` kind). */
  handler: TriggerFiringHandler;
}

/** Workflow event triggers: their management, their routing side and the firing handler. */
export function wireTriggers(deps: {
  db: Database;
  clock: Clock;
  index: RoutingIndex;
  targets: TriggerTargets;
  /** Starts and cancels the workflows that firings name. */
  workflows: WorkflowBatchExecutor;
  /** Bound of each mapped input (MAPPED_INPUT_MAX_BYTES). */
  mappedInputMaxBytes: number;
  /** Registers the waits START triggers declare (`waitFor`) for the instances they start. */
  waits: Pick<Waits, 'registerOnStart'>;
  /** The event retention, which bounds a `waitFor` lookback (none: unbounded). */
  maxLookbackMs: number | undefined;
  /** Told each recorded start or cancel, by trigger type (metrics). */
  fired(triggerType: string): void;
}): TriggerWiring {
  const { db, clock } = deps;
  return {
    triggers: new Triggers(db, clock, deps.maxLookbackMs),
    routing: new TriggerRouting(db, clock, deps.mappedInputMaxBytes),
    handler: new TriggerFiringHandler(
      db,
      deps.index,
      deps.targets,
      deps.workflows,
      deps.waits,
      deps.fired,
    ),
  };
}
