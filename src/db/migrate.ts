import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Database } from './database.ts';

/**
 * Numbered, append-only SQL migrations (`NNNN_name.sql`). Each runs in its own transaction
 * together with its bookkeeping row, under a transaction-scoped advisory lock, so instances
 * starting at once apply each migration exactly once. A database that has a migration this code
 * does not know is newer than the code: the service refuses to run against it.
 */

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export class SchemaTooNewError extends Error {
  override name = 'SchemaTooNewError';
}

/** Arbitrary constant shared by every instance of this service: "eps migrate". */
const MIGRATION_LOCK = 0x65_70_73_6d;

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations = await Promise.all(
    files.map(async (file) => {
      const match = /^(\d+)_(.+)\.sql$/.exec(file);
      if (!match) throw new Error(`migration file name must be NNNN_name.sql: ${file}`);
      return {
        version: Number(match[1]),
        name: match[2]!,
        sql: await readFile(new URL(file, `file://${dir}/`), 'utf8'),
      };
    }),
  );
  // Two files with one number would leave the second unapplied for ever (the version is the key).
  const seen = new Set<number>();
  for (const { version } of migrations) {
    if (seen.has(version)) throw new Error(`two migrations are numbered ${version} in ${dir}`);
    seen.add(version);
  }
  return migrations;
}

async function appliedVersions(db: Database): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamp NOT NULL DEFAULT now()
    )`);
    const { rows } = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    return rows.map((r) => r.version);
  });
}

/** Fails when the database holds a migration this code does not know. */
export function assertNotNewer(applied: number[], known: Migration[]): void {
  const knownVersions = new Set(known.map((m) => m.version));
  const unknown = applied.filter((v) => !knownVersions.has(v)).sort((a, b) => a - b);
  if (unknown.length > 0) {
    const latest = Math.max(0, ...knownVersions);
    throw new SchemaTooNewError(
      `database schema is newer than this service (database has migration ${unknown.at(-1)}, ` +
        `this service knows up to ${latest}); upgrade the service`,
    );
  }
}

/** Applies pending migrations; returns the versions this call applied. */
export async function migrate(db: Database, migrations?: Migration[]): Promise<number[]> {
  const known = migrations ?? (await loadMigrations());
  assertNotNewer(await appliedVersions(db), known);
  const applied: number[] = [];
  for (const migration of known) {
    const didApply = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const { rowCount } = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [
        migration.version,
      ]);
      if (rowCount > 0) return false;
      // A schema change on a big table may take longer than DATABASE_STATEMENT_TIMEOUT_MS.
      await tx.exec('SET LOCAL statement_timeout = 0');
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      return true;
    });
    if (didApply) applied.push(migration.version);
  }
  return applied;
}

/** True when every known migration is applied (readiness). */
export async function isUpToDate(db: Database, known: Migration[]): Promise<boolean> {
  const { rows } = await db.query<{ version: number }>('SELECT version FROM schema_migrations');
  const applied = new Set(rows.map((r) => r.version));
  return known.every((m) => applied.has(m.version));
}
