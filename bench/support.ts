import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { type App, createApp } from '../src/app.ts';
import { systemClock } from '../src/clock.ts';
import type { Config } from '../src/config.ts';
import type { Database } from '../src/db/database.ts';
import { loadMigrations, migrate } from '../src/db/migrate.ts';
import { openPostgres } from '../src/db/postgres.ts';
import { localConfig } from '../src/testing/app.ts';

/** A throwaway PostgreSQL database on the server DATABASE_URL names, migrated. */
export interface BenchDatabase {
  url: string;
  db: Database;
  drop(): Promise<void>;
}

export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const name = `eps_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = await openPostgres({ connectionString: url.toString(), maxConnections: 10 });
  await migrate(db, await loadMigrations());
  return {
    url: url.toString(),
    db,
    async drop() {
      await db.close();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** The service over `db`, listening on a free loopback port. */
export async function startBenchService(
  db: Database,
  overrides: Partial<Config> = {},
): Promise<{ app: App; url: string }> {
  const config = { ...localConfig(), ...overrides };
  const app = await createApp({
    config,
    db,
    clock: systemClock,
    logger: pino({ level: 'warn' }),
    migrations: await loadMigrations(),
  });
  await app.start();
  const url = await app.server.listen({ port: 0, host: '127.0.0.1' });
  return { app, url };
}

/** Runs `task` from `concurrency` workers until `total` tasks ran; returns each task's latency in ms. */
export async function runConcurrently(
  total: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const start = performance.now();
      await task(i);
      latencies.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return latencies;
}

/**
 * Open-loop pacing: calls `fire(i)` for i = 0..total-1 at `startMs + i * 1000 / ratePerSecond`
 * (wall clock, `Date.now()`), never waiting for earlier calls to finish. When the event loop
 * falls behind, every call that is due fires at once, so the offered rate holds on average.
 * Resolves once the last call has been fired (not finished) with the scheduled time of each.
 */
export async function openLoop(
  total: number,
  ratePerSecond: number,
  fire: (i: number, scheduledMs: number) => void,
): Promise<{ startMs: number; endMs: number }> {
  const startMs = Date.now();
  const interval = 1000 / ratePerSecond;
  let next = 0;
  while (next < total) {
    const due = Math.min(total, Math.floor((Date.now() - startMs) / interval) + 1);
    while (next < due) {
      fire(next, startMs + next * interval);
      next++;
    }
    if (next < total) {
      const wait = startMs + next * interval - Date.now();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(wait, 5))));
    }
  }
  return { startMs, endMs: Date.now() };
}

/** POSTs JSON to the service during a benchmark's setup; rejects unless it answers 2xx. */
export async function postJson(
  baseUrl: string,
  path: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}
