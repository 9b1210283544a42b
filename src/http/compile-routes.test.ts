import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../observability/metrics.ts';
import { Tracing } from '../observability/tracing.ts';
import { compileRouteSchemasOrStop } from './compile-routes.ts';
import { createServer } from './server.ts';

/**
 * A server as the service makes it (lazy compilers and all), with one route that is fine and
 * whatever the test adds, listening; the log lines it writes, and whether it was stopped.
 */
async function listening(addRoutes: (app: FastifyInstance) => void) {
  const { server, compileRouteSchemas } = await createServer({
    logger: pino({ level: 'silent' }),
    bodyLimitBytes: 1024,
    metrics: new Metrics({ processMetrics: false }),
    tracing: new Tracing({ serviceName: 'test' }),
    // Access control is not what this is about.
    installAccessControl: () => undefined,
  });
  const answer = { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } };
  server.get('/v1/fine', { schema: { operationId: 'fine', response: answer } }, async () => ({
    ok: true,
  }));
  addRoutes(server);
  await server.listen({ port: 0, host: '127.0.0.1' });
  const lines: { level: number; msg: string; err?: { message: string }; schemas?: number }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  let stopped = false;
  const settled = new Promise<void>((resolve) => {
    compileRouteSchemasOrStop({ compileRouteSchemas }, logger, async () => {
      stopped = true;
      await server.close();
      resolve();
    });
    // Compiled or stopped: either writes its line.
    const poll = setInterval(() => {
      if (lines.length > 0) {
        clearInterval(poll);
        resolve();
      }
    }, 5);
  });
  const { port } = server.server.address() as { port: number };
  servers.push(server);
  return { server, url: `http://127.0.0.1:${port}`, lines, settled, wasStopped: () => stopped };
}

const servers: FastifyInstance[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

describe('route schemas compiled after listen', () => {
  it.each([
    [
      'a request schema',
      'POST /v1/faulty body',
      (app: FastifyInstance) =>
        app.post(
          '/v1/faulty',
          {
            schema: {
              operationId: 'faulty',
              body: { type: 'object', properties: { n: { type: 'integr' } } },
            },
          },
          async () => ({}),
        ),
    ],
    [
      'a response schema',
      'GET /v1/faulty response 200',
      (app: FastifyInstance) =>
        app.get(
          '/v1/faulty',
          {
            schema: {
              operationId: 'faulty',
              response: { 200: { type: 'object', required: 'ok' } },
            },
          },
          async () => ({}),
        ),
    ],
  ])(
    'stops the service soon after listen when %s does not compile, naming the route',
    async (_, part, add) => {
      const { url, lines, settled, wasStopped } = await listening(add);
      // Listening and answering, as start-up no longer compiles the schemas.
      expect((await fetch(`${url}/v1/fine`)).status).toBe(200);
      await settled;
      expect(wasStopped()).toBe(true);
      expect(lines).toEqual([
        expect.objectContaining({
          level: 60,
          msg: 'a route schema does not compile: stopping the service',
          err: expect.objectContaining({
            message: expect.stringContaining(`the schema of ${part} does not compile`),
          }),
        }),
      ]);
    },
  );

  it('keeps serving when every schema compiles, and says how many there were', async () => {
    const { url, lines, settled, wasStopped } = await listening(() => {});
    await settled;
    expect(wasStopped()).toBe(false);
    // The route's query validator and the serializers of each answer it declares (conventions add the errors').
    expect(lines).toEqual([
      expect.objectContaining({ level: 30, msg: 'route schemas compiled', schemas: 6 }),
    ]);
    expect(await (await fetch(`${url}/v1/fine`)).json()).toEqual({ ok: true });
  });
});
