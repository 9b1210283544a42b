import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Database } from './database.ts';
import { openPglite } from './pglite.ts';
import { openPostgres } from './postgres.ts';

/** The PostgreSQL server when `DATABASE_URL` is set, the embedded PGlite otherwise. */
export function openDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir' | 'database'>,
  logger?: Pick<Logger, 'warn'>,
): Promise<Database> {
  return config.databaseUrl
    ? openPostgres({ connectionString: config.databaseUrl, ...config.database, logger })
    : openPglite({ dataDir: config.dataDir });
}
