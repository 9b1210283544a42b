/**
 * The one place that reads the environment. Everything else receives a typed {@link Config}.
 * An invalid value stops the start with a one-line message naming the variable.
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Classes of routes that share one rate limit per API key (see src/auth/scopes.ts). */
export const RATE_CLASSES = [
  'events.publish',
  'events.read',
  'definitions',
  'triggers',
  'subscriptions',
  'admin',
] as const;
export type RateClass = (typeof RATE_CLASSES)[number];

/** Shape of a full API key: `eps_` and at least 32 URL-safe characters. */
export const API_KEY_FORMAT = /^eps_[A-Za-z0-9_-]{32,128}$/;

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
  /**
   * Whether requests need an API key. Env `AUTH=on|off`; default `off` when `host` is a loopback
   * address (local development) and `on` otherwise. `off` on a non-loopback host is refused.
   */
  authEnabled: boolean;
  /**
   * A full API key (`eps_…`) ensured to exist as an `admin` key at start, so a fresh deployment
   * can create its first keys over HTTP. Env `BOOTSTRAP_ADMIN_KEY`, default unset.
   */
  bootstrapAdminKey: string | undefined;
  /**
   * How long a verified API key is trusted without asking the database again, in seconds; a key
   * revoked on another instance stops working within this time. Env `API_KEY_CACHE_SECONDS`,
   * default 10 (0 asks the database on every request).
   */
  apiKeyCacheSeconds: number;
  /**
   * Requests per minute per API key and route class; 0 means unlimited. Env
   * `RATE_LIMIT_EVENTS_PUBLISH` (default 1000), `RATE_LIMIT_EVENTS_READ` (100),
   * `RATE_LIMIT_DEFINITIONS` (60), `RATE_LIMIT_TRIGGERS` (60), `RATE_LIMIT_SUBSCRIPTIONS` (60),
   * `RATE_LIMIT_ADMIN` (60).
   */
  rateLimitsPerMinute: Record<RateClass, number>;
  /**
   * Base URL of an OTLP/HTTP collector (`/v1/traces` is appended); unset → no span is exported.
   * Env `OTEL_EXPORTER_OTLP_ENDPOINT`.
   */
  otlpEndpoint: string | undefined;
  /**
   * `service.name` of exported spans. Env `OTEL_SERVICE_NAME`, default
   * `event-processing-service`.
   */
  serviceName: string;
  /**
   * Most distinct event patterns (and source types) given their own metric label; later ones are
   * counted under `other`. Env `METRICS_MAX_PATTERNS`, default 200.
   */
  metricsMaxPatterns: number;
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

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    bare === 'localhost' ||
    bare === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare) ||
    /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare)
  );
}

function authEnabled(env: Env, host: string): boolean {
  const loopback = isLoopback(host);
  const mode = oneOf(env, 'AUTH', ['on', 'off'] as const, loopback ? 'off' : 'on');
  if (mode === 'off' && !loopback) {
    throw new ConfigError(
      `AUTH=off is only allowed on a loopback HOST, got HOST "${host}"; unset AUTH or bind 127.0.0.1`,
    );
  }
  return mode === 'on';
}

function bootstrapAdminKey(env: Env): string | undefined {
  const raw = env.BOOTSTRAP_ADMIN_KEY;
  if (raw === undefined || raw === '') return undefined;
  // The value is a secret: the message describes it without repeating it.
  if (!API_KEY_FORMAT.test(raw)) {
    throw new ConfigError(
      'BOOTSTRAP_ADMIN_KEY must be "eps_" followed by 32 to 128 characters of A-Z, a-z, 0-9, _ or -',
    );
  }
  return raw;
}

function httpUrl(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an http:// or https:// URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http:// or https:// URL, got "${raw}"`);
  }
  return raw;
}

const MAX_RATE = 100_000_000;

export function loadConfig(env: Env = process.env): Config {
  const host = env.HOST || '127.0.0.1';
  return {
    port: integer(env, 'PORT', 8080, 0, 65535),
    host,
    databaseUrl: databaseUrl(env),
    dataDir: env.DATA_DIR || './data',
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 1024 * 1024, 1024, 256 * 1024 * 1024),
    authEnabled: authEnabled(env, host),
    bootstrapAdminKey: bootstrapAdminKey(env),
    apiKeyCacheSeconds: integer(env, 'API_KEY_CACHE_SECONDS', 10, 0, 3600),
    rateLimitsPerMinute: {
      'events.publish': integer(env, 'RATE_LIMIT_EVENTS_PUBLISH', 1000, 0, MAX_RATE),
      'events.read': integer(env, 'RATE_LIMIT_EVENTS_READ', 100, 0, MAX_RATE),
      definitions: integer(env, 'RATE_LIMIT_DEFINITIONS', 60, 0, MAX_RATE),
      triggers: integer(env, 'RATE_LIMIT_TRIGGERS', 60, 0, MAX_RATE),
      subscriptions: integer(env, 'RATE_LIMIT_SUBSCRIPTIONS', 60, 0, MAX_RATE),
      admin: integer(env, 'RATE_LIMIT_ADMIN', 60, 0, MAX_RATE),
    },
    otlpEndpoint: httpUrl(env, 'OTEL_EXPORTER_OTLP_ENDPOINT'),
    serviceName: env.OTEL_SERVICE_NAME || 'event-processing-service',
    metricsMaxPatterns: integer(env, 'METRICS_MAX_PATTERNS', 200, 1, 10_000),
  };
}
