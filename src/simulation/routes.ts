import type { FastifyInstance } from 'fastify';
import { notFound } from '../errors.ts';
import { type EventInput, type EventInstance, eventInputSchema } from '../events/event.ts';
import { NATIVE_FORMAT } from '../events/format.ts';
import { addSharedSchemas, errorResponseSchema } from '../http/common.ts';
import type { EventReceiver } from '../ingest/receiver.ts';
import { binaryAsNative, singleEventBody, singleEventFormat } from '../ingest/routes.ts';
import type { ProcessorFiringView } from '../processors/processor-routing.ts';
import { eventFromExample } from '../registry/definition.ts';
import type { Registry } from '../registry/service.ts';
import type { EventStore } from '../store/event-store.ts';
import type { FiringView } from '../triggers/trigger-routing.ts';
import { explanationAnswer, simulationAnswer, simulationComponents } from './answer-schemas.ts';
import type { Simulation, Simulator, TriggerSimulation } from './simulator.ts';

const tags = ['events'];

const exampleRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['definition', 'example'],
  properties: {
    definition: {
      type: 'string',
      maxLength: 255,
      description: 'UUID, event_id or pattern (default version unless `version`)',
    },
    version: { type: 'string', maxLength: 50 },
    example: { type: 'integer', minimum: 0, maximum: 1000 },
  },
} as const;

/** `{ definition, example }`: the definition's (default version's) nth example as the event. */
interface ExampleRequest {
  definition: string;
  example: number;
  version?: string;
}

export interface SimulationRouteDeps {
  simulator: Simulator;
  receiver: EventReceiver;
  registry: Registry;
  store: EventStore;
  /** What happened to a stored event: its trigger firings and its delivery attempts. */
  firingsOf(eventId: string): Promise<FiringView[]>;
  /** Its event processors' firings. */
  processorFiringsOf(eventId: string): Promise<ProcessorFiringView[]>;
  deliveriesOf(eventId: string): Promise<Array<Record<string, unknown>>>;
}

/** Most delivery attempts of one event `explain` shows. */
export const EXPLAINED_ATTEMPTS = 1000;

export function registerSimulationRoutes(app: FastifyInstance, deps: SimulationRouteDeps): void {
  addSharedSchemas(app, ...simulationComponents);
  app.post<{ Body: EventInput | ExampleRequest | Record<string, unknown> }>(
    '/v1/events/simulate',
    {
      config: { access: 'subscriptions:read' },
      schema: {
        operationId: 'simulateEvent',
        tags,
        summary:
          'What every trigger, subscription and enabled event processor would do with an event (as POST /v1/events takes it, or a definition example): nothing is stored, started or sent',
        // As POST /v1/events takes an event (native, structured or binary CloudEvent), or an example.
        body: singleEventBody({
          'application/json': { schema: { oneOf: [eventInputSchema, exampleRequestSchema] } },
        }),
        response: {
          200: simulationAnswer,
          400: errorResponseSchema,
          404: errorResponseSchema,
          415: errorResponseSchema,
        },
      },
      preValidation: binaryAsNative,
    },
    async (request) => {
      const format = singleEventFormat(request);
      const { event } =
        format === NATIVE_FORMAT && 'definition' in request.body
          ? await deps.receiver.prepare(
              await exampleOf(deps.registry, request.body as ExampleRequest),
              undefined,
            )
          : await deps.receiver.validate(request.body, undefined, format);
      return {
        simulated: true,
        event: event.instance,
        ...(await deps.simulator.simulate(event.instance)),
      };
    },
  );

  app.get<{ Params: { eventId: string } }>(
    '/v1/events/:eventId/explain',
    {
      config: { access: 'subscriptions:read' },
      schema: {
        operationId: 'explainEvent',
        tags,
        summary:
          "A stored event against today's triggers, subscriptions and enabled event processors, next to what actually happened to it (firings, deliveries, derivations)",
        params: { type: 'object', properties: { eventId: { type: 'string', maxLength: 255 } } },
        response: { 200: explanationAnswer, 404: errorResponseSchema },
      },
    },
    async (request) => {
      const { id: _rowId, ...event } = await deps.store.get(request.params.eventId);
      const [simulation, firings, deliveries, derivations] = await Promise.all([
        deps.simulator.simulate(event),
        deps.firingsOf(event.eventId),
        deps.deliveriesOf(event.eventId),
        deps.processorFiringsOf(event.eventId),
      ]);
      return { event, ...explain(event, simulation, { firings, deliveries, derivations }) };
    },
  );

  async function exampleOf(registry: Registry, request: ExampleRequest): Promise<EventInput> {
    const definition = await registry.get(request.definition, request.version);
    const event = eventFromExample(definition, request.example);
    if (!event) throw notFound(`example ${request.example} of ${request.definition}`);
    return event;
  }

  /** The simulation, each target with what it actually did and why today's answer may differ. */
  function explain(
    event: EventInstance,
    simulation: Simulation,
    { firings, deliveries, derivations }: Happened,
  ) {
    const at = Date.parse(event.timestamp);
    const later = (createdAt: string) => Date.parse(createdAt) > at;
    return {
      triggers: simulation.triggers.map((t) => {
        const happened = firings.filter((f) => f.triggerId === t.triggerId);
        return { ...t, happened, ...triggerNote(t, happened.length > 0, later(t.createdAt)) };
      }),
      subscriptions: simulation.subscriptions.map((s) => {
        const happened = deliveries.filter((d) => d.subscription_id === s.subscriptionId);
        return {
          ...s,
          happened,
          ...(later(s.createdAt) && happened.length === 0 ? { note: CREATED_AFTER } : {}),
        };
      }),
      processors: simulation.processors.map((p) => {
        const happened = derivations.filter((d) => d.processorId === p.processorId);
        return {
          ...p,
          happened,
          ...(later(p.createdAt) && happened.length === 0 ? { note: CREATED_AFTER } : {}),
        };
      }),
      /** Firings and deliveries of targets that no longer exist (or processors now disabled). */
      orphans: {
        processorFirings: derivations.filter(
          (d) => !simulation.processors.some((p) => p.processorId === d.processorId),
        ),
        firings: firings.filter(
          (f) => !simulation.triggers.some((t) => t.triggerId === f.triggerId),
        ),
        deliveries: deliveries.filter(
          (d) => !simulation.subscriptions.some((s) => s.subscriptionId === d.subscription_id),
        ),
      },
    };
  }
}

/** What actually happened to a stored event. */
interface Happened {
  firings: FiringView[];
  deliveries: Array<Record<string, unknown>>;
  derivations: ProcessorFiringView[];
}

const CREATED_AFTER = 'created after the event: it did not exist when the event was routed';

/**
 * Why today's answer for a trigger differs from what happened: it did not exist yet, it is
 * disabled (so nothing was routed to it), or it was disabled after it acted on the event.
 */
function triggerNote(
  trigger: TriggerSimulation,
  happened: boolean,
  createdLater: boolean,
): { note?: string } {
  if (createdLater && !happened) return { note: CREATED_AFTER };
  if (trigger.enabled || trigger.notMatched === 'pattern') return {};
  return {
    note: happened
      ? 'disabled after the event: it acted on the event then, today it would not'
      : 'disabled: events are not routed to it',
  };
}
