import type { FastifyInstance } from 'fastify';
import type { Scope } from '../auth/scopes.ts';
import type { Clock } from '../clock.ts';
import { notFound } from '../errors.ts';
import { type EventInput, type EventInstance, eventInputSchema } from '../events/event.ts';
import {
  addSharedSchemas,
  errorResponseSchema,
  eventComponent,
  exactObject,
  listAnswer,
  paginationQuery,
} from '../http/common.ts';
import { idParams, resourceErrors } from '../http/resource-routes.ts';
import type { EventReceiver } from '../ingest/receiver.ts';
import { eventFromExample } from '../registry/definition.ts';
import type { Registry } from '../registry/service.ts';
import { matchesPattern } from '../routing/pattern.ts';
import { replayRange, replayRangeProperties } from '../routing/replay.ts';
import { WORK_STATUSES, type WorkStatus } from '../routing/work.ts';

/**
 * The routes every routing target with firings has (workflow triggers, event processors): a dry
 * run on an event, a replay of stored events, its firing history, and the retry of a dead
 * firing — the same bodies, answers and errors for each kind.
 */

interface TargetRoute {
  /** The route's path, its parameter `:id`. */
  path: string;
  operationId: string;
  access: Scope;
  tags: string[];
  summary: string;
}

const described = (route: TargetRoute) => ({
  operationId: route.operationId,
  tags: route.tags,
  summary: route.summary,
  params: idParams,
});

type DryRunBody = EventInput | { example: number };

/** A dry run's body: an event, or `{ example: n }` for the nth example of the matched definition. */
const dryRunBodySchema = {
  oneOf: [
    eventInputSchema,
    {
      type: 'object',
      additionalProperties: false,
      required: ['example'],
      properties: { example: { type: 'integer', minimum: 0, maximum: 10_000 } },
    },
  ],
} as const;

/** The nth example of the latest definition `eventPattern` matches, as an event. */
async function exampleEvent(
  registry: Registry,
  eventPattern: string,
  index: number,
): Promise<EventInput> {
  const { definitions } = await registry.list({ latest: true, limit: 1000, offset: 0 });
  const definition = definitions
    .filter((d) => matchesPattern(eventPattern, d.pattern))
    .sort((a, b) => a.pattern.localeCompare(b.pattern))[0];
  const event = definition && eventFromExample(definition, index);
  if (!event) throw notFound(`example ${index} of the matched event definition`);
  return event;
}

/**
 * What a target's dry run answers beside `dryRun` and `event`: the target's id, what it would do
 * (`action`), why it failed (`error`), and the record of its evaluation (`record`'s fields,
 * `required` those always sent).
 */
export interface DryRunAnswer {
  /** The target's id field, e.g. `triggerId`. */
  targetIdField: string;
  actions: readonly string[];
  record: Record<string, unknown>;
  required: readonly string[];
}

/** A dry run's answer: `dryRun`, the event as it would be stored, and what the target would do. */
const dryRunAnswerSchema = ({ targetIdField, actions, record, required }: DryRunAnswer) =>
  exactObject<Record<string, unknown>>(
    {
      dryRun: { type: 'boolean', enum: [true] },
      event: { ...eventComponent.ref, description: 'the event as the receiver would store it' },
      [targetIdField]: { type: 'string', format: 'uuid' },
      ...record,
      action: { type: 'string', enum: actions },
      error: { type: 'string', description: 'why the target would fail on the event' },
    },
    ['dryRun', 'event', targetIdField, 'action', ...required],
  );

/**
 * `POST …/{id}/test`: the event as the receiver would take it (every check, nothing stored),
 * and what the target would do with it, `{ dryRun: true, event, …run }`.
 */
export function dryRunRoute<T extends { eventPattern: string }>(
  app: FastifyInstance,
  route: TargetRoute & {
    registry: Registry;
    receiver: EventReceiver;
    /** What `run` answers beside `dryRun` and `event`. */
    answer: DryRunAnswer;
    find(id: string): Promise<T>;
    run(target: T, event: EventInstance): Promise<object> | object;
  },
): void {
  addSharedSchemas(app, eventComponent);
  app.post<{ Params: { id: string }; Body: DryRunBody }>(
    route.path,
    {
      config: { access: route.access },
      schema: {
        ...described(route),
        body: dryRunBodySchema,
        response: {
          200: dryRunAnswerSchema(route.answer),
          ...resourceErrors,
        },
      },
    },
    async (request) => {
      const target = await route.find(request.params.id);
      const input =
        'example' in request.body
          ? await exampleEvent(route.registry, target.eventPattern, request.body.example)
          : request.body;
      const { event } = await route.receiver.prepare(input, undefined);
      return { dryRun: true, event: event.instance, ...(await route.run(target, event.instance)) };
    },
  );
}

