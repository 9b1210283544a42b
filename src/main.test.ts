import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { loadMigrations, migrate } from './db/migrate.ts';
import { openPglite } from './db/pglite.ts';
import { bookingDefinition, bookingEvent, openDefinition } from './testing/fixtures.ts';
import { freePort } from './testing/free-port.ts';
import { runService, type ServiceProcess, startService } from './testing/service-process.ts';

/** Starting a real process (tsx, PGlite) takes seconds, many on a loaded machine. */
const PROCESS_TEST_TIMEOUT_MS = 120_000;

describe('the service process', { timeout: PROCESS_TEST_TIMEOUT_MS }, () => {
  let dataDir: string;
  let service: ServiceProcess | undefined;

  const freshDataDir = async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'eps-main-'));
    await cp(inject('pgliteTemplate'), dataDir, { recursive: true });
    return dataDir;
  };

  afterEach(async () => {
    if (service && service.child.exitCode === null) await service.stop('SIGKILL');
    service = undefined;
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('stops with a one-line message naming an invalid variable', async () => {
    const { exited } = runService({ PORT: 'eighty' });
    const { code, output } = await exited;
    expect(code).toBe(1);
    expect(output.trim()).toBe(
      'event-processing-service: PORT must be an integer from 0 to 65535, got "eighty"',
    );
  });

  it('refuses to start with auth off on a non-loopback address', async () => {
    const { exited } = runService({ HOST: '0.0.0.0', AUTH: 'off' });
    const { code, output } = await exited;
    expect(code).toBe(1);
    expect(output.trim()).toBe(
      'event-processing-service: AUTH=off is only allowed on a loopback HOST, got HOST "0.0.0.0"; unset AUTH or bind 127.0.0.1',
    );
  });

  // One data folder through a SIGKILL and a graceful restart: each process start costs seconds.
  it('lets one process at a time use a PGlite data folder, takes over the lock of a dead one, and keeps every committed write across a SIGKILL and a graceful restart', async () => {
    await freshDataDir();
    const lockFile = join(dataDir, 'service.lock');
    service = await startService({ DATA_DIR: dataDir });
    const holder = service.child.pid!;
    expect(await readFile(lockFile, 'utf8')).toBe(`${holder}\n`);
    const define = async (definition: { pattern: string }) => {
      const created = await fetch(`${service!.url}/v1/event-definitions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(definition),
      });
      expect(created.status).toBe(201);
      return { id: ((await created.json()) as { id: string }).id, pattern: definition.pattern };
    };
    const readBack = async ({ id, pattern }: { id: string; pattern: string }) => {
      const read = await fetch(`${service!.url}/v1/event-definitions/${id}`);
      expect(read.status).toBe(200);
      expect(await read.json()).toMatchObject({ id, pattern });
    };
    const beforeKill = await define(bookingDefinition());

    const second = await runService({ DATA_DIR: dataDir }).exited;
    expect(second.code).toBe(1);
    expect(second.output.trim()).toBe(
      `event-processing-service: the data folder ${dataDir} is in use by process ${holder} (${lockFile}); ` +
        'stop that process first, or set DATABASE_URL to share a PostgreSQL server between processes',
    );
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);

    // A SIGKILLed holder leaves its lock behind; the next start takes it over.
    expect(await service.stop('SIGKILL')).toBeNull();
    expect(await readFile(lockFile, 'utf8')).toBe(`${holder}\n`);
    service = await startService({ DATA_DIR: dataDir });
    expect(await readFile(lockFile, 'utf8')).toBe(`${service.child.pid}\n`);
    await readBack(beforeKill);
    const beforeStop = await define(openDefinition('restart.graceful'));

    // A graceful stop says so and frees the lock; the next process reads the same data.
    expect(await service.stop('SIGTERM')).toBe(0);
    expect(service.output()).toContain('stopped');
    expect(existsSync(lockFile)).toBe(false);
    service = await startService({ DATA_DIR: dataDir });
    await readBack(beforeKill);
    await readBack(beforeStop);
    expect(await service.stop('SIGINT')).toBe(0);
  });

  it('answers 503 with Retry-After in the envelope while starting, then serves on the same port', async () => {
    await freshDataDir();
    const port = await freePort();
    const starting = runService({ DATA_DIR: dataDir, PORT: String(port) });
    const url = `http://127.0.0.1:${port}`;
    service = {
      ...starting,
      url,
      async stop(signal = 'SIGTERM') {
        starting.child.kill(signal);
        return (await starting.exited).code;
      },
    };
    // The first answer: the port answers from the first moment, long before the service is ready.
    let publish: Response | undefined;
    while (!publish) {
      publish = await fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(bookingEvent()),
      }).catch(() => undefined);
      if (starting.child.exitCode !== null) throw new Error(starting.output());
    }
    expect(starting.output()).not.toContain('Server listening at');
    expect(publish.status).toBe(503);
    expect(publish.headers.get('retry-after')).toBe('1');
    expect(await publish.json()).toEqual({
      error: { code: 'unavailable', message: expect.any(String), details: [] },
    });
    const readiness = await fetch(`${url}/readyz`);
    expect(readiness.status).toBe(503);
    expect(readiness.headers.get('retry-after')).toBe('1');
    expect(((await readiness.json()) as { error: { code: string } }).error.code).toBe('not_ready');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    // Then ready on the same port.
    for (;;) {
      const response = await fetch(`${url}/readyz`).catch(() => undefined);
      if (response?.status === 200) break;
      if (starting.child.exitCode !== null) throw new Error(starting.output());
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const definition = await fetch(`${url}/v1/event-definitions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(bookingDefinition()),
    });
    expect(definition.status).toBe(201);
    expect(await service.stop('SIGTERM')).toBe(0);
  });

  it('refuses to start on a database whose schema is newer than the code', async () => {
    await freshDataDir();
    // Migrated here rather than by a first service start: a process start costs seconds, and the
    // schema is the same.
    const db = await openPglite({ dataDir });
    await migrate(db, await loadMigrations());
    await db.query(
      `INSERT INTO schema_migrations (version, name) VALUES (99999, 'from_the_future')`,
    );
    await db.close();
    const { exited } = runService({ DATA_DIR: dataDir });
    const { code, output } = await exited;
    expect(code).toBe(1);
    expect(output).toMatch(/database schema is newer than this service/);
  });
});
