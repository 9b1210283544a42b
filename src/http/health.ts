import type { FastifyInstance } from 'fastify';
import type { Database } from '../db/database.ts';
import { isUpToDate, type Migration } from '../db/migrate.ts';
import { answerObject, errorResponseSchema } from './common.ts';
import { envelope } from './errors.ts';

/**
 * How long /readyz waits for the database, in ms: a frozen or unreachable database answers
 * 503 within a second (what load balancers' probes allow), not after the connect timeout.
 */
const READINESS_PROBE_MS = 500;

type Readiness = 'ready' | 'migrations_pending' | 'unreachable';

/**
 * One database probe at a time: while a slow probe is still out, further /readyz requests share
 * it instead of piling more queries onto a database that does not answer.
 */
function readinessProbe(db: Database, migrations: Migration[]): () => Promise<Readiness> {
  let inFlight: Promise<Readiness> | undefined;
  return () => {
    inFlight ??= isUpToDate(db, migrations)
      .then(
        (upToDate): Readiness => (upToDate ? 'ready' : 'migrations_pending'),
        (): Readiness => 'unreachable',
      )
      .finally(() => {
        inFlight = undefined;
      });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<Readiness>((resolve) => {
      timer = setTimeout(() => resolve('unreachable'), READINESS_PROBE_MS);
    });
    return Promise.race([inFlight, timedOut]).finally(() => clearTimeout(timer));
  };
}

const statusAnswer = (status: string) =>
  answerObject({ status: { type: 'string', enum: [status] } });

export function registerHealthRoutes(
  app: FastifyInstance,
  db: Database,
  migrations: Migration[],
): void {
  const probe = readinessProbe(db, migrations);
  app.get(
    '/healthz',
    {
      config: { access: 'public' },
      schema: {
        operationId: 'getHealth',
        tags: ['health'],
        summary: 'The process is up',
        response: { 200: statusAnswer('ok') },
      },
    },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      config: { access: 'public' },
      schema: {
        operationId: 'getReadiness',
        tags: ['health'],
        summary: 'The database is reachable and every migration is applied',
        response: { 200: statusAnswer('ready'), 503: errorResponseSchema },
      },
    },
    async (request, reply) => {
      const readiness = await probe();
      if (readiness === 'ready') return { status: 'ready' };
      if (readiness === 'migrations_pending')
        return reply.code(503).send(envelope('not_ready', 'database migrations are pending'));
      request.log.warn('readiness check failed: the database did not answer');
      return reply
        .code(503)
        .header('retry-after', '1')
        .send(envelope('not_ready', 'database is unreachable'));
    },
  );
}
