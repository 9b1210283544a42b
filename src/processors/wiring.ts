import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { EventInput } from '../events/event.ts';
import type { RoutingIndex } from '../routing/routing-index.ts';
import { type DerivedEventSink, ProcessorHandler } from './handler.ts';
import { ProcessorRouting } from './processor-routing.ts';
import { Processors } from './service.ts';
import type { ProcessorTargets } from './targets.ts';

/** The receiver as processors use it: derived events are published and dry-run through it. */
export interface DerivedEventReceiver extends DerivedEventSink {
  /** Checks a derived event as a published one is checked, storing nothing. */
  validate(input: EventInput): Promise<unknown>;
}

export interface ProcessorWiring {
  processors: Processors;
  /** Derivation records, dry runs, replays and dead-derivation retries. */
  routing: ProcessorRouting;
  /** Derives the claimed processor work's events (the routing engine's `processor` kind). */
  handler: ProcessorHandler;
}

/** Event processors (derived events): their management, routing side and derivation handler. */
export function wireProcessors(deps: {
  db: Database;
  clock: Clock;
  index: RoutingIndex;
  targets: ProcessorTargets;
  receiver: DerivedEventReceiver;
  /** Bound of each derived payload (MAPPED_INPUT_MAX_BYTES). */
  payloadMaxBytes: number;
  /** PROCESSOR_MAX_DEPTH. */
  maxDepth: number;
  /** Told each derivation recorded as derived or failed (metrics). */
  fired(outcome: 'derived' | 'failed'): void;
}): ProcessorWiring {
  const { db, clock, receiver, maxDepth } = deps;
  return {
    processors: new Processors(db, clock),
    routing: new ProcessorRouting(db, clock, (input) => receiver.validate(input), {
      payloadMaxBytes: deps.payloadMaxBytes,
      maxDepth,
    }),
    handler: new ProcessorHandler(db, deps.index, deps.targets, receiver, maxDepth, deps.fired),
  };
}