/**
 * `POST …/{id}/replay`: `{ startTime, endTime?, force? }` → 202 `{ matched, queued }`; times may
 * be ISO 8601 durations before the clock's now.
 */
export function replayRoute(
  app: FastifyInstance,
  route: TargetRoute & {
    clock: Clock;
    replay(
      id: string,
      scope: { start: string; end: string; force: boolean },
    ): Promise<{ matched: number; queued: number }>;
  },
): void {
  app.post<{
    Params: { id: string };
    Body: { startTime: string; endTime?: string; force?: boolean };
  }>(
    route.path,
    {
      config: { access: route.access },
      schema: {
        ...described(route),
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['startTime'],
          properties: { ...replayRangeProperties, force: { type: 'boolean', default: false } },
        },
        response: {
          202: replayAnswer,
          ...resourceErrors,
        },
      },
    },
    async (request, reply) => {
      const { force = false } = request.body;
      const result = await route.replay(request.params.id, {
        ...replayRange(request.body, route.clock.now()),
        force,
      });
      return reply.code(202).send(result);
    },
  );
}

/** What a replay did: stored events of the range that match, and how many were queued. */
export const replayAnswer = exactObject(
  {
    matched: { type: 'integer', description: 'stored events of the range the pattern matches' },
    queued: {
      type: 'integer',
      description: 'of those, queued now (the rest were routed to the target before)',
    },
  },
  ['matched', 'queued'],
);

/** Paging and the status filter of a firing history. */
export interface FiringsQuery {
  status?: WorkStatus;
  limit: number;
  offset: number;
}

/** `GET …/{id}/firings`: the target's firings, newest first; `status=dead` lists those to retry. */
export function firingsRoute(
  app: FastifyInstance,
  route: TargetRoute & {
    /** The schema of one firing. */
    firing: object;
    firings(id: string, query: FiringsQuery): Promise<object[]>;
  },
): void {
  app.get<{ Params: { id: string }; Querystring: FiringsQuery }>(
    route.path,
    {
      config: { access: route.access },
      schema: {
        ...described(route),
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...WORK_STATUSES] },
            ...paginationQuery,
          },
        },
        response: { 200: listAnswer('firings', route.firing), 404: errorResponseSchema },
      },
    },
    async (request) => ({ firings: await route.firings(request.params.id, request.query) }),
  );
}

/** Paging of a dead-work list. */
export interface DeadWorkQuery {
  limit: number;
  offset: number;
}

/**
 * `GET /v1/trigger-firings?status=dead` (and the processors' firings, the waits' notifications):
 * the dead work of every target of a kind, most recently dead first, so an operator finds what
 * to retry without asking each target. Only `dead` is listed across targets; a target's whole
 * history is its own firings list.
 */
export function deadWorkRoute(
  app: FastifyInstance,
  route: TargetRoute & {
    /** The answer's list property. */
    listKey: string;
    /** The schema of one listed item. */
    item: object;
    dead(query: DeadWorkQuery): Promise<object[]>;
  },
): void {
  app.get<{ Querystring: DeadWorkQuery & { status: 'dead' } }>(
    route.path,
    {
      config: { access: route.access },
      schema: {
        operationId: route.operationId,
        tags: route.tags,
        summary: route.summary,
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['status'],
          properties: { status: { type: 'string', enum: ['dead'] }, ...paginationQuery },
        },
        response: { 200: listAnswer(route.listKey, route.item), 400: errorResponseSchema },
      },
    },
    async (request) => {
      const { limit, offset } = request.query;
      return { [route.listKey]: await route.dead({ limit, offset }) };
    },
  );
}

/** A dead-lettered firing or delivery queued again. */
export const queuedAgain = exactObject(
  { id: { type: 'string' }, status: { type: 'string', enum: ['pending'] } },
  ['id', 'status'],
);

/** `POST …-firings/{id}/retry`: a dead firing queued again with fresh attempts (202; 409 unless dead). */
export function retryFiringRoute(
  app: FastifyInstance,
  route: TargetRoute & { retry(id: string): Promise<void> },
): void {
  app.post<{ Params: { id: string } }>(
    route.path,
    {
      config: { access: route.access },
      schema: {
        ...described(route),
        response: { 202: queuedAgain, 404: errorResponseSchema, 409: errorResponseSchema },
      },
    },
    async (request, reply) => {
      await route.retry(request.params.id);
      return reply.code(202).send({ id: request.params.id, status: 'pending' });
    },
  );
}
