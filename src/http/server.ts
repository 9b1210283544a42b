import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import { Ajv } from 'ajv';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { addFormats } from '../schema/formats.ts';
import { installErrorHandling } from './errors.ts';

export interface ServerOptions {
  logger: Logger;
  /** Largest JSON body a route accepts unless it sets its own limit. */
  bodyLimitBytes: number;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * JSON bodies are validated as sent (a string is never coerced into a number); query strings,
 * path parameters and headers are text, so they are coerced to the schema's types.
 */
function requestValidators() {
  // verbose: the error carries its schema, whose description makes a readable message.
  const common = {
    allErrors: true,
    strict: false,
    removeAdditional: false,
    useDefaults: true,
    verbose: true,
  } as const;
  const body = new Ajv({ ...common, coerceTypes: false });
  const other = new Ajv({ ...common, coerceTypes: 'array' });
  for (const ajv of [body, other]) addFormats(ajv);
  return { body, other };
}

/**
 * The Fastify instance every capability registers its routes on: JSON in and out, the error
 * envelope, request ids, one log line per request and an OpenAPI document generated from the
 * route schemas (the same schemas that validate requests, so the document cannot drift).
 */
export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    // One line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true },
  });
  installErrorHandling(app);
  // JSON only: Fastify's default text/plain parser would hand strings to JSON routes.
  app.removeContentTypeParser('text/plain');
  const validators = requestValidators();
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? validators.body : validators.other).compile(schema),
  );
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        url: request.url,
        route: request.routeOptions.url,
        statusCode: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
      },
      'request',
    );
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Event Processing Service',
        version: '0.1.0',
        description:
          'Event definition registry, event store and routing. Errors use the envelope `{ error: { code, message, details } }`.',
      },
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
