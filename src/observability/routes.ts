import type { FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.ts';

/**
 * `GET /metrics`, public: Prometheus scrapes without credentials by default, and the metrics
 * carry no event data, event ids or secrets (labels are bounded: pattern names, route templates,
 * subscription ids).
 * Where pattern names or traffic volumes are sensitive, keep the port off public networks.
 */
export function registerMetricsRoutes(app: FastifyInstance, metrics: Metrics): void {
  app.get(
    '/metrics',
    {
      config: { access: 'public' },
      schema: {
        operationId: 'getMetrics',
        tags: ['operability'],
        summary: 'Prometheus metrics (text format)',
        response: {
          200: {
            description: 'the Prometheus text exposition format',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
        },
      },
    },
    async (_request, reply) => {
      const body = await metrics.exposition();
      return reply.header('content-type', metrics.contentType).send(body);
    },
  );
}
