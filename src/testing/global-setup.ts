import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../config.ts';
import { loadMigrations, migrate } from '../db/migrate.ts';
import { openPglite } from '../db/pglite.ts';
import { openPostgres } from '../db/postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string;
    pgliteMigratedTemplate: string;
    /** A migrated database on DATABASE_URL's server to create others from ('' without one). */
    postgresMigratedTemplate: string;
  }
}

/**
 * initdb of PGlite takes seconds; it runs once here, and every test file opens its own copy of
 * the resulting (empty, unmigrated) data folder. Most files want the schema too: migrating a
 * PGlite copy costs more than a second of CPU, so a migrated template is made once as well;
 * likewise a migrated database on the PostgreSQL server, which CREATE DATABASE … TEMPLATE copies
 * in about half the time the migrations take.
 */
export default async function setup(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), 'eps-pglite-template-'));
  const db = await PGlite.create(dir);
  await db.close();
  const migratedDir = await mkdtemp(join(tmpdir(), 'eps-pglite-migrated-'));
  await cp(dir, migratedDir, { recursive: true });
  const migrated = await openPglite({ dataDir: migratedDir });
  await migrate(migrated, await loadMigrations());
  await migrated.close();
  project.provide('pgliteTemplate', dir);
  project.provide('pgliteMigratedTemplate', migratedDir);
  const serverUrl = loadConfig().databaseUrl;
  const template = `eps_test_template_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    await client.query(sql);
    await client.end();
  };
  if (serverUrl) {
    await admin(`CREATE DATABASE ${template}`);
    const url = new URL(serverUrl);
    url.pathname = `/${template}`;
    // Closed before any test runs: a template nobody is connected to can be copied.
    const server = await openPostgres({ connectionString: url.toString() });
    await migrate(server, await loadMigrations());
    await server.close();
  }
  project.provide('postgresMigratedTemplate', serverUrl ? template : '');
  return async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(migratedDir, { recursive: true, force: true });
    if (serverUrl) await admin(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
  };
}
