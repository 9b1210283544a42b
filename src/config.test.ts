import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('configuration', () => {
  it('has documented defaults', () => {
    expect(loadConfig({})).toEqual({
      port: 8080,
      host: '127.0.0.1',
      databaseUrl: undefined,
      dataDir: './data',
      logLevel: 'info',
      bodyLimitBytes: 1024 * 1024,
      authEnabled: false,
      bootstrapAdminKey: undefined,
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
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '9000',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://u@db:5432/x',
      DATA_DIR: '/var/eps',
      LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
      databaseUrl: 'postgres://u@db:5432/x',
      dataDir: '/var/eps',
      logLevel: 'debug',
    });
  });

  it.each([
    [{ PORT: 'eighty' }, /^PORT must be an integer/],
    [{ PORT: '70000' }, /^PORT must be an integer/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL must use postgres/],
    [{ DATABASE_URL: 'not a url' }, /^DATABASE_URL must be/],
    [{ AUTH: 'yes' }, /^AUTH must be one of on, off/],
    [{ BOOTSTRAP_ADMIN_KEY: 'admin' }, /^BOOTSTRAP_ADMIN_KEY must be "eps_"/],
    [{ RATE_LIMIT_EVENTS_PUBLISH: '-1' }, /^RATE_LIMIT_EVENTS_PUBLISH must be an integer/],
    [{ RATE_LIMIT_DEFINITIONS: 'many' }, /^RATE_LIMIT_DEFINITIONS must be an integer/],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, /^OTEL_EXPORTER_OTLP_ENDPOINT must be/],
    [{ METRICS_MAX_PATTERNS: '0' }, /^METRICS_MAX_PATTERNS must be an integer/],
  ])('refuses %j with a message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
