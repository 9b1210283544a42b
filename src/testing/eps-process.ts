import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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
