import { randomUUID } from 'node:crypto';
import SerializerSelector from '@fastify/fast-json-stringify-compiler';
import swagger from '@fastify/swagger';
import { trace } from '@opentelemetry/api';
import { Ajv, type ValidateFunction } from 'ajv';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { installRequestObservability } from '../observability/http.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Tracing } from '../observability/tracing.ts';
import { addFormats } from '../schema/formats.ts';
import { clientErrorHandler, frameworkErrors, installErrorHandling } from './errors.ts';
import { installJsonBodyParser } from './json-body.ts';
import { installRouteConventions } from './route-conventions.ts';

export interface ServerOptions<Routes> {
  logger: Logger;
  /** Largest JSON body a route accepts unless it sets its own limit. */
  bodyLimitBytes: number;
  /** Deepest nesting of objects and arrays in any JSON body. Default 64 (`BODY_MAX_DEPTH`). */
  bodyMaxDepth?: number;
  metrics: Metrics;
  tracing: Tracing;
  /**
   * Installs access control before any route is registered: the service passes
   * `installAccessControl` of src/auth/access.ts, which refuses a route without
   * `config.access`. Passed in because auth sits above this layer (its routes are built on it).
   */
  installAccessControl(app: FastifyInstance): Routes;
}

export interface Server<Routes> {
  server: FastifyInstance;
  /** What access control answered: the service's lists every route registered on `server`. */
  routes: Routes;
  /**
   * Compiles the route schemas no request has compiled yet (they compile on first use, for
   * quick restarts), yielding to requests between schemas; rejects, naming the route, on the
   * first that does not compile. The service calls it once it listens (src/main.ts).
   */
  compileRouteSchemas(): Promise<{ schemas: number; longestMs: number }>;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

const MAX_PARAM_LENGTH = 255 * 9;

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
  for (const ajv of [body, other]) {
    addFormats(ajv);
    // ajv-formats' `uuid` also admits a `urn:uuid:` prefix, which PostgreSQL's uuid type refuses:
    // every route taking a UUID gets the plain form only.
    ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
  }
  return { body, other };
}

/**
 * Route validators and response serializers, each compiled on its first use. Fastify compiles
 * every route's validators and response serializers when the server gets ready: about 4 s of
 * CPU for our routes (fast-json-stringify checks and generates each response schema, Ajv each
 * request schema), the largest part of a restart (see bench/restart.ts). Compiled lazily, a
 * route pays its own few milliseconds on its first request instead, as the payload validators
 * of event definitions already do (src/registry/validator-cache.ts).
 *
 * A schema that does not compile would then be found by a route's first request (a 500) rather
 * than at start-up, so {@link compileAll} compiles them all once the service listens, in the
 * background, and fails on the first that does not compile.
 */
class CompiledOnFirstUse {
  /** What is still to compile, with the route part it belongs to; emptied by compileAll. */
  private pending: { part: string; compile: () => unknown }[] = [];

  /** A getter of `compile()`'s result that compiles on its first call, once. */
  add<T>(part: string, compile: () => T): () => T {
    let compiled: { value: T } | undefined;
    const get = () => {
      compiled ??= { value: compile() };
      return compiled.value;
    };
    this.pending.push({ part, compile: get });
    return get;
  }

  /**
   * Compiles every schema not compiled yet, one per turn of the event loop, so requests are
   * answered in between: one waits at most for the schema being compiled (`longestMs`, the
   * slowest: 86-137 ms of 1,095 on a loaded 2-core machine, 2.3 ms on average). Rejects on the
   * first schema that does not compile, naming its route.
   */
  async compileAll(): Promise<{ schemas: number; longestMs: number }> {
    const pending = this.pending;
    this.pending = [];
    let longestMs = 0;
    for (const { part, compile } of pending) {
      await new Promise((resolve) => setImmediate(resolve));
      const started = performance.now();
      try {
        compile();
      } catch (error) {
        throw new Error(`the schema of ${part} does not compile: ${(error as Error).message}`, {
          cause: error,
        });
      }
      longestMs = Math.max(longestMs, performance.now() - started);
    }
    return { schemas: pending.length, longestMs: Math.round(longestMs * 10) / 10 };
  }
}

/**
 * A route's request validator, compiled on its first call (see {@link CompiledOnFirstUse}).
 * Fastify calls an Ajv function with the request as its parent (`schemaEnv` tells it that it is
 * one), so that coercion and defaults may replace a whole request part, and then reads its
 * `errors`: both are passed on.
 */
function validatorCompiledOnFirstUse(compiled: () => ValidateFunction) {
  const validate = (data: unknown, parent?: Parameters<ValidateFunction>[1]) => {
    const valid = compiled()(data, parent);
    lazy.errors = compiled().errors;
    return valid;
  };
  const lazy = Object.assign(validate, {
    errors: null as ValidateFunction['errors'],
    schemaEnv: true,
  });
  return lazy;
}

