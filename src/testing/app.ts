import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { type App, type AppDeps, createApp } from '../app.ts';
import { RATE_CLASSES } from '../auth/scopes.ts';
import { type Config, loadConfig } from '../config.ts';
import type { Database } from '../db/database.ts';
import { loadMigrations, migrate } from '../db/migrate.ts';
import { parseAllowlist } from '../delivery/ip.ts';
import type { TestBackend, TestDatabase } from './backends.ts';
import { TestClock } from './clock.ts';

export interface TestResponse<T = any> {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: T;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** A raw body sent as is (for malformed input); objects are sent as JSON. */
  payload?: unknown;
}

/** A migrated database and the service over it, driven in process through `inject`. */
export interface TestApp {
  backend: TestBackend['name'];
  database: TestDatabase;
  db: Database;
  app: App;
  clock: TestClock;
  request<T = any>(method: string, url: string, options?: RequestOptions): Promise<TestResponse<T>>;
  /** Empties every table (not the migrations' bookkeeping) between tests. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export async function resetDatabase(db: Database): Promise<void> {
  // Partitions created by maintenance are tables of their own: drop them, keep the default.
  const { rows: partitions } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'events'::regclass AND c.relname <> 'events_default'`,
  );
  for (const { name } of partitions) await db.exec(`DROP TABLE "${name}"`);
  const { rows } = await db.query<{ tablename: string }>(
    `SELECT tablename FROM pg_tables
      WHERE schemaname = current_schema() AND tablename NOT IN ('schema_migrations', 'routing_state', 'wait_resolver')`,
  );
  if (rows.length > 0) {
    await db.exec(`TRUNCATE ${rows.map((r) => `"${r.tablename}"`).join(', ')} CASCADE`);
  }
  // Moving the version (never back) makes every matching index drop the truncated targets.
  await db.exec('UPDATE routing_state SET targets_version = targets_version + 1');
}

/**
 * Defaults for a service run by tests and benchmarks: webhooks may reach receivers on loopback,
 * the encryption key is a fresh one rather than a key file, and nothing is rate limited — with
 * auth off limits count per client address, and every test and benchmark calls from 127.0.0.1
 * (the tests of limits set their own).
 */
export function localConfig(): Config {
  const defaults = loadConfig({});
  const delivery = {
    ...defaults.delivery,
    encryptionKey: randomBytes(32),
    egressAllowlist: parseAllowlist('127.0.0.1'),
  };
  const unlimited = Object.fromEntries(RATE_CLASSES.map((rateClass) => [rateClass, 0]));
  return {
    ...defaults,
    delivery,
    rateLimitsPerMinute: unlimited as Config['rateLimitsPerMinute'],
  };
}

export async function startTestApp(
  backend: TestBackend,
  overrides: Partial<Config> = {},
  deps: Partial<Pick<AppDeps, 'logger' | 'tracing'>> = {},
): Promise<TestApp> {
  const database = await backend.create({ migrated: true });
  const db = await database.open();
  const migrations = await loadMigrations();
  await migrate(db, migrations);
  const clock = new TestClock();
  const config = { ...localConfig(), ...overrides };
  const app = await createApp({
    config,
    db,
    clock,
    logger: deps.logger ?? pino({ level: 'error' }),
    migrations,
    tracing: deps.tracing,
  });
  return {
    backend: backend.name,
    database,
    db,
    app,
    clock,
    async request(method, url, options = {}) {
      const response = await app.server.inject({
        method: method as 'GET',
        url,
        headers: options.headers,
        payload: options.payload as string,
      });
      const isJson = String(response.headers['content-type'] ?? '').includes('json');
      return {
        status: response.statusCode,
        headers: response.headers,
        body: (isJson && response.body !== '' ? response.json() : response.body) as never,
      };
    },
    async reset() {
      await resetDatabase(db);
      // In-memory state mirroring the emptied tables.
      app.apiKeys.forgetCachedKeys();
      app.rateLimiter.reset();
    },
    async close() {
      await app.close();
      await db.close();
      await database.destroy();
    },
  };
}
