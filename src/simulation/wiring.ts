import type { FastifyInstance } from 'fastify';
import type { EventReceiver } from '../ingest/receiver.ts';
import type { ProcessorRouting } from '../processors/processor-routing.ts';
import type { Registry } from '../registry/service.ts';
import type { EventStore } from '../store/event-store.ts';
import { listAttempts } from '../subscriptions/repository.ts';
import type { TriggerRouting } from '../triggers/trigger-routing.ts';
import { EXPLAINED_ATTEMPTS, registerSimulationRoutes } from './routes.ts';
import { Simulator, type SimulatorDeps } from './simulator.ts';

/**
 * The dry run of events against every trigger and subscription (`/v1/events/simulate`), and
 * the explanation of what happened to a stored one (its firings and delivery attempts).
 */
export function wireSimulation(
  server: FastifyInstance,
  deps: Omit<SimulatorDeps, 'dryRun' | 'dryRunProcessor'> & {
    /** The triggers' own dry run and firing records. */
    triggers: Pick<TriggerRouting, 'dryRun' | 'firingsOf'>;
    /** The processors' own dry run and firing records. */
    processors: Pick<ProcessorRouting, 'dryRun' | 'firingsOfEvent'>;
    receiver: EventReceiver;
    registry: Registry;
    store: EventStore;
  },
): void {
  const { db, triggers, processors } = deps;
  registerSimulationRoutes(server, {
    simulator: new Simulator({
      db,
      clock: deps.clock,
      workflows: deps.workflows,
      subscriptions: deps.subscriptions,
      dryRun: (trigger, event) => triggers.dryRun(trigger, event),
      dryRunProcessor: (processor, event) => processors.dryRun(processor, event),
    }),
    receiver: deps.receiver,
    registry: deps.registry,
    store: deps.store,
    firingsOf: (eventId) => triggers.firingsOf(eventId),
    processorFiringsOf: (eventId) => processors.firingsOfEvent(eventId),
    deliveriesOf: (eventId) => listAttempts(db, { eventId }, EXPLAINED_ATTEMPTS, 0),
  });
}
