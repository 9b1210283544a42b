import { API_KEY_FORMAT } from './auth/keys.ts';
import { type OAuthConfig, parsePublicKeyPem } from './auth/oauth.ts';
import type { RateClass } from './auth/scopes.ts';
import { parseEncryptionKey } from './delivery/credentials.ts';
import { type IpRange, parseAllowlist } from './delivery/ip.ts';
import { secretKey } from './delivery/signature.ts';
import { ConfigError } from './errors.ts';
import type { PayloadLimits } from './events/payload-limits.ts';
import type { EventQueueConfig } from './ingest/writer.ts';
import type { RetentionPolicy } from './retention/retention.ts';
import type { RoutingOptions } from './routing/wiring.ts';
import type { PartitionInterval, PartitionPolicy } from './store/partitions.ts';
import type { StreamOptions } from './stream/hub.ts';

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
  /** Timeouts of the PostgreSQL server connection (unused by the embedded PGlite). */
  database: {
    /**
     * How long opening a connection, or waiting for a free pooled one, may take before the
     * request fails with 503 `unavailable`, in ms. Env `DATABASE_CONNECT_TIMEOUT_MS`, default 5000.
     */
    connectTimeoutMs: number;
    /**
     * Longest statement, in ms: the server cancels a longer one, and a server that does not
     * answer (frozen, cut off) is given up on one second later; the request fails with 503
     * `unavailable`. Migrations are exempt. 0 = no limit. Env `DATABASE_STATEMENT_TIMEOUT_MS`,
     * default 5000.
     */
    statementTimeoutMs: number;
  };
  /** pino log level. Env `LOG_LEVEL`, default `info`. */
  logLevel: LogLevel;
  /** Largest accepted JSON body of single-resource requests, in bytes. Env `BODY_LIMIT_BYTES`, default 1 MiB. */
  bodyLimitBytes: number;
  /**
   * Most bytes of events' JSON in one page of `GET /v1/events`: a page stops before the event
   * that would pass it (its first event comes whatever its size), so fewer than `limit` events
   * come when they are large. Env `EVENTS_PAGE_MAX_BYTES`, default 4 MiB: four events of the
   * default 1 MiB body limit, while 1,000 events of up to 4 KiB still fill a page as before.
   */
  eventsPageMaxBytes: number;
  /**
   * Deepest nesting of objects and arrays in any JSON body, checked while it is parsed. Env
   * `BODY_MAX_DEPTH`, default 64; at least `INGEST_MAX_PAYLOAD_DEPTH` + 3, so that a batch of
   * events whose payloads nest as deep as allowed still parses.
   */
  bodyMaxDepth: number;
  ingest: {
    queue: EventQueueConfig;
    limits: PayloadLimits;
    /** Most events in one batch request. Env `INGEST_BATCH_MAX_EVENTS`, default 1000. */
    batchMaxEvents: number;
    /** Body limit of the batch endpoint. Env `INGEST_BATCH_BODY_LIMIT_BYTES`, default 10 MiB. */
    batchBodyLimitBytes: number;
  };
  partitions: PartitionPolicy & {
    /** How often partitions are created ahead and expired ones dropped. Env `PARTITION_MAINTENANCE_INTERVAL_MS`, default 1 h. */
    maintenanceIntervalMs: number;
  };
  /**
   * How long finished records are kept, in days, deleted by the partition maintenance loop
   * (`PARTITION_MAINTENANCE_INTERVAL_MS`); each defaults to `EVENT_RETENTION_DAYS` (unset: kept).
   */
  retention: RetentionPolicy;
  /** See {@link ResolverOptions.ttlMs}. Env `DEFINITION_CACHE_TTL_MS`, default 2000. */
  definitionCacheTtlMs: number;
  routing: RoutingOptions;
  delivery: {
    /**
     * AES-256 key sealing subscriber credentials and signing secrets. Env
     * `DELIVERY_ENCRYPTION_KEY` (32 bytes, base64 or hex); unset → see `resolveEncryptionKey`.
     */
    encryptionKey: Buffer | undefined;
    /**
     * Non-public addresses webhooks may still reach (see `src/delivery/egress.ts`). Env
     * `EGRESS_ALLOWLIST`, comma-separated IPs and CIDRs; default empty (public addresses only).
     */
    egressAllowlist: IpRange[];
    /** NATS server for queue subscribers. Env `NATS_URL`, default `nats://127.0.0.1:4222`. */
    natsUrl: string;
    /** Webhook request timeout, in ms. Env `DELIVERY_TIMEOUT_MS`, default 15,000. */
    timeoutMs: number;
    /** A subscription failing this long (ms) is disabled. Env `DELIVERY_DISABLE_AFTER_MS`, default 5 days. */
    disableAfterMs: number;
    /**
     * Worker threads webhook attempts are sent from (src/delivery/sender-threads.ts); 0 sends
     * them from the main event loop. Env `DELIVERY_THREADS`, 0 to 16, default 1: building,
     * signing and sending a request and reading its answer was most of the main loop's time
     * per delivery (about 130 µs), so one thread takes that off the loop that also accepts
     * events, claims and records. The delivery benchmark runs the service with 0 threads
     * beside it (`oursOneLoop`); a quick check of 1 and 2 threads on the shared 2-core machine
     * found the second thread no faster and costlier in CPU per delivery: it waits for the
     * main loop and competes with PostgreSQL for the cores. More may pay on a host with
     * many cores. Requests in flight stay bounded by `ROUTING_CONCURRENCY` whatever the number:
     * the threads split it (sender-threads.ts), so with several, a thread whose attempts wait
     * on slow endpoints does not lend its share to the others.
     * 1 rather than 0 (bench/delivery-cost.ts, 2-core AMD EPYC): both cost the same CPU per
     * delivery in total (240 / 241 µs with the dispatch sender), and the thread halves the main
     * loop's share (121 against 216 µs).
     */
    threads: number;
  };
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
   * OAuth 2.0 bearer tokens (JWTs) accepted besides API keys; undefined (default) → API keys
   * only. Set by `OAUTH_ISSUER` and `OAUTH_AUDIENCE` (both required once any `OAUTH_*` is set),
   * exactly one of `OAUTH_JWKS_URL` (http or https) and `OAUTH_PUBLIC_KEY` (a PEM public key;
   * `\n` may stand for line breaks), and `OAUTH_SCOPE_PREFIX` (default '').
   */
  oauth: OAuthConfig | undefined;
  /**
   * How long a verified API key is trusted without asking the database again, in seconds; a key
   * revoked on another instance stops working within this time. Env `API_KEY_CACHE_SECONDS`,
   * default 10 (0 asks the database on every request).
   */
  apiKeyCacheSeconds: number;
  /**
   * Requests per minute per API key (with auth off: per client address) and route class; 0
   * means unlimited. Env
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
  /**
   * Most distinct subscriptions given their own `subscription_id` label on the delivery metrics
   * and the dead-letter gauge; later ones are counted under `other`. Env
   * `METRICS_MAX_SUBSCRIPTIONS`, default 200.
   */
  metricsMaxSubscriptions: number;
  stream: StreamOptions;
  /**
   * Largest JSON size of the input a trigger's `inputMapping` builds, in bytes; a firing (or dry
   * run) over it fails with `input_too_large`. Env `MAPPED_INPUT_MAX_BYTES`, default 256 KiB.
   */
  mappedInputMaxBytes: number;
  /**
   * Pause between the wait resolver's rounds when a round found nothing to do, in ms (an event
   * resolves its waits within about this long of its commit). Env `WAITS_POLL_INTERVAL_MS`,
   * default 200.
   */
  waitsPollIntervalMs: number;
  /**
   * Most events a wait's lookback examines at its registration, so the work of one registration
   * stays bounded however busy its pattern is: when more than this many events of the pattern
   * (and key, for metadata.correlationId) were committed in the lookback window, the window is
   * narrowed to the newest this many, and the answer says so with a `lookback_truncated`
   * warning. Env `WAITS_LOOKBACK_MAX_EVENTS`, default 10,000.
   */
  waitsLookbackMaxEvents: number;
  /**
   * Longest chain of derived events: an event processor whose output would be the chain's
   * (n+1)th derived event records a `depth_exceeded` error instead of publishing it (a guard
   * against loops that creation-time cycle checks cannot see). Env `PROCESSOR_MAX_DEPTH`,
   * default 8.
   */
  processorMaxDepth: number;
  /**
   * The Standard Webhooks secret (`whsec_` + base64 of 24 to 64 bytes) that signs the resume
   * POSTs sent to http workflow engines (`{executorUrl}/resume`, src/waits/resume.ts), so an
   * engine can tell them from anyone else's: one secret for the deployment's engines, as
   * Inngest's signing key is one per environment. Env `WORKFLOW_ENGINE_SIGNING_SECRET`, default
   * unset: a resume for an http engine is then dead-lettered at once, saying so (nothing is
   * sent unsigned), and can be sent again once the secret is set.
   */
  workflowEngineSigningSecret: string | undefined;
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

