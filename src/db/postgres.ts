import pg from 'pg';
import {
  type Database,
  PG_TYPE,
  parseUtcTimestamp,
  type Queryable,
  type QueryResult,
  toDbParams,
} from './database.ts';
import { translated, translatePgError } from './pg-errors.ts';

/** Options of the PostgreSQL server backend. */
export interface PostgresOptions {
  connectionString: string;
  /** Largest number of pooled connections. Default 10. */
  maxConnections?: number;
}

const typeParsers = {
  getTypeParser(oid: number, format?: string) {
    if (oid === PG_TYPE.INT8) return (text: string) => Number(text);
    if (oid === PG_TYPE.TIMESTAMP) return parseUtcTimestamp;
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as unknown as pg.CustomTypesConfig;

function wrap(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    query: <R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> =>
      translated(async () => {
        const result = await client.query(sql, toDbParams(params));
        return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
      }),
    exec: (sql: string) =>
      translated(async () => {
        await client.query(sql);
      }),
  };
}

export async function openPostgres(options: PostgresOptions): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    types: typeParsers,
    options: '-c TimeZone=UTC',
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  const db = wrap(pool);
  await db.query('SELECT 1');
  return {
    kind: 'postgres',
    ...db,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw translatePgError(error);
      } finally {
        client.release();
      }
    },
    stats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: () => pool.end(),
  };
}
