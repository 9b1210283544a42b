import { PGlite, type Transaction } from '@electric-sql/pglite';
import {
  type Database,
  PG_TYPE,
  parseUtcTimestamp,
  type Queryable,
  type QueryResult,
  toDbParams,
} from './database.ts';
import { translatePgError } from './pg-errors.ts';

/** Options of the embedded backend. */
export interface PgliteOptions {
  /** Folder holding the database files; `undefined` keeps everything in memory (tests). */
  dataDir: string | undefined;
}

function wrap(target: PGlite | Transaction): Queryable {
  return {
    async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
      try {
        const result = await target.query<R>(sql, toDbParams(params));
        return { rows: result.rows, rowCount: result.rows.length || result.affectedRows || 0 };
      } catch (error) {
        throw translatePgError(error);
      }
    },
    async exec(sql: string): Promise<void> {
      try {
        await target.exec(sql);
      } catch (error) {
        throw translatePgError(error);
      }
    },
  };
}

export async function openPglite(options: PgliteOptions): Promise<Database> {
  const pglite = await PGlite.create(options.dataDir, {
    parsers: {
      [PG_TYPE.INT8]: (text: string) => Number(text),
      [PG_TYPE.TIMESTAMP]: parseUtcTimestamp,
    },
  });
  await pglite.exec("SET TimeZone = 'UTC'");
  const db = wrap(pglite);
  return {
    kind: 'pglite',
    ...db,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      try {
        return await pglite.transaction((tx) => fn(wrap(tx)));
      } catch (error) {
        throw translatePgError(error);
      }
    },
    close: () => pglite.close(),
  };
}