function optionalInteger(env: Env, name: string, min: number, max: number): number | undefined {
  return env[name] === undefined || env[name] === '' ? undefined : integer(env, name, 0, min, max);
}

function ingestConfig(env: Env): Config['ingest'] {
  const maxQueueDepth = integer(env, 'INGEST_MAX_QUEUE_DEPTH', 10_000, 1, 10_000_000);
  const highWatermark = integer(
    env,
    'INGEST_HIGH_WATERMARK',
    Math.min(8_000, maxQueueDepth),
    1,
    maxQueueDepth,
  );
  return {
    queue: {
      maxQueueDepth,
      highWatermark,
      batchSize: integer(env, 'INGEST_BATCH_SIZE', 500, 1, 100_000),
      processingInterval: integer(env, 'INGEST_PROCESSING_INTERVAL_MS', 0, 0, 60_000),
      concurrentCommits: integer(env, 'INGEST_CONCURRENT_COMMITS', 2, 1, 64),
    },
    limits: {
      maxDepth: integer(env, 'INGEST_MAX_PAYLOAD_DEPTH', 32, 1, 1000),
      maxKeys: integer(env, 'INGEST_MAX_PAYLOAD_KEYS', 10_000, 1, 10_000_000),
    },
    batchMaxEvents: integer(env, 'INGEST_BATCH_MAX_EVENTS', 1000, 1, 100_000),
    batchBodyLimitBytes: integer(
      env,
      'INGEST_BATCH_BODY_LIMIT_BYTES',
      10 * 1024 * 1024,
      1024,
      1024 * 1024 * 1024,
    ),
  };
}

