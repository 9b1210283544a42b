/**
 * Postgres SQLSTATEs the service reacts to, as typed errors. The repositories of each capability
 * turn these into domain errors (with meaning for the client); nothing above the data layer looks
 * at SQLSTATE codes.
 */

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

/** The server is unreachable or shutting down: worth a retry later, not a client error. */
export class DatabaseUnavailable extends Error {
  override name = 'DatabaseUnavailable';
}

interface PgLikeError {
  code?: string;
  constraint?: string;
}

export function translatePgError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const { code, constraint } = error as PgLikeError;
  switch (code) {
    case '23505':
      return new UniqueViolation(constraint);
    case '23503':
    case '23001': // restrict_violation: what an ON DELETE RESTRICT reference raises
      return new ForeignKeyViolation(constraint);
    case '57P01': // admin_shutdown
    case '57P03': // cannot_connect_now
    case '08000':
    case '08003':
    case '08006':
      return new DatabaseUnavailable(error.message, { cause: error });
    default:
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
