import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import type { TestBackend, TestDatabase } from './backends.ts';
import { type ServiceProcess, startService } from './service-process.ts';

/** A cold start compiles the service with tsx; on a shared, busy machine that takes a while. */
const STARTUP_TIMEOUT_MS = 150_000;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface EpsResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `eps` (bin/eps.js) as a real process against `url`; `exited` resolves when it exits.
 * `input`, when given, is its standard input (otherwise it has none).
 */
export function runEps(
  url: string,
  args: readonly string[],
  env: Record<string, string> = {},
  input?: string,
) {
  const child = spawn(process.execPath, ['bin/eps.js', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, EPS_URL: url, NO_COLOR: '1', ...env },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin!.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<EpsResult>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** `runEps` and wait for it. */
export function eps(url: string, ...args: string[]): Promise<EpsResult> {
  return runEps(url, args).exited;
}

/** The environment a service process needs on a test database of `backend`. */
export function serviceEnv(database: TestDatabase): Record<string, string> {
  return database.location.databaseUrl
    ? {
        DATABASE_URL: database.location.databaseUrl,
        DELIVERY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
      }
    : { DATA_DIR: database.location.dataDir! };
}

/**
 * A service process on a fresh database of `backend`, with `env` added to its environment;
 * `restart()` keeps the database, and with `samePort` the address (for clients that reconnect);
 * `signal` (default SIGTERM, a clean stop) is what ends the running one — SIGKILL for a crash.
 */
export async function serviceOn(backend: TestBackend, env: Record<string, string> = {}) {
  const database = await backend.create();
  const start = (extra: Record<string, string> = {}) =>
    startService({ ...serviceEnv(database), ...env, ...extra }, STARTUP_TIMEOUT_MS);
  let service: ServiceProcess = await start();
  return {
    get url() {
      return service.url;
    },
    async restart(
      options: { samePort?: boolean; signal?: 'SIGTERM' | 'SIGKILL' } = {},
    ): Promise<void> {
      const port = new URL(service.url).port;
      await service.stop(options.signal ?? 'SIGTERM');
      service = await start(options.samePort ? { PORT: port } : {});
    },
    async close(): Promise<void> {
      if (service.child.exitCode === null) await service.stop('SIGTERM');
      await database.destroy();
    },
  };
}

/** A valid bookings.created payload of the booking example, as `eps publish --data` takes it. */
export const confirmed = (bookingId: string) =>
  JSON.stringify({ bookingId, customerId: 'cu_1', amount: 120, status: 'confirmed' });

const BOOKING_EXAMPLE = fileURLToPath(new URL('../../examples/booking', import.meta.url));

type EpsService = Awaited<ReturnType<typeof serviceOn>>;

/**
 * Registers beforeAll/afterAll: a service process on `backend` with the booking example applied
 * by `eps apply`, for the `eps` command tests (its `url` and `restart` in tests and later
 * hooks). The tests poll the management API while the routing works, so the per-minute limits
 * of a management class (60) are off; webhooks may go to 127.0.0.1.
 */
export function useBookingService(backend: TestBackend): Pick<EpsService, 'url' | 'restart'> {
  let service: EpsService | undefined;
  beforeAll(async () => {
    service = await serviceOn(backend, {
      EGRESS_ALLOWLIST: '127.0.0.1',
      RATE_LIMIT_TRIGGERS: '0',
      RATE_LIMIT_SUBSCRIPTIONS: '0',
    });
    const applied = await eps(service.url, 'apply', '-f', BOOKING_EXAMPLE);
    expect(applied.code, applied.stderr).toBe(0);
  }, 200_000);
  afterAll(async () => {
    await service?.close();
  });
  return {
    get url() {
      return service!.url;
    },
    restart: (options) => service!.restart(options),
  };
}

/** Waits until `check` answers something truthy (the routing works asynchronously). */
export async function eventually<T>(check: () => Promise<T | undefined | false>, what: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
