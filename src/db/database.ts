import type { Listening } from './listener.ts';

/**
 * The small database interface the service is written against. Two implementations exist:
 * embedded PGlite and a PostgreSQL server through `pg`. Both run the same SQL and migrations.
 *
 * Conventions both implementations guarantee, so callers never branch on the backend:
 * - sessions run in UTC, `timestamp`/`timestamptz` columns come back as `Date`;
 * - `int8` comes back as a JS number (we only use it for counts and sequence values);
 * - `jsonb` comes back parsed. Pass JSON parameters as strings (`JSON.stringify`) with a
 *   `::jsonb` cast: `pg` would turn a JS array into a Postgres array literal.
 */

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface QueryOptions {
  /**
   * Runs the statement as a named prepared statement (PostgreSQL server: parsed and planned
   * once per connection; PGlite: ignored). Only for a constant SQL text that runs often and
   * costs the server more to plan than its parameters change, like the outbox write.
   */
  prepared?: string;
}

export interface Queryable {
  /** One parameterised statement. */
  query<R = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>>;
  /** Several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/** Connection pool use, for the pool gauge. */
export interface PoolStats {
  /** Connections open (idle or busy). */
  total: number;
  /** Open connections not in use. */
  idle: number;
  /** Queries waiting for a connection. */
  waiting: number;
}

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Pool use, where the backend has a pool (`pg`); PGlite is one in-process connection. */
  stats?(): PoolStats;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Notifications of `channel` sent by any process on this database (PostgreSQL server only:
   * PGlite belongs to one process, which wakes itself). The listening connection reconnects
   * by itself; `onNotify` is given each notification's payload, and is also called after each
   * reconnection without one (notifications may have been missed meanwhile); `onError` is told
   * each failure. See db/listener.ts.
   */
  listen?(
    channel: string,
    onNotify: (payload?: string) => void,
    onError: (error: unknown) => void,
  ): Listening;
  close(): Promise<void>;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * `YYYY-MM-DD HH:MM:SS.ffffff` in UTC: how both backends receive Date parameters, so the
 * Node process's own time zone never leaks into `timestamp` columns. `extraMicros` carries
 * precision a Date cannot hold.
 */
export function utcTimestampText(date: Date, extraMicros = 0): string {
  const micros = date.getUTCMilliseconds() * 1000 + extraMicros;
  return (
    `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.${pad(micros, 6)}`
  );
}

const toDbValue = (value: unknown): unknown =>
  value instanceof Date ? utcTimestampText(value) : value;

/** Dates (also inside array parameters) as UTC text; everything else as is. */
export const toDbParams = (params: unknown[] | undefined) =>
  params?.map((p) => (Array.isArray(p) ? p.map(toDbValue) : toDbValue(p)));

/**
 * `timestamp without time zone` values are UTC by our convention. A year past 9999 (an event
 * stamped 9999-12-31 in a zone west of UTC) is written in ISO's extended form, `+0YYYYY`.
 */
export function parseUtcTimestamp(text: string): Date {
  const iso = `${text.replace(' ', 'T')}Z`;
  return new Date(text.charAt(4) === '-' ? iso : `+0${iso}`);
}

export const PG_TYPE = { INT8: 20, TIMESTAMP: 1114, TIMESTAMPTZ: 1184 } as const;
