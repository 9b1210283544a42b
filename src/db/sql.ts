/**
 * Small helpers for the parameterised SQL the owner modules write by hand. Identifiers passed
 * here (column names, aliases) come from the service's code, never from a client: values
 * always travel as parameters.
 */

import type { Queryable } from './database.ts';

/** `"a", "b"`, or `e."a", e."b"` with a table alias: every name quoted, so reserved words pass. */
export function columnList(columns: readonly string[], alias?: string): string {
  const prefix = alias === undefined ? '' : `${alias}.`;
  return columns.map((column) => `${prefix}"${column}"`).join(', ');
}

/**
 * The one row a statement returns by construction (an INSERT … RETURNING, a count); a missing
 * row is a bug, reported as such rather than read as undefined.
 */
export function onlyRow<R>(result: { rows: R[] }): R {
  const [row] = result.rows;
  if (row === undefined) throw new Error('the statement returned no row');
  return row;
}

/**
 * Conditions joined with AND, each with its value as a numbered parameter (`$1`, `$2`, …):
 * the one way list reads build their WHERE clause. The SQL text comes from the caller's code,
 * the values travel as parameters.
 */
export class SqlConditions {
  readonly where: string[] = [];
  readonly params: unknown[] = [];

  /** Adds `sql(placeholders…)`, one placeholder standing for each value, in order. */
  add(sql: (...placeholders: string[]) => string, ...values: unknown[]): this {
    const placeholders = values.map((value) => {
      this.params.push(value);
      return `$${this.params.length}`;
    });
    this.where.push(sql(...placeholders));
    return this;
  }

  /** `column = $n`, or `column = ANY($n)` for a list; nothing when `value` is undefined. */
  equal(column: string, value: unknown): this {
    if (value === undefined) return this;
    return this.add(
      (p) => (Array.isArray(value) ? `${column} = ANY(${p})` : `${column} = ${p}`),
      value,
    );
  }

  /** A condition without a parameter. */
  raw(sql: string): this {
    this.where.push(sql);
    return this;
  }

  /** `WHERE …`, or nothing without conditions. */
  get whereSql(): string {
    return this.where.length > 0 ? `WHERE ${this.where.join(' AND ')}` : '';
  }

  /** The placeholder `offset` places after the conditions' own (LIMIT, OFFSET). */
  after(offset: number): string {
    return `$${this.params.length + offset}`;
  }
}

/** `WHERE column = $n AND …` for the filters that are set (see {@link SqlConditions.equal}). */
export function equalityFilters(filters: Array<[column: string, value: unknown]>): SqlConditions {
  const conditions = new SqlConditions();
  for (const [column, value] of filters) conditions.equal(column, value);
  return conditions;
}

/** The rows of one table that retention (retention/retention.ts) may delete, as its owner names them. */
export interface AgedRows {
  table: string;
  /** The time column they age by, with an index (partial on `finished`, when given). */
  time: string;
  /** The condition of rows that have ended, which alone may go (none: every row). */
  finished?: string;
}

/**
 * Deletes at most `limit` of `rows` older than `before`, oldest first through the index on
 * their time; answers how many. The conditions are repeated outside the subquery, so a row
 * that changed in between (work requeued) is kept.
 */
export async function deleteOldest(
  db: Queryable,
  rows: AgedRows,
  before: Date,
  limit: number,
): Promise<number> {
  const where = `${rows.finished ? `${rows.finished} AND ` : ''}${rows.time} < $1`;
  const { rowCount } = await db.query(
    `DELETE FROM ${rows.table} WHERE id IN (
       SELECT id FROM ${rows.table} WHERE ${where} ORDER BY ${rows.time} LIMIT $2)
       AND ${where}`,
    [before, limit],
  );
  return rowCount;
}