/** Fastify's own response serializers (fast-json-stringify), each compiled on its first use. */
function serializersCompiledOnFirstUse(
  schemas: CompiledOnFirstUse,
): SerializerSelector.SerializerFactory {
  const buildDefault = SerializerSelector();
  return (externalSchemas, options) => {
    const compile = buildDefault(externalSchemas, options);
    return (route) => {
      const serializer = schemas.add(
        `${route.method} ${route.url} response ${route.httpStatus}`,
        () => compile(route),
      );
      return (document) => serializer()(document);
    };
  };
}

/**
 * The Fastify instance every capability registers its routes on: JSON in and out, the error
 * envelope, request ids, one log line per request, a server span and latency metrics per
 * request, access control (every route declares `config.access`; see src/auth/access.ts) and an
 * OpenAPI document generated from the route schemas (the same schemas that validate requests,
 * so the document cannot drift).
 */
export async function createServer<Routes>(
  options: ServerOptions<Routes>,
): Promise<Server<Routes>> {
  const schemas = new CompiledOnFirstUse();
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
    // A path parameter may be any identifier of the data model (at most 255 UTF-16 units, each
    // percent-encoded in at most 9 characters); longer segments answer 414 in the envelope.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    clientErrorHandler,
    schemaController: {
      compilersFactory: { buildSerializer: serializersCompiledOnFirstUse(schemas) },
    },
  });
  installErrorHandling(app);
  installRouteConventions(app);
  // JSON only: Fastify's default text/plain parser would hand strings to JSON routes.
  app.removeContentTypeParser('text/plain');
  // CloudEvents' JSON media types (structured and batch mode) are JSON like any other body.
  installJsonBodyParser(app, options.bodyMaxDepth ?? 64);
  const validators = requestValidators();
  app.setValidatorCompiler(({ schema, method, url, httpPart }) =>
    validatorCompiledOnFirstUse(
      schemas.add(`${method} ${url} ${httpPart}`, () =>
        (httpPart === 'body' ? validators.body : validators.other).compile(schema),
      ),
    ),
  );
  // Callback hooks, not async ones (here and in src/observability/http.ts): they run for every
  // request, and an async hook costs a promise and a microtask turn each time.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    // Skips building the line when info is off (benchmarks, LOG_LEVEL=warn): every request pays it.
    const { values } = options.logger.levels;
    if ((values[request.log.level] ?? 0) > values.info!) return done();
    request.log.info(
      {
        method: request.method,
        url: request.url,
        route: request.routeOptions.url,
        statusCode: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
        // Who called (the key's id, never the key; a token's subject) and the trace, to find
        // the request's spans.
        apiKeyId: request.principal?.type === 'api_key' ? request.principal.keyId : undefined,
        tokenSubject:
          request.principal?.type === 'oauth_token' ? request.principal.subject : undefined,
        traceId: request.traceContext && trace.getSpanContext(request.traceContext)?.traceId,
      },
      'request',
    );
    done();
  });
  // Before any route is registered: access control checks each route as it is added.
  installRequestObservability(app, { metrics: options.metrics, tracing: options.tracing });
  const routes = options.installAccessControl(app);
  app.addHook('onClose', () => options.tracing.shutdown());
  await app.register(swagger, {
    transformObject: (document) =>
      'openapiObject' in document
        ? describeCallbacks(document.openapiObject)
        : document.swaggerObject,
    // Shared schemas keep their $id as their name: components/schemas/Error, not def-0.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Event Processing Service',
        version: '0.1.0',
        description:
          'Event definition registry, event store and routing. Errors use the envelope `{ error: { code, message, details } }`.',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      // The default address of a local service; a deployment serves the same paths elsewhere.
      servers: [{ url: 'http://127.0.0.1:8080', description: 'local (default HOST and PORT)' }],
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description:
              'An API key (`eps_…`), or an OAuth 2.0 access token (a JWT) where the service is configured for one',
          },
        },
      },
    },
  });
  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () =>
    app.swagger(),
  );
  return { server: app, routes, compileRouteSchemas: () => schemas.compileAll() };
}

/**
 * @fastify/swagger drops `summary` and `security` from callback operations (the requests the
 * service makes, e.g. a wait's notification), so they are set here: the callback's name as its
 * summary, and no security scheme (the receiver checks the request's signature instead).
 */
function describeCallbacks<Document extends { paths?: object }>(document: Document): Document {
  type CallbackOperation = { summary?: string; security?: unknown[] };
  type Operation = {
    callbacks?: Record<string, Record<string, Record<string, CallbackOperation>>>;
  };
  for (const pathItem of Object.values(document.paths ?? {}) as Record<string, Operation>[]) {
    for (const operation of Object.values(pathItem)) {
      for (const [name, expressions] of Object.entries(operation?.callbacks ?? {})) {
        for (const callbackItem of Object.values(expressions)) {
          for (const callbackOperation of Object.values(callbackItem)) {
            callbackOperation.summary ??= name;
            callbackOperation.security ??= [];
          }
        }
      }
    }
  }
  return document;
}