function partitionConfig(env: Env): Config['partitions'] {
  const interval = oneOf<PartitionInterval>(
    env,
    'EVENT_PARTITION_INTERVAL',
    ['month', 'day'],
    'month',
  );
  return {
    interval,
    aheadPeriods: integer(env, 'EVENT_PARTITIONS_AHEAD', interval === 'month' ? 3 : 14, 0, 366),
    retentionDays: optionalInteger(env, 'EVENT_RETENTION_DAYS', 1, 365_000),
    maintenanceIntervalMs: integer(
      env,
      'PARTITION_MAINTENANCE_INTERVAL_MS',
      3_600_000,
      1000,
      86_400_000,
    ),
  };
}

function retentionConfig(env: Env, eventRetentionDays: number | undefined): RetentionPolicy {
  const days = (name: string) => optionalInteger(env, name, 1, 365_000) ?? eventRetentionDays;
  return {
    routingDays: days('ROUTING_RETENTION_DAYS'),
    deliveryLogDays: days('DELIVERY_LOG_RETENTION_DAYS'),
    workflowInstanceDays: days('WORKFLOW_INSTANCE_RETENTION_DAYS'),
  };
}

function deliveryConfig(env: Env): Config['delivery'] {
  const key = env.DELIVERY_ENCRYPTION_KEY;
  const allowlist = env.EGRESS_ALLOWLIST ?? '';
  const natsUrl = env.NATS_URL || 'nats://127.0.0.1:4222';
  let encryptionKey: Buffer | undefined;
  let egressAllowlist: IpRange[];
  try {
    encryptionKey = key === undefined || key === '' ? undefined : parseEncryptionKey(key);
  } catch (error) {
    // The message never repeats the value: it is a secret.
    throw new ConfigError(`DELIVERY_ENCRYPTION_KEY ${(error as Error).message}`);
  }
  try {
    egressAllowlist = parseAllowlist(allowlist);
  } catch (error) {
    throw new ConfigError(`EGRESS_ALLOWLIST: ${(error as Error).message}`);
  }
  if (!/^(nats|tls):\/\/[^\s/]+$/.test(natsUrl)) {
    // Not echoed: the URL may carry a password.
    throw new ConfigError('NATS_URL must be one nats://host:port or tls://host:port URL');
  }
  return {
    encryptionKey,
    egressAllowlist,
    natsUrl,
    timeoutMs: integer(env, 'DELIVERY_TIMEOUT_MS', 15_000, 100, 300_000),
    disableAfterMs: integer(
      env,
      'DELIVERY_DISABLE_AFTER_MS',
      5 * 86_400_000,
      1000,
      365 * 86_400_000,
    ),
    threads: integer(env, 'DELIVERY_THREADS', 1, 0, 16),
  };
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

function oauthConfig(env: Env): OAuthConfig | undefined {
  const names = [
    'OAUTH_ISSUER',
    'OAUTH_AUDIENCE',
    'OAUTH_JWKS_URL',
    'OAUTH_PUBLIC_KEY',
    'OAUTH_SCOPE_PREFIX',
  ] as const;
  if (names.every((name) => !env[name])) return undefined;
  const issuer = env.OAUTH_ISSUER;
  const audience = env.OAUTH_AUDIENCE;
  // Without both, any token signed by the provider's keys (for another service too) would pass.
  if (!issuer || !audience) {
    throw new ConfigError('OAuth needs both OAUTH_ISSUER and OAUTH_AUDIENCE');
  }
  const jwksUrl = httpUrl(env, 'OAUTH_JWKS_URL');
  const pem = env.OAUTH_PUBLIC_KEY?.replaceAll('\\n', '\n');
  if ((jwksUrl === undefined) === !pem) {
    throw new ConfigError('OAuth needs exactly one of OAUTH_JWKS_URL and OAUTH_PUBLIC_KEY');
  }
  let keys: OAuthConfig['keys'];
  if (jwksUrl !== undefined) {
    keys = { jwksUrl };
  } else {
    try {
      parsePublicKeyPem(pem!);
    } catch (error) {
      throw new ConfigError(`OAUTH_PUBLIC_KEY ${(error as Error).message}`);
    }
    keys = { publicKeyPem: pem! };
  }
  return { keys, issuer, audience, scopePrefix: env.OAUTH_SCOPE_PREFIX ?? '' };
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

function bodyMaxDepth(env: Env): number {
  const depth = integer(env, 'BODY_MAX_DEPTH', 64, 4, 10_000);
  const payloadDepth = ingestConfig(env).limits.maxDepth;
  if (depth < payloadDepth + 3) {
    throw new ConfigError(
      `BODY_MAX_DEPTH (${depth}) must be at least INGEST_MAX_PAYLOAD_DEPTH + 3 (${payloadDepth + 3})`,
    );
  }
  return depth;
}

const MAX_RATE = 100_000_000;

export function loadConfig(env: Env = process.env): Config {
  const host = env.HOST || '127.0.0.1';
  const partitions = partitionConfig(env);
  return {
    port: integer(env, 'PORT', 8080, 0, 65535),
    host,
    databaseUrl: databaseUrl(env),
    dataDir: env.DATA_DIR || './data',
    database: {
      connectTimeoutMs: integer(env, 'DATABASE_CONNECT_TIMEOUT_MS', 5000, 100, 600_000),
      statementTimeoutMs: integer(env, 'DATABASE_STATEMENT_TIMEOUT_MS', 5000, 0, 3_600_000),
    },
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 1024 * 1024, 1024, 256 * 1024 * 1024),
    bodyMaxDepth: bodyMaxDepth(env),
    eventsPageMaxBytes: integer(
      env,
      'EVENTS_PAGE_MAX_BYTES',
      4 * 1024 * 1024,
      1024,
      256 * 1024 * 1024,
    ),
    ingest: ingestConfig(env),
    partitions,
    retention: retentionConfig(env, partitions.retentionDays),
    definitionCacheTtlMs: integer(env, 'DEFINITION_CACHE_TTL_MS', 2000, 0, 3_600_000),
    routing: {
      batchSize: integer(env, 'ROUTING_BATCH_SIZE', 200, 1, 10_000),
      roundDeliveries: integer(env, 'ROUTING_ROUND_DELIVERIES', 2000, 1, 100_000),
      concurrency: integer(env, 'ROUTING_CONCURRENCY', 16, 1, 1000),
      rounds: integer(env, 'ROUTING_ROUNDS', 2, 1, 16),
      pollIntervalMs: integer(env, 'ROUTING_POLL_INTERVAL_MS', 100, 1, 60_000),
      leaseMs: integer(env, 'ROUTING_LEASE_MS', 90_000, 100, 3_600_000),
      workers: oneOf(env, 'ROUTING_WORKERS', ['on', 'off'] as const, 'on') === 'on',
    },
    delivery: deliveryConfig(env),
    authEnabled: authEnabled(env, host),
    bootstrapAdminKey: bootstrapAdminKey(env),
    oauth: oauthConfig(env),
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
    metricsMaxSubscriptions: integer(env, 'METRICS_MAX_SUBSCRIPTIONS', 200, 1, 10_000),
    mappedInputMaxBytes: integer(
      env,
      'MAPPED_INPUT_MAX_BYTES',
      256 * 1024,
      1024,
      256 * 1024 * 1024,
    ),
    processorMaxDepth: integer(env, 'PROCESSOR_MAX_DEPTH', 8, 1, 64),
    stream: {
      maxClients: integer(env, 'STREAM_MAX_CLIENTS', 100, 1, 100_000),
      heartbeatMs: integer(env, 'STREAM_HEARTBEAT_MS', 15_000, 100, 3_600_000),
      pollIntervalMs: integer(env, 'STREAM_POLL_INTERVAL_MS', 250, 10, 60_000),
      clientBufferEvents: integer(env, 'STREAM_CLIENT_BUFFER_EVENTS', 1000, 1, 1_000_000),
    },
    waitsPollIntervalMs: integer(env, 'WAITS_POLL_INTERVAL_MS', 200, 10, 60_000),
    waitsLookbackMaxEvents: integer(env, 'WAITS_LOOKBACK_MAX_EVENTS', 10_000, 1, 1_000_000),
    workflowEngineSigningSecret: workflowEngineSigningSecret(env),
  };
}

function workflowEngineSigningSecret(env: Env): string | undefined {
  const raw = env.WORKFLOW_ENGINE_SIGNING_SECRET;
  if (raw === undefined || raw === '') return undefined;
  try {
    secretKey(raw);
  } catch (error) {
    // The message never repeats the value: it is a secret.
    throw new ConfigError(`WORKFLOW_ENGINE_SIGNING_SECRET: ${(error as Error).message}`);
  }
  return raw;
}
