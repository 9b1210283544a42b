/**
 * The one place that reads the environment. Everything else receives a typed {@link Config}.
 * An invalid value stops the start with a one-line message naming the variable.
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  /** TCP port of the HTTP API. Env `PORT`, default 8080. */
  port: number;
  /** Interface the HTTP API binds to. Env `HOST`, default 127.0.0.1 (loopback only). */
  host: string;
  /** PostgreSQL server URL. Env `DATABASE_URL`; when unset the embedded PGlite is used. */
  databaseUrl: string | undefined;
  /** Folder of the embedded PGlite database. Env `DATA_DIR`, default `./data`. */
  dataDir: string;
  /** pino log level. Env `LOG_LEVEL`, default `info`. */
  logLevel: LogLevel;
  /** Largest accepted JSON body of single-resource requests, in bytes. Env `BODY_LIMIT_BYTES`, default 1 MiB. */
  bodyLimitBytes: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return Number(raw);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

function databaseUrl(env: Env): string | undefined {
  const raw = env.DATABASE_URL;
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('DATABASE_URL must be a postgres:// URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(
      `DATABASE_URL must use postgres:// or postgresql://, got "${url.protocol}"`,
    );
  }
  return raw;
}

export function loadConfig(env: Env = process.env): Config {
  return {
    port: integer(env, 'PORT', 8080, 0, 65535),
    host: env.HOST || '127.0.0.1',
    databaseUrl: databaseUrl(env),
    dataDir: env.DATA_DIR || './data',
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 1024 * 1024, 1024, 256 * 1024 * 1024),
  };
}
