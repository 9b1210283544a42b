import type { Logger } from 'pino';
import type { Database } from './database.ts';
import { openPglite, type StartupMarks } from './pglite.ts';
import { openPostgres, type PostgresOptions } from './postgres.ts';

/** Where the database is (src/config.ts reads these from the environment). */
export interface DatabaseLocation {
  /** PostgreSQL server URL; undefined → the embedded PGlite in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** Timeouts of the PostgreSQL server connection (unused by PGlite). */
  database: Pick<PostgresOptions, 'connectTimeoutMs' | 'statementTimeoutMs'>;
}

/** The PostgreSQL server when `DATABASE_URL` is set, the embedded PGlite otherwise. */
export function openDatabase(
  config: DatabaseLocation,
  logger?: Pick<Logger, 'warn'>,
  timeline?: StartupMarks,
): Promise<Database> {
  return config.databaseUrl
    ? openPostgres({ connectionString: config.databaseUrl, ...config.database, logger })
    : openPglite({ dataDir: config.dataDir, timeline });
}
