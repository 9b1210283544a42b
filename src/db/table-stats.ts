import type { Database, Queryable } from './database.ts';

/** The tables that grow with traffic, whose size `/metrics` shows (`eps_table_rows`). */
export const GROWING_TABLES = [
  'events',
  'routing_work',
  'delivery_attempts',
  'workflow_instances',
  'waits',
] as const;

/**
 * Estimated rows of each {@link GROWING_TABLES} table: PostgreSQL's own estimate
 * (`pg_class.reltuples`, summed over the partitions of `events`), which costs nothing to read;
 * an exact count only for a table never analyzed yet (reltuples -1), where no estimate exists.
 */
export async function tableRowEstimates(db: Queryable): Promise<Record<string, number>> {
  const { rows } = await db.query<{ name: string; estimate: number; unknown: boolean }>(
    `SELECT coalesce(parent.relname, c.relname) AS name,
            sum(greatest(c.reltuples, 0))::float8 AS estimate,
            bool_or(c.reltuples < 0) AS unknown
       FROM pg_class c
       LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
       LEFT JOIN pg_class parent ON parent.oid = i.inhparent
      WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
        AND coalesce(parent.relname, c.relname) = ANY($1)
      GROUP BY 1`,
    [[...GROWING_TABLES]],
  );
  const estimates: Record<string, number> = {};
  for (const { name, estimate, unknown } of rows) {
    // The name is one of GROWING_TABLES (matched above), never text from outside.
    estimates[name] = unknown
      ? (await db.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM ${name}`)).rows[0]!.n
      : estimate;
  }
  return estimates;
}

/**
 * Refreshes the estimates on the embedded PGlite, which runs no autovacuum (a server's
 * autovacuum keeps them current by itself). ANALYZE samples a bounded number of rows.
 */
export async function refreshRowEstimates(db: Database): Promise<void> {
  if (db.kind === 'pglite') await db.exec(`ANALYZE ${GROWING_TABLES.join(', ')}`);
}
