import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { TestProject } from 'vitest/node';
import { loadMigrations, migrate } from '../db/migrate.ts';
import { openPglite } from '../db/pglite.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string;
    pgliteMigratedTemplate: string;
  }
}

/**
 * initdb of PGlite takes seconds; it runs once here, and every test file opens its own copy of
 * the resulting (empty, unmigrated) data folder. Most files want the schema too: migrating a
 * PGlite copy costs more than a second of CPU, so a migrated template is made once as well.
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
  return async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(migratedDir, { recursive: true, force: true });
  };
}
