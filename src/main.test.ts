import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { openPglite } from './db/pglite.ts';
import { bookingDefinition } from './testing/fixtures.ts';
import { runService, type ServiceProcess, startService } from './testing/service-process.ts';

describe('the service process', () => {
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

  it('keeps every committed write in the PGlite data folder across a graceful restart', async () => {
    await freshDataDir();
    service = await startService({ DATA_DIR: dataDir });
    const created = await fetch(`${service.url}/v1/event-definitions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(bookingDefinition()),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect(await service.stop('SIGTERM')).toBe(0);
    expect(service.output()).toContain('stopped');

    service = await startService({ DATA_DIR: dataDir });
    const read = await fetch(`${service.url}/v1/event-definitions/${id}`);
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ id, pattern: 'bookings.created' });
    expect(await service.stop('SIGINT')).toBe(0);
  });

  it('refuses to start on a database whose schema is newer than the code', async () => {
    await freshDataDir();
    service = await startService({ DATA_DIR: dataDir });
    await service.stop();
    const db = await openPglite({ dataDir });
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
