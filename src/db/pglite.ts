import { PGlite, type Transaction } from '@electric-sql/pglite';
import { lockDataDir } from './data-dir-lock.ts';
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
/**
 * Where the start-up's phases are marked (observability's StartupTimeline fits): declared here
 * because the store sits below observability and must not import it.
 */
export interface StartupMarks {
  /** Ends the phase running since the previous mark. */
  mark(phase: string): void;
}

export interface PgliteOptions {
  /** Folder holding the database files; `undefined` keeps everything in memory (tests). */
  dataDir: string | undefined;
  /** Marks `store lock` once the data folder is ours (start-up timing; default: none). */
  timeline?: StartupMarks;
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

/**
 * Opens the embedded database; a data folder is taken for this process first (see
 * `data-dir-lock.ts`) and freed by `close`. Throws `DataDirInUse` when another process
 * has it.
 */
export async function openPglite(options: PgliteOptions): Promise<Database> {
  const lock = options.dataDir === undefined ? undefined : await lockDataDir(options.dataDir);
  options.timeline?.mark('store lock');
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(options.dataDir, {
      parsers: {
        [PG_TYPE.INT8]: (text: string) => Number(text),
        [PG_TYPE.TIMESTAMP]: parseUtcTimestamp,
      },
    });
    await pglite.exec("SET TimeZone = 'UTC'");
  } catch (error) {
    await lock?.release();
    throw error;
  }
  const db = wrap(pglite);
  return {
    kind: 'pglite',
    ...db,
    transaction: <T>(fn: (tx: Queryable) => Promise<T>): Promise<T> =>
      translated(() => pglite.transaction((tx) => fn(wrap(tx)))),
    async close() {
      await pglite.close();
      await lock?.release();
    },
  };
}
