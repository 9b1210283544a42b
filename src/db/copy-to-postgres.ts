import type { Database, Queryable } from './database.ts';

/**
 * Copies the rows of one migrated database into another, empty, migrated one: how an embedded
 * (PGlite) data folder moves to a PostgreSQL server when a deployment scales out. It copies
 * every table of the schema, as stored — definitions, events, triggers, subscriptions with
 * their sealed secrets, workflow definitions and instances, API keys (hashes), routing work and
 * the delivery log — except what the target makes or keeps for itself (see {@link NOT_COPIED}).
 * Table and column names come from the catalog, never from users.
 */

/** Tables the target keeps its own of. */
const NOT_COPIED = new Set([
  'schema_migrations', // the target's migrations ran already
  'event_partitions', // the target's partition maintenance creates partitions for what it holds
  'rate_limit_windows', // counters of the current minute
  'routing_state', // a version number that only has to change when targets change
  'wait_resolver', // a commit position, which only means something in the database it came from
]);

/**
 * Columns the target assigns: an event's commit position belongs to the transaction that wrote
 * it there (events are copied in their commit order, so the order stays the same).
 */
const TARGET_ASSIGNED: Record<string, string[]> = { events: ['commit_xid', 'commit_seq'] };
const COPY_ORDER: Record<string, string> = { events: 'commit_xid, commit_seq' };

/** Rows per statement. */
const PAGE = 500;

export class TargetNotEmpty extends Error {
  override name = 'TargetNotEmpty';
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** The schema's tables (partitioned ones as a whole), parents before the tables referring to them. */
async function tablesInCopyOrder(db: Queryable): Promise<string[]> {
  const { rows: tables } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      ORDER BY c.relname`,
  );
  const { rows: references } = await db.query<{ child: string; parent: string }>(
    `SELECT child.relname AS child, parent.relname AS parent FROM pg_constraint f
       JOIN pg_class child ON child.oid = f.conrelid JOIN pg_class parent ON parent.oid = f.confrelid
      WHERE f.contype = 'f' AND child.oid <> parent.oid`,
  );
  const ordered: string[] = [];
  const visit = (table: string) => {
    if (ordered.includes(table)) return;
    for (const { parent } of references.filter((r) => r.child === table)) visit(parent);
    ordered.push(table);
  };
  for (const { name } of tables) visit(name);
  return ordered.filter((table) => !NOT_COPIED.has(table));
}

async function columnsOf(db: Queryable, table: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT column_name AS name FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  const assigned = TARGET_ASSIGNED[table] ?? [];
  return rows.map((r) => r.name).filter((column) => !assigned.includes(column));
}

async function assertEmpty(target: Queryable, tables: string[]): Promise<void> {
  for (const table of tables) {
    const { rowCount } = await target.query(`SELECT 1 FROM ${quote(table)} LIMIT 1`);
    if (rowCount > 0)
      throw new TargetNotEmpty(
        `the target database already has rows in ${table}; copy into an empty database`,
      );
  }
}

/** Streams one table through a cursor into the target, a page per statement. */
async function copyTable(source: Database, target: Queryable, table: string): Promise<number> {
  const columns = (await columnsOf(source, table)).map(quote).join(', ');
  const order = COPY_ORDER[table] ? ` ORDER BY ${COPY_ORDER[table]}` : '';
  return source.transaction(async (tx) => {
    await tx.query(
      `DECLARE copy_rows NO SCROLL CURSOR FOR SELECT row_to_json(r) AS row FROM (SELECT ${columns} FROM ${quote(table)}${order}) r`,
    );
    let copied = 0;
    for (;;) {
      const { rows } = await tx.query<{ row: unknown }>(`FETCH ${PAGE} FROM copy_rows`);
      if (rows.length === 0) return copied;
      await target.query(
        `INSERT INTO ${quote(table)} (${columns}) SELECT ${columns} FROM json_populate_recordset(NULL::${quote(table)}, $1::json)`,
        [JSON.stringify(rows.map((r) => r.row))],
      );
      copied += rows.length;
    }
  });
}

/**
 * Copies every row of `source` into `target` in one target transaction: all or nothing, so a
 * failed copy can simply be run again. Both must be migrated to the same version; the target
 * must be empty. Returns the rows copied per table.
 */
export async function copyDatabase(
  source: Database,
  target: Database,
): Promise<Record<string, number>> {
  const tables = await tablesInCopyOrder(source);
  return target.transaction(async (tx) => {
    await assertEmpty(tx, tables);
    const copied: Record<string, number> = {};
    for (const table of tables) copied[table] = await copyTable(source, tx, table);
    return copied;
  });
}
