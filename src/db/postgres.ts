import pg from 'pg';
import type { Logger } from 'pino';
import {
  type Database,
  PG_TYPE,
  parseUtcTimestamp,
  type Queryable,
  type QueryOptions,
  type QueryResult,
  toDbParams,
} from './database.ts';
import { listen } from './listener.ts';
import { DatabaseUnavailable, translated, translatePgError } from './pg-errors.ts';

/** Options of the PostgreSQL server backend. */
export interface PostgresOptions {
  connectionString: string;
  /** Largest number of pooled connections. Default 10. */
  maxConnections?: number;
  /** How long opening a connection (or waiting for a pooled one) may take, in ms. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * Longest statement, in ms: the server cancels it (`statement_timeout`), and a server that
   * does not answer at all (frozen, cut off) is given up on shortly after. 0 = no limit.
   * Default 5000.
   */
  statementTimeoutMs?: number;
  /** Told about connections lost while idle (they are replaced); default: not told. */
  logger?: Pick<Logger, 'warn'>;
}

/**
 * How much longer than the server's statement timeout the client waits for an answer before it
 * gives the connection up: the server's own cancel normally comes first and keeps the connection.
 */
const NO_ANSWER_GRACE_MS = 1000;

const typeParsers = {
  getTypeParser(oid: number, format?: string) {
    if (oid === PG_TYPE.INT8) return (text: string) => Number(text);
    if (oid === PG_TYPE.TIMESTAMP) return parseUtcTimestamp;
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as unknown as pg.CustomTypesConfig;

/** Characters an element of an array literal must escape with a backslash. */
const NEEDS_ESCAPE = /[\\"]/;
/**
 * Characters `JSON.stringify` would write as escape sequences an array literal does not read
 * (`\n`, `\u0001`, a lone surrogate's `\udc00`); any surrogate, for a simpler test.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds.
const NOT_AS_JSON = /[\u0000-\u001f\ud800-\udfff]/;

/**
 * An array of text, numbers and booleans (nulls among them) as PostgreSQL's array literal text,
 * spelled as pg's own `arrayString` spells it (every element quoted, `\` and `"` escaped, null as
 * NULL), but an element is only run through the escaping when it holds one of those two
 * characters: pg ran two regular-expression replaces on every element of every array, ~30% of
 * the CPU it spent preparing the outbox write's parameters (tens of arrays of uuids, keys and
 * times per event). Undefined for an array of anything else, left to pg.
 */
export function arrayLiteral(values: readonly unknown[]): string | undefined {
  // Most arrays are ids, keys and times that need no escaping: one join makes the literal as
  // one string, where element by element it was made of three string pieces per element
  // (`"x"`, `,"x"`, the text so far) that the garbage collector then had to sweep away.
  if (values.every(isPlainText)) return values.length === 0 ? '{}' : `{"${values.join('","')}"}`;
  const elements = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const item = values[i];
    if (item === null || item === undefined) elements[i] = 'NULL';
    else if (typeof item === 'string')
      elements[i] = NEEDS_ESCAPE.test(item) ? escaped(item) : `"${item}"`;
    else if (typeof item === 'number' || typeof item === 'boolean') elements[i] = `"${item}"`;
    else return undefined;
  }
  return `{${elements.join(',')}}`;
}

const isPlainText = (item: unknown) => typeof item === 'string' && !NEEDS_ESCAPE.test(item);

/**
 * A text holding `"` or `\` as an array element, quoted and those escaped. Mostly JSON texts
 * (payloads, firing records): `JSON.stringify` of a text quotes it and escapes exactly those two
 * when it holds none of {@link NOT_AS_JSON}, natively, 1.3 µs for a 430-byte firing record where
 * a regular-expression replace took 3.0 µs and two `replaceAll` 2.1 µs, the rest's way
 * (microbenchmark, 2-core EPYC, each with its share of the literal).
 */
const escaped = (text: string) =>
  NOT_AS_JSON.test(text)
    ? `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`
    : JSON.stringify(text);

/** Parameters as pg sends them, arrays of plain values already as literal text. */
const pgParams = (params: unknown[] | undefined) =>
  toDbParams(params)?.map((p) => (Array.isArray(p) ? (arrayLiteral(p) ?? p) : p));

/**
 * `query` is bounded by `readTimeoutMs` on the client side too (a frozen server never sends the
 * statement timeout's error). `exec` (migrations, partition DDL) is bounded by the server only:
 * a migration lifts the statement timeout, as a schema change on a big table may take long.
 */
function wrap(client: pg.Pool | pg.PoolClient, readTimeoutMs: number | undefined): Queryable {
  return {
    query: <R>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<R>> =>
      translated(async () => {
        const result = await client.query({
          text: sql,
          values: pgParams(params),
          ...(options?.prepared ? { name: options.prepared } : {}),
          ...(readTimeoutMs ? { query_timeout: readTimeoutMs } : {}),
        } as pg.QueryConfig);
        return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
      }),
    exec: (sql: string) =>
      translated(async () => {
        await client.query(sql);
      }),
  };
}

export async function openPostgres(options: PostgresOptions): Promise<Database> {
  const statementTimeoutMs = options.statementTimeoutMs ?? 5000;
  const readTimeoutMs =
    statementTimeoutMs > 0 ? statementTimeoutMs + NO_ANSWER_GRACE_MS : undefined;
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    types: typeParsers,
    options: '-c TimeZone=UTC',
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    ...(statementTimeoutMs > 0 ? { statement_timeout: statementTimeoutMs } : {}),
    // Finds connections cut without a word (a host gone, a firewall) instead of waiting forever.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // An idle connection lost (server restarted or gone) must not end the process: the pool has
  // dropped it already and opens a new one when one is needed.
  pool.on('error', (error) =>
    options.logger?.warn({ err: error }, 'idle database connection lost; it will be replaced'),
  );
  const db = wrap(pool, readTimeoutMs);
  await db.query('SELECT 1');
  return {
    kind: 'postgres',
    ...db,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await translated(() => pool.connect());
      // While checked out the pool does not listen for the connection's errors; an 'error'
      // without a listener would end the process. The failing query rejects on its own.
      let lost: Error | undefined;
      const onError = (error: Error) => {
        lost = error;
      };
      client.on('error', onError);
      const tx = wrap(client, readTimeoutMs);
      try {
        await tx.query('BEGIN');
        const result = await fn(tx);
        await tx.query('COMMIT');
        client.off('error', onError);
        client.release();
        return result;
      } catch (error) {
        const translatedError = translatePgError(error);
        const broken = lost !== undefined || translatedError instanceof DatabaseUnavailable;
        // A connection that failed or may still be running the statement is closed, not
        // reused: the server rolls back what it had on its own.
        if (!broken) await tx.query('ROLLBACK').catch(() => {});
        client.off('error', onError);
        client.release(broken ? (lost ?? (error as Error)) : undefined);
        throw translatedError;
      }
    },
    listen: (channel, onNotify, onError) =>
      listen({
        connectionString: options.connectionString,
        channel,
        onNotify,
        onError,
        connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      }),
    stats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: () => pool.end(),
  };
}
