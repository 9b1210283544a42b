/**
 * Postgres SQLSTATEs and connection failures the service reacts to, as typed errors. The
 * repositories of each capability turn these into domain errors (with meaning for the client);
 * nothing above the data layer looks at SQLSTATE codes.
 */

import { AppError } from '../errors.ts';

export class UniqueViolation extends Error {
  override name = 'UniqueViolation';
  constructor(readonly constraint: string | undefined) {
    super(`unique constraint ${constraint ?? '(unknown)'} violated`);
  }
}

export class ForeignKeyViolation extends Error {
  override name = 'ForeignKeyViolation';
  constructor(readonly constraint: string | undefined) {
    super(`foreign key ${constraint ?? '(unknown)'} violated`);
  }
}

/** SQLSTATE class 22: a value PostgreSQL refuses (bad text encoding, out-of-range number…). */
export class DataError extends Error {
  override name = 'DataError';
}

/**
 * The database is unreachable, shutting down, or did not answer within its timeouts: worth a
 * retry later, not a client error. Every route answers it as 503 `unavailable` with
 * `Retry-After`; the workers back off on it. What went wrong is kept as the `cause` (logs).
 */
export class DatabaseUnavailable extends AppError {
  override name = 'DatabaseUnavailable';
  constructor(cause: unknown) {
    super(503, 'unavailable', 'the database is unavailable; retry shortly', [], {
      'retry-after': '1',
    });
    this.cause = cause;
  }
}

interface PgLikeError {
  code?: string;
  constraint?: string;
}

/** SQLSTATEs of a server going away or refusing connections, and of the statement timeout. */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown (pg_ctl stop -m fast)
  '57P02', // crash_shutdown (-m immediate, or another backend crashed)
  '57P03', // cannot_connect_now (starting up, shutting down, in recovery)
  '57014', // query_canceled: what DATABASE_STATEMENT_TIMEOUT_MS raises
  '53300', // too_many_connections
]);

/** Socket errors of a connection that could not be made or was cut. */
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * What `pg` says, without a code, when a connection ends, cannot be made in time, a statement
 * gets no answer in time (a frozen server), or a client whose connection failed is used again.
 */
const UNAVAILABLE_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Client was closed)/;

/** True when `error` says the database cannot be reached now, rather than refusing the SQL. */
function isUnavailable(error: Error, code: string | undefined): boolean {
  if (code !== undefined) {
    return (
      code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code)
    );
  }
  return UNAVAILABLE_MESSAGES.test(error.message);
}

export function translatePgError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof AppError) return error;
  const { code, constraint } = error as PgLikeError;
  switch (code) {
    case '23505':
      return new UniqueViolation(constraint);
    case '23503':
    case '23001': // restrict_violation: what an ON DELETE RESTRICT reference raises
      return new ForeignKeyViolation(constraint);
    default:
      if (isUnavailable(error, code)) return new DatabaseUnavailable(error);
      return code?.startsWith('22') ? new DataError(error.message, { cause: error }) : error;
  }
}

/** Runs a database call, its PostgreSQL errors turned into domain errors (both backends). */
export async function translated<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw translatePgError(error);
  }
}
