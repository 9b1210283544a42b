import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from '../src/db/database.ts';
import { openPglite } from '../src/db/pglite.ts';
import { openPostgres } from '../src/db/postgres.ts';
import { machineDescription, measuredCommit, writeResultsFile } from './results-file.ts';
import { createBenchDatabase } from './support.ts';

/**
 * The store of a benchmark that runs the real service as a child process (`src/main.ts`): on
 * PGlite a data folder of its own, on PostgreSQL a database of its own on the server that
 * DATABASE_URL names.
 */
const BACKEND_NAMES = ['pglite', 'postgres'] as const;
type BackendName = (typeof BACKEND_NAMES)[number];

export interface ServiceBackend {
  name: BackendName;
  /** What tells the service where its store is: DATA_DIR or DATABASE_URL. */
  env: Record<string, string>;
  /** The store itself, for counting after the service has stopped. */
  open(): Promise<Database>;
  destroy(): Promise<void>;
}

async function pgliteBackend(): Promise<ServiceBackend> {
  const dataDir = await mkdtemp(join(tmpdir(), 'eps-bench-service-'));
  return {
    name: 'pglite',
    env: { DATA_DIR: dataDir },
    open: () => openPglite({ dataDir }),
    destroy: () => rm(dataDir, { recursive: true, force: true }),
  };
}

async function postgresBackend(serverUrl: string): Promise<ServiceBackend> {
  const database = await createBenchDatabase(serverUrl);
  return {
    name: 'postgres',
    env: { DATABASE_URL: database.url },
    open: () => openPostgres({ connectionString: database.url }),
    destroy: () => database.drop(),
  };
}

/**
 * A benchmark's run: `measure` on each of the backends `names` lists (PostgreSQL only when
 * DATABASE_URL is set), one after the other, each store destroyed after its run; the results,
 * with the machine (and its load when the run started) and the commit measured, written to
 * bench/results/<timestamp><suffix>.json and printed. Resolves with the results.
 */
export async function measureOnEachBackend<T>(
  suffix: string,
  measure: (backend: ServiceBackend) => Promise<T>,
  names: string[] = ['pglite', 'postgres'],
): Promise<T[]> {
  // Checked before anything runs: a misspelt name (RESTART_BACKENDS=postgresql) would be measured as
  // PostgreSQL, and a run of many minutes would report something other than what was asked.
  const unknown = names.filter((name) => !BACKEND_NAMES.includes(name as BackendName));
  if (unknown.length > 0)
    throw new Error(
      `unknown backend ${unknown.map((n) => `'${n}'`).join(', ')}: the backends are ${BACKEND_NAMES.join(' and ')}`,
    );
  const machine = machineDescription();
  const commit = measuredCommit();
  const serverUrl = process.env.DATABASE_URL;
  const results: T[] = [];
  for (const name of names) {
    if (name === 'postgres' && !serverUrl) continue;
    const backend = name === 'pglite' ? await pgliteBackend() : await postgresBackend(serverUrl!);
    try {
      results.push(await measure(backend));
    } finally {
      await backend.destroy();
    }
  }
  const file = await writeResultsFile(suffix, { machine, commit, results });
  console.log(JSON.stringify({ machine, commit, results }, null, 2));
  console.error(`written to ${file}`);
  return results;
}

/**
 * The environment of a benchmarked service on `backend` listening on `port`: a fresh
 * encryption key rather than a key file and, since all the load comes from one address, no
 * per-address rate limit in the way.
 */
export const benchServiceEnv = (backend: ServiceBackend, port: number) => ({
  ...backend.env,
  PORT: String(port),
  DELIVERY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  RATE_LIMIT_EVENTS_PUBLISH: '0',
  RATE_LIMIT_EVENTS_READ: '0',
  RATE_LIMIT_DEFINITIONS: '0',
});
