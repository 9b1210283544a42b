import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, testBackends } from '../testing/backends.ts';
import type { Database } from './database.ts';
import { loadMigrations, type Migration, migrate, SchemaTooNewError } from './migrate.ts';

/** The spec's event_definitions table: every column with its type. */
const SPEC_EVENT_DEFINITIONS: Record<string, string> = {
  id: 'uuid',
  event_id: 'character varying(255)',
  name: 'character varying(255)',
  description: 'text',
  pattern: 'character varying(255)',
  version: 'character varying(50)',
  source_types: 'jsonb',
  payload_schema: 'jsonb',
  examples: 'jsonb',
  ui_metadata: 'jsonb',
  created_at: 'timestamp without time zone',
  updated_at: 'timestamp without time zone',
  status: 'character varying(50)',
};

async function columnTypes(db: Database, table: string): Promise<Record<string, string>> {
  const { rows } = await db.query<{ column_name: string; data_type: string; max: number | null }>(
    `SELECT column_name, data_type, character_maximum_length AS max
       FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`,
    [table],
  );
  return Object.fromEntries(
    rows.map((r) => [r.column_name, r.max ? `${r.data_type}(${r.max})` : r.data_type]),
  );
}

describe.each(testBackends())('migrations on $name', (backend) => {
  let database: TestDatabase;
  let db: Database;
  let migrations: Migration[];

  beforeAll(async () => {
    database = await backend.create();
    db = await database.open();
    migrations = await loadMigrations();
  });
  afterAll(async () => {
    await db.close();
    await database.destroy();
  });

  it('applies every migration on a fresh database, and nothing on a second start', async () => {
    const first = await migrate(db, migrations);
    expect(first).toEqual(migrations.map((m) => m.version));
    expect(await migrate(db, migrations)).toEqual([]);
    const { rows } = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM schema_migrations',
    );
    expect(rows[0]!.n).toBe(migrations.length);
  });

  it('creates event_definitions with every column of the spec and its type', async () => {
    const columns = await columnTypes(db, 'event_definitions');
    for (const [column, type] of Object.entries(SPEC_EVENT_DEFINITIONS)) {
      expect({ column, type: columns[column] }).toEqual({ column, type });
    }
  });

  it('refuses a database whose schema is newer than the code', async () => {
    const future = Math.max(...migrations.map((m) => m.version)) + 1;
    await db.query(`INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')`, [
      future,
    ]);
    try {
      await expect(migrate(db, migrations)).rejects.toThrow(SchemaTooNewError);
      await expect(migrate(db, migrations)).rejects.toThrow(/newer than this service/);
    } finally {
      await db.query('DELETE FROM schema_migrations WHERE version = $1', [future]);
    }
  });

  it('rolls back a failing migration together with its bookkeeping row', async () => {
    const broken: Migration = {
      version: 9000,
      name: 'broken',
      sql: 'CREATE TABLE half_done (id int); SELECT 1/0;',
    };
    await expect(migrate(db, [...migrations, broken])).rejects.toThrow();
    const { rows } = await db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM schema_migrations WHERE version = 9000)::int
            + (SELECT count(*) FROM pg_tables WHERE tablename = 'half_done')::int AS n`,
    );
    expect(rows[0]!.n).toBe(0);
  });
});

describe.each(testBackends().filter((b) => b.name === 'postgres'))(
  'concurrent starts on $name',
  (backend) => {
    it('applies each migration once when two instances start at the same time', async () => {
      const database = await backend.create();
      const [a, b] = await Promise.all([database.open(), database.open()]);
      try {
        const migrations = await loadMigrations();
        const [appliedByA, appliedByB] = await Promise.all([
          migrate(a, migrations),
          migrate(b, migrations),
        ]);
        expect([...appliedByA, ...appliedByB].sort()).toEqual(
          migrations.map((m) => m.version).sort(),
        );
        const { rows } = await a.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM schema_migrations',
        );
        expect(rows[0]!.n).toBe(migrations.length);
      } finally {
        await a.close();
        await b.close();
        await database.destroy();
      }
    });
  },
);

describe('migration files', () => {
  it('refuses two files with the same number, which would leave one unapplied', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'eps-migrations-'));
    try {
      await writeFile(join(dir, '0001_a.sql'), 'SELECT 1;');
      await writeFile(join(dir, '0001_b.sql'), 'SELECT 2;');
      await expect(loadMigrations(dir)).rejects.toThrow('two migrations are numbered 1');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('numbers the shipped migrations 1, 2, 3 … without a gap or a repeat', async () => {
    const versions = (await loadMigrations()).map((m) => m.version);
    expect(versions).toEqual(versions.map((_, i) => i + 1));
  });
});
