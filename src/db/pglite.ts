import { PGlite, type Transaction } from '@electric-sql/pglite';
import {
  type Database,
  PG_TYPE,
  parseUtcTimestamp,
  type Queryable,
  type QueryResult,
  toDbParams,
} from './database.ts';
import { translated } from './pg-errors.ts';

/** Options of the embedded backend. */
export interface PgliteOptions {
  /** Folder holding the database files; `undefined` keeps everything in memory (tests). */
  dataDir: string | undefined;
}

function wrap(target: PGlite | Transaction): Queryable {
  return {
    query: <R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> =>
      translated(async () => {
        const result = await target.query<R>(sql, toDbParams(params));
        return { rows: result.rows, rowCount: result.rows.length || result.affectedRows || 0 };
      }),
    exec: (sql: string) =>
      translated(async () => {
        await target.exec(sql);
      }),
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
    transaction: <T>(fn: (tx: Queryable) => Promise<T>): Promise<T> =>
      translated(() => pglite.transaction((tx) => fn(wrap(tx)))),
    close: () => pglite.close(),
  };
}
