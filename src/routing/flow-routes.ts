import type { FastifyInstance } from 'fastify';
import { grants, type Scope } from '../auth/scopes.ts';
import type { Clock } from '../clock.ts';
import type { FlowRates } from './flow-rates.ts';
import type { TargetKind } from './work.ts';

/** The scope that shows a kind of edge. */
const EDGE_SCOPES: Record<TargetKind, Scope> = {
  trigger: 'triggers:read',
  delivery: 'subscriptions:read',
  processor: 'processors:read',
  resume: 'waits:read',
};

const edgeRateSchema = {
  type: 'object',
  required: ['kind', 'pattern', 'targetId', 'attempts', 'failures', 'fired'],
  properties: {
    kind: { type: 'string', enum: ['trigger', 'delivery', 'processor', 'resume'] },
    pattern: { type: 'string', description: "the event's pattern (definition side of the edge)" },
    targetId: { type: 'string', description: 'the trigger, subscription or event processor id' },
    attempts: { type: 'integer', description: 'attempts in the window' },
    failures: { type: 'integer', description: 'attempts that failed (retried or dead-lettered)' },
    fired: {
      type: 'integer',
      description:
        'attempts that passed something on: trigger attempts that started or cancelled workflows, processor attempts that derived their output event',
    },
  },
} as const;

/**
 * `GET /v1/flow/rates`: the routing engine's attempts per edge (event pattern → trigger,
 * subscription or event processor) over the last minutes, as JSON for the console's flow map
 * rather than scraped from /metrics text. Any key may ask; it sees each kind of edge only with
 * that kind's read scope (`triggers:read`, `subscriptions:read`, `processors:read`, `waits:read`).
 */
export function registerFlowRatesRoute(app: FastifyInstance, rates: FlowRates, clock: Clock): void {
  app.get<{ Querystring: { minutes: number } }>(
    '/v1/flow/rates',
    {
      config: { access: 'authenticated' },
      schema: {
        operationId: 'getFlowRates',
        tags: ['operability'],
        summary: 'Routing attempts and failures per edge over the last minutes (this process)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            minutes: { type: 'integer', minimum: 1, maximum: rates.keptMinutes, default: 5 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['minutes', 'until', 'edges'],
            properties: {
              minutes: { type: 'integer' },
              until: { type: 'string', format: 'date-time' },
              edges: { type: 'array', items: edgeRateSchema },
            },
          },
        },
      },
    },
    async (request) => {
      const now = clock.now();
      const scopes = request.principal?.scopes;
      const visible = (kind: TargetKind) => !scopes || grants(scopes, EDGE_SCOPES[kind]);
      return {
        minutes: request.query.minutes,
        until: now.toISOString(),
        edges: rates.window(request.query.minutes, now).filter((edge) => visible(edge.kind)),
      };
    },
  );
}
