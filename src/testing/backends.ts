import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { loadConfig } from '../config.ts';
import type { Database } from '../db/database.ts';
import { loadMigrations, migrate } from '../db/migrate.ts';
import { openPglite } from '../db/pglite.ts';
import { openPostgres } from '../db/postgres.ts';

/**
 * The backends every database test runs on: PGlite always, a PostgreSQL server whenever
 * `DATABASE_URL` is set. Each test file gets its own PGlite copy or its own PostgreSQL
 * database, so files run in parallel.
 */
export interface TestBackend {
  name: 'pglite' | 'postgres';
  /**
   * Creates a fresh, empty database and returns how to open connections to it. `migrated`: it
   * comes with the schema already (a copy of a migrated template); migrate it all the same.
   */
  create(options?: { migrated?: boolean }): Promise<TestDatabase>;
}

export interface TestDatabase {
  /** Opens a connection (pool) to this database; may be called more than once (postgres). */
  open(): Promise<Database>;
  /** A `DATABASE_URL` for child processes (postgres), or the PGlite data folder. */
  location: { databaseUrl?: string; dataDir?: string };
  destroy(): Promise<void>;
}

const pglite: TestBackend = {
  name: 'pglite',
  async create(options = {}) {
    const dataDir = await mkdtemp(join(tmpdir(), 'eps-pglite-'));
    const template = options.migrated ? 'pgliteMigratedTemplate' : 'pgliteTemplate';
    await cp(inject(template), dataDir, { recursive: true });
    return {
      open: () => openPglite({ dataDir }),
      location: { dataDir },
      destroy: () => rm(dataDir, { recursive: true, force: true }),
    };
  },
};

function postgres(serverUrl: string): TestBackend {
  return {
    name: 'postgres',
    async create(options = {}) {
      const name = `eps_test_${randomBytes(6).toString('hex')}`;
      const admin = new pg.Client({ connectionString: serverUrl });
      await admin.connect();
      const template = options.migrated ? ` TEMPLATE ${inject('postgresMigratedTemplate')}` : '';
      await admin.query(`CREATE DATABASE ${name}${template}`);
      await admin.end();
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      const databaseUrl = url.toString();
      return {
        open: () => openPostgres({ connectionString: databaseUrl }),
        location: { databaseUrl },
        async destroy() {
          const dropper = new pg.Client({ connectionString: serverUrl });
          await dropper.connect();
          await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
          await dropper.end();
        },
      };
    },
  };
}

export function testBackends(): TestBackend[] {
  const { databaseUrl } = loadConfig();
  return databaseUrl ? [pglite, postgres(databaseUrl)] : [pglite];
}

/**
 * A migrated database of the test file's own on `backend`, opened before its tests and
 * destroyed after them (registers beforeAll/afterAll); `db()` inside tests.
 */
export function useMigratedDatabase(backend: TestBackend): {
  db(): Database;
  database(): TestDatabase;
} {
  let database: TestDatabase | undefined;
  let db: Database | undefined;
  beforeAll(async () => {
    database = await backend.create({ migrated: true });
    db = await database.open();
    await migrate(db, await loadMigrations());
  });
  afterAll(async () => {
    await db?.close();
    await database?.destroy();
  });
  return { db: () => db!, database: () => database! };
}
