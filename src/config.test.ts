import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { ConfigError } from './errors.ts';

const OAUTH = {
  OAUTH_ISSUER: 'https://id.example.com',
  OAUTH_AUDIENCE: 'eps',
  OAUTH_JWKS_URL: 'https://id.example.com/jwks',
};
const { publicKey: EC_PEM, privateKey: EC_PRIVATE_PEM } = generateKeyPairSync('ec', {
  namedCurve: 'P-256',
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

describe('configuration', () => {
  it('has documented defaults', () => {
    expect(loadConfig({})).toEqual({
      port: 8080,
      host: '127.0.0.1',
      databaseUrl: undefined,
      dataDir: './data',
      database: { connectTimeoutMs: 5000, statementTimeoutMs: 5000 },
      logLevel: 'info',
      bodyLimitBytes: 1024 * 1024,
      bodyMaxDepth: 64,
      eventsPageMaxBytes: 4 * 1024 * 1024,
      authEnabled: false,
      bootstrapAdminKey: undefined,
      oauth: undefined,
      apiKeyCacheSeconds: 10,
      rateLimitsPerMinute: {
        'events.publish': 1000,
        'events.read': 100,
        definitions: 60,
        triggers: 60,
        subscriptions: 60,
        admin: 60,
      },
      otlpEndpoint: undefined,
      serviceName: 'event-processing-service',
      metricsMaxPatterns: 200,
      metricsMaxSubscriptions: 200,
      mappedInputMaxBytes: 256 * 1024,
      processorMaxDepth: 8,
      stream: {
        maxClients: 100,
        heartbeatMs: 15_000,
        pollIntervalMs: 250,
        clientBufferEvents: 1000,
      },
      waitsPollIntervalMs: 200,
      waitsLookbackMaxEvents: 10_000,
      workflowEngineSigningSecret: undefined,
      ingest: {
        queue: {
          maxQueueDepth: 10_000,
          highWatermark: 8_000,
          batchSize: 500,
          processingInterval: 0,
          concurrentCommits: 2,
        },
        limits: { maxDepth: 32, maxKeys: 10_000 },
        batchMaxEvents: 1000,
        batchBodyLimitBytes: 10 * 1024 * 1024,
      },
      partitions: {
        interval: 'month',
        aheadPeriods: 3,
        retentionDays: undefined,
        maintenanceIntervalMs: 3_600_000,
      },
      retention: {
        routingDays: undefined,
        deliveryLogDays: undefined,
        workflowInstanceDays: undefined,
      },
      definitionCacheTtlMs: 2000,
      routing: {
        batchSize: 200,
        roundDeliveries: 2000,
        concurrency: 16,
        rounds: 2,
        pollIntervalMs: 100,
        leaseMs: 90_000,
        workers: true,
      },
      delivery: {
        encryptionKey: undefined,
        egressAllowlist: [],
        natsUrl: 'nats://127.0.0.1:4222',
        timeoutMs: 15_000,
        disableAfterMs: 5 * 86_400_000,
        threads: 1,
      },
    });
  });

  it('gives each record retention the event retention unless it is set', () => {
    expect(
      loadConfig({ EVENT_RETENTION_DAYS: '30', ROUTING_RETENTION_DAYS: '7' }).retention,
    ).toEqual({
      routingDays: 7,
      deliveryLogDays: 30,
      workflowInstanceDays: 30,
    });
    expect(() => loadConfig({ DELIVERY_LOG_RETENTION_DAYS: '0' })).toThrow(
      'DELIVERY_LOG_RETENTION_DAYS must be an integer from 1 to 365000, got "0"',
    );
  });

  it('reads the delivery settings', () => {
    const key = Buffer.alloc(32, 7);
    const config = loadConfig({
      DELIVERY_ENCRYPTION_KEY: key.toString('base64'),
      EGRESS_ALLOWLIST: '127.0.0.1, 10.20.0.0/16,fd00::/8',
      NATS_URL: 'nats://nats.internal:4222',
    }).delivery;
    expect(config.encryptionKey).toEqual(key);
    expect(config.egressAllowlist.map((range) => range.text)).toEqual([
      '127.0.0.1',
      '10.20.0.0/16',
      'fd00::/8',
    ]);
    expect(config.natsUrl).toBe('nats://nats.internal:4222');
    expect(
      loadConfig({ DELIVERY_ENCRYPTION_KEY: key.toString('hex') }).delivery.encryptionKey,
    ).toEqual(key);
  });

  it('never repeats a malformed encryption key in its message', () => {
    const secret = 'my-secret-passphrase-that-is-not-a-key';
    expect(() => loadConfig({ DELIVERY_ENCRYPTION_KEY: secret })).toThrow(
      'DELIVERY_ENCRYPTION_KEY must be 32 bytes as 64 hex digits or base64',
    );
    expect(() => loadConfig({ DELIVERY_ENCRYPTION_KEY: secret })).not.toThrow(secret);
  });

  it('reads partitioning and retention', () => {
    expect(
      loadConfig({ EVENT_PARTITION_INTERVAL: 'day', EVENT_RETENTION_DAYS: '30' }).partitions,
    ).toMatchObject({
      interval: 'day',
      aheadPeriods: 14,
      retentionDays: 30,
    });
  });

  it('reads the OAuth settings, with \\n standing for line breaks in a PEM key', () => {
    expect(loadConfig(OAUTH).oauth).toEqual({
      keys: { jwksUrl: 'https://id.example.com/jwks' },
      issuer: 'https://id.example.com',
      audience: 'eps',
      scopePrefix: '',
    });
    const oneLine = EC_PEM.trim().replaceAll('\n', '\\n');
    const config = loadConfig({
      ...OAUTH,
      OAUTH_JWKS_URL: '',
      OAUTH_PUBLIC_KEY: oneLine,
      OAUTH_SCOPE_PREFIX: 'eps/',
    });
    expect(config.oauth).toEqual({
      keys: { publicKeyPem: EC_PEM.trim() },
      issuer: 'https://id.example.com',
      audience: 'eps',
      scopePrefix: 'eps/',
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '9000',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://u@db:5432/x',
      DATA_DIR: '/var/eps',
      LOG_LEVEL: 'debug',
      DATABASE_CONNECT_TIMEOUT_MS: '1500',
      DATABASE_STATEMENT_TIMEOUT_MS: '0',
      WORKFLOW_ENGINE_SIGNING_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    });
    expect(config).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
      databaseUrl: 'postgres://u@db:5432/x',
      dataDir: '/var/eps',
      logLevel: 'debug',
      database: { connectTimeoutMs: 1500, statementTimeoutMs: 0 },
      workflowEngineSigningSecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    });
  });

  it.each([
    [{ PORT: 'eighty' }, /^PORT must be an integer/],
    [{ PORT: '70000' }, /^PORT must be an integer/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL must use postgres/],
    [{ DATABASE_URL: 'not a url' }, /^DATABASE_URL must be/],
    [{ EVENT_PARTITION_INTERVAL: 'week' }, /^EVENT_PARTITION_INTERVAL must be one of month, day/],
    [{ EVENT_RETENTION_DAYS: '0' }, /^EVENT_RETENTION_DAYS must be an integer/],
    [{ DELIVERY_ENCRYPTION_KEY: 'c2hvcnQ=' }, /^DELIVERY_ENCRYPTION_KEY must be 32 bytes/],
    [{ EGRESS_ALLOWLIST: '127.0.0.1,localhost' }, /^EGRESS_ALLOWLIST: "localhost" is not an IP/],
    [{ EGRESS_ALLOWLIST: '10.0.0.0/33' }, /^EGRESS_ALLOWLIST: "10.0.0.0\/33" has a prefix longer/],
    [{ NATS_URL: 'http://127.0.0.1:4222' }, /^NATS_URL must be one nats:\/\//],
    [
      { INGEST_MAX_QUEUE_DEPTH: '100', INGEST_HIGH_WATERMARK: '200' },
      /^INGEST_HIGH_WATERMARK must be an integer from 1 to 100/,
    ],
    [{ AUTH: 'yes' }, /^AUTH must be one of on, off/],
    [{ BOOTSTRAP_ADMIN_KEY: 'admin' }, /^BOOTSTRAP_ADMIN_KEY must be "eps_"/],
    [
      { WORKFLOW_ENGINE_SIGNING_SECRET: 'whsec_c2hvcnQ=' },
      /^WORKFLOW_ENGINE_SIGNING_SECRET: a signing secret is/,
    ],
    [{ RATE_LIMIT_EVENTS_PUBLISH: '-1' }, /^RATE_LIMIT_EVENTS_PUBLISH must be an integer/],
    [{ RATE_LIMIT_DEFINITIONS: 'many' }, /^RATE_LIMIT_DEFINITIONS must be an integer/],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, /^OTEL_EXPORTER_OTLP_ENDPOINT must be/],
    [{ METRICS_MAX_PATTERNS: '0' }, /^METRICS_MAX_PATTERNS must be an integer/],
    [{ METRICS_MAX_SUBSCRIPTIONS: '0' }, /^METRICS_MAX_SUBSCRIPTIONS must be an integer/],
    [{ OAUTH_JWKS_URL: 'https://id.example.com/jwks' }, /^OAuth needs both OAUTH_ISSUER/],
    [{ OAUTH_ISSUER: 'https://id.example.com', OAUTH_AUDIENCE: 'eps' }, /^OAuth needs exactly one/],
    [{ ...OAUTH, OAUTH_PUBLIC_KEY: EC_PEM }, /^OAuth needs exactly one/],
    [{ ...OAUTH, OAUTH_JWKS_URL: 'file:///etc/keys' }, /^OAUTH_JWKS_URL must be an http/],
    [
      { ...OAUTH, OAUTH_JWKS_URL: '', OAUTH_PUBLIC_KEY: 'not a key' },
      /^OAUTH_PUBLIC_KEY is not a PEM public key/,
    ],
    [
      { ...OAUTH, OAUTH_JWKS_URL: '', OAUTH_PUBLIC_KEY: EC_PRIVATE_PEM },
      /^OAUTH_PUBLIC_KEY must be a public key, not a private one$/,
    ],
  ])('refuses %j with a message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
