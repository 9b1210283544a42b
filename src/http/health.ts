import type { FastifyInstance } from 'fastify';
import type { Database } from '../db/database.ts';
import { isUpToDate, type Migration } from '../db/migrate.ts';
import { envelope } from './errors.ts';

export function registerHealthRoutes(
  app: FastifyInstance,
  db: Database,
  migrations: Migration[],
): void {
  app.get(
    '/healthz',
    { config: { access: 'public' }, schema: { tags: ['health'], summary: 'The process is up' } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      config: { access: 'public' },
      schema: {
        tags: ['health'],
        summary: 'The database is reachable and every migration is applied',
      },
    },
    async (request, reply) => {
      try {
        if (await isUpToDate(db, migrations)) return { status: 'ready' };
        return reply.code(503).send(envelope('not_ready', 'database migrations are pending'));
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed');
        return reply.code(503).send(envelope('not_ready', 'database is unreachable'));
      }
    },
  );
}
