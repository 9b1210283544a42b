import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { RouteAccess } from './auth/access.ts';
import { ApiKeys } from './auth/api-keys.ts';
import { RateLimiter } from './auth/rate-limit.ts';
import { RateLimitStore } from './auth/rate-limit-store.ts';
import { registerApiKeyRoutes } from './auth/routes.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import type { Migration } from './db/migrate.ts';
import { registerHealthRoutes } from './http/health.ts';
import { createServer } from './http/server.ts';
import { Metrics } from './observability/metrics.ts';
import { registerMetricsRoutes } from './observability/routes.ts';
import { Tracing } from './observability/tracing.ts';
import { registerRegistryRoutes } from './registry/routes.ts';
import { Registry } from './registry/service.ts';
import { ValidatorCache } from './registry/validator-cache.ts';
import { SchemaCompiler } from './schema/compiler.ts';

/** What the service is built from; everything is passed in, nothing is global. */
export interface AppDeps {
  config: Config;
  db: Database;
  clock: Clock;
  logger: Logger;
  migrations: Migration[];
  /** Tracing of one's own (tests: an in-memory exporter); default: built from `config`. */
  tracing?: Tracing;
}

export interface App {
  server: FastifyInstance;
  registry: Registry;
  validators: ValidatorCache;
  apiKeys: ApiKeys;
  rateLimiter: RateLimiter;
  /** The Prometheus metrics; capabilities report through its methods. */
  metrics: Metrics;
  /** The tracer and trace-context propagation; parent spans on `request.traceContext`. */
  tracing: Tracing;
  /** Every registered route with its access rule. */
  routes: RouteAccess[];
}

/** Wires the capabilities onto one HTTP server over a migrated database. */
export async function createApp(deps: AppDeps): Promise<App> {
  const { config, db, clock, logger } = deps;
  const metrics = new Metrics({ db, maxPatterns: config.metricsMaxPatterns });
  const tracing =
    deps.tracing ??
    new Tracing({ serviceName: config.serviceName, otlpEndpoint: config.otlpEndpoint });
  const apiKeys = new ApiKeys({ db, clock, cacheSeconds: config.apiKeyCacheSeconds });
  const rateLimiter = new RateLimiter({
    store: new RateLimitStore(db),
    clock,
    limits: config.rateLimitsPerMinute,
  });
  const { server, routes } = await createServer({
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    metrics,
    tracing,
    access: { apiKeys, rateLimiter, clock, authEnabled: config.authEnabled },
  });
  const compiler = new SchemaCompiler();
  const validators = new ValidatorCache(compiler);
  const registry = new Registry({ db, clock, compiler, validators });
  registerHealthRoutes(server, db, deps.migrations);
  registerMetricsRoutes(server, metrics);
  registerApiKeyRoutes(server, apiKeys);
  registerRegistryRoutes(server, registry);
  await server.ready();
  await announceAccess(config, apiKeys, logger);
  if (tracing.exporting) logger.info({ endpoint: config.otlpEndpoint }, 'exporting spans (OTLP)');
  return { server, registry, validators, apiKeys, rateLimiter, metrics, tracing, routes };
}

/** Ensures the bootstrap admin key and says in the start-up log how callers are checked. */
async function announceAccess(config: Config, apiKeys: ApiKeys, logger: Logger): Promise<void> {
  if (config.bootstrapAdminKey) {
    const outcome = await apiKeys.ensureBootstrapAdmin(config.bootstrapAdminKey);
    if (outcome === 'revoked') {
      logger.warn('BOOTSTRAP_ADMIN_KEY was revoked and stays revoked; unset or replace it');
    } else {
      logger.info({ outcome }, 'bootstrap admin key ensured');
    }
  }
  if (!config.authEnabled) {
    logger.warn(
      { auth: 'off', host: config.host },
      'authentication is OFF: every route is open and nothing is rate limited ' +
        '(allowed on a loopback HOST only; set AUTH=on to require API keys)',
    );
    return;
  }
  const keys = await apiKeys.countActive();
  logger.info({ auth: 'on', activeApiKeys: keys }, 'authentication is on: API keys required');
  if (keys === 0) {
    logger.warn(
      'no API key exists yet: set BOOTSTRAP_ADMIN_KEY or run `npm run keys -- create --scopes admin`',
    );
  }
}
