import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import type { Migration } from './db/migrate.ts';
import { registerHealthRoutes } from './http/health.ts';
import { createServer } from './http/server.ts';
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
}

export interface App {
  server: FastifyInstance;
  registry: Registry;
  validators: ValidatorCache;
}

/** Wires the capabilities onto one HTTP server over a migrated database. */
export async function createApp(deps: AppDeps): Promise<App> {
  const server = await createServer({
    logger: deps.logger,
    bodyLimitBytes: deps.config.bodyLimitBytes,
  });
  const compiler = new SchemaCompiler();
  const validators = new ValidatorCache(compiler);
  const registry = new Registry({ db: deps.db, clock: deps.clock, compiler, validators });
  registerHealthRoutes(server, deps.db, deps.migrations);
  registerRegistryRoutes(server, registry);
  await server.ready();
  return { server, registry, validators };
}
