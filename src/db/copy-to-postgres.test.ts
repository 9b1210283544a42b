import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../app.ts';
import type { Config } from '../config.ts';
import { resolveEncryptionKey } from '../delivery/credentials.ts';
import { localConfig } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { TestClock } from '../testing/clock.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { type PostgresCluster, startPostgresCluster } from '../testing/postgres-cluster.ts';
import { startReceiver, type TestReceiver } from '../testing/receiver.ts';
import { copyDatabase, TargetNotEmpty } from './copy-to-postgres.ts';
import type { Database } from './database.ts';
import { loadMigrations, migrate } from './migrate.ts';
import { openPglite } from './pglite.ts';
import { openPostgres } from './postgres.ts';

const PATTERN = 'moved.created';
/** What a user reads back, before and after the move. */
const READS = [
  '/v1/event-definitions',
  `/v1/events?pattern=${PATTERN}&order=asc`,
  '/v1/workflow-definitions',
  '/v1/workflow-triggers',
  '/v1/workflow-instances',
  '/v1/subscriptions',
  '/v1/api-keys',
];

describe('copying an embedded data folder to PostgreSQL', () => {
  let cluster: PostgresCluster | undefined;
  let receiver: TestReceiver | undefined;
  const open: Array<{ close(): Promise<unknown> }> = [];

  afterAll(async () => {
    for (const resource of open.reverse()) await resource.close().catch(() => {});
    await cluster?.destroy();
    await receiver?.close();
  });

  async function serve(db: Database, config: Config): Promise<App> {
    const migrations = await loadMigrations();
    await migrate(db, migrations);
    const app = await createApp({
      config,
      db,
      clock: new TestClock(),
      logger: pino({ level: 'error' }),
      migrations,
    });
    return app;
  }

  const call = async (app: App, method: 'GET' | 'POST', url: string, payload?: unknown) => {
    const response = await app.server.inject({ method, url, payload: payload as object });
    expect(response.statusCode, response.body).toBeLessThan(300);
    return response.json();
  };

  const route = async (app: App) => {
    while ((await app.workers.runOnce()) > 0);
  };

  it('moves every resource and serves the same reads, secrets and API keys included', async () => {
    receiver = await startReceiver();
    const folder = await testBackends()
      .find((b) => b.name === 'pglite')!
      .create();
    open.push({ close: () => folder.destroy() });
    const dataDir = folder.location.dataDir!;
    // Without DELIVERY_ENCRYPTION_KEY: the folder's key file seals the secrets.
    const embedded = { ...localConfig(), dataDir };
    embedded.delivery = { ...embedded.delivery, encryptionKey: undefined };

    let db = await folder.open();
    let app = await serve(db, embedded);
    await call(app, 'POST', '/v1/event-definitions', openDefinition(PATTERN));
    const workflow = await call(app, 'POST', '/v1/workflow-definitions', { name: 'moved-flow' });
    await call(app, 'POST', '/v1/workflow-triggers', {
      workflowDefinitionId: workflow.id,
      eventPattern: PATTERN,
      triggerType: 'START',
    });
    await call(app, 'POST', '/v1/subscriptions', {
      event_pattern: PATTERN,
      subscriber: {
        id: 'hook',
        type: 'webhook',
        endpoint: receiver.url,
        authentication: { type: 'basic', credentials: 'user:pass' },
      },
    });
    const apiKey = await call(app, 'POST', '/v1/api-keys', { name: 'ops', scopes: ['admin'] });
    for (let n = 0; n < 3; n++)
      await call(app, 'POST', '/v1/events', {
        eventId: `moved-${n}`,
        pattern: PATTERN,
        payload: { n },
      });
    await route(app);
    const before = await Promise.all(READS.map((url) => call(app, 'GET', url)));
    expect(before[4].workflowInstances).toHaveLength(3);
    await app.close();
    await db.close();

    cluster = await startPostgresCluster();
    const target = await openPostgres({ connectionString: cluster.url });
    open.push(target);
    const source = await openPglite({ dataDir });
    await migrate(source);
    await migrate(target);
    const copied = await copyDatabase(source, target);
    expect(copied).toMatchObject({ events: 3, event_definitions: 1, subscriptions: 1 });
    // Never into a database that holds rows already.
    await expect(copyDatabase(source, target)).rejects.toBeInstanceOf(TargetNotEmpty);
    await source.close();

    const key = await resolveEncryptionKey({
      configuredKey: undefined,
      databaseUrl: undefined,
      dataDir,
    });
    db = target;
    app = await serve(db, {
      ...localConfig(),
      databaseUrl: cluster.url,
      delivery: { ...localConfig().delivery, encryptionKey: key },
    });
    open.push(app);
    const after = await Promise.all(READS.map((url) => call(app, 'GET', url)));
    expect(after).toEqual(before);

    // The API key still authenticates; the credentials sealed in the folder still open.
    expect(await app.apiKeys.authenticate(apiKey.key)).toMatchObject({ keyId: apiKey.id });
    receiver.received.length = 0;
    await call(app, 'POST', '/v1/events', {
      eventId: 'moved-after',
      pattern: PATTERN,
      payload: {},
    });
    await route(app);
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.headers.authorization).toBe(
      `Basic ${Buffer.from('user:pass').toString('base64')}`,
    );
  }, 300_000);
});
