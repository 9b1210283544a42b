import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../auth/keys.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { runEps, serviceEnv } from '../testing/eps-process.ts';
import { runKeysCommand } from './keys-command.ts';

describe.each(testBackends())('the keys command on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend, { authEnabled: true });
  });
  afterAll(() => t.close());

  const run = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runKeysCommand(argv, {
      db: t.db,
      clock: t.clock,
      out: (text) => out.push(text),
      err: (text) => err.push(text),
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  it('creates a key that works over HTTP, lists it without secrets, and revokes it', async () => {
    const created = await run(
      'create',
      '--scopes',
      'definitions:read, events:publish',
      '--name',
      'ci',
    );
    expect(created.code).toBe(0);
    expect(created.err).toContain('not shown again');
    const key = JSON.parse(created.out);
    expect(key).toMatchObject({
      name: 'ci',
      scopes: ['definitions:read', 'events:publish'],
      key: expect.stringMatching(/^eps_/),
    });
    const headers = { 'x-api-key': key.key };
    expect((await t.request('GET', '/v1/event-definitions', { headers })).status).toBe(200);

    const listed = await run('list');
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.out)).toContainEqual(
      expect.objectContaining({ id: key.id, name: 'ci' }),
    );
    expect(listed.out).not.toContain(key.key);

    const revoked = await run('revoke', key.id);
    expect(revoked.code).toBe(0);
    expect(JSON.parse(revoked.out).revoked_at).toBe(t.clock.now().toISOString());
    // The running service trusted the key for its cache time; after that it is refused.
    t.clock.advance(10_001);
    expect((await t.request('GET', '/v1/event-definitions', { headers })).status).toBe(401);
  });

  it.each([
    [[], /^usage:/],
    [['create'], /^create needs --scopes/],
    [['create', '--scopes', 'events:delete'], /^unknown scope events:delete/],
    [['create', '--scopes', 'admin', 'extra'], /^unexpected argument extra/],
    [['create', '--scopes', 'admin', '--colour', 'red'], /Unknown option '--colour'/],
    [['create', '--scopes', 'admin', '--kind', 'service'], /^a service account needs --name/],
    [['create', '--scopes', 'admin', '--kind', 'robot'], /^--kind must be one of/],
    [['list', '--kind', 'robot'], /^--kind must be one of/],
    [['revoke'], /^revoke needs the id/],
    [['revoke', 'not-a-uuid'], /^revoke needs the id/],
    [['rotate'], /^usage:/],
  ])('refuses %j with exit code 2 and the usage', async (argv, message) => {
    const result = await run(...argv);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
    expect(result.out).toBe('');
  });

  it('creates service accounts and lists them apart', async () => {
    const created = await run(
      'create',
      '--scopes',
      'events:publish',
      '--name',
      'billing',
      '--kind',
      'service',
    );
    expect(created.code).toBe(0);
    expect(JSON.parse(created.out)).toMatchObject({ kind: 'service', name: 'billing' });
    await run('create', '--scopes', 'admin', '--name', 'ops');
    const services = await run('list', '--kind', 'service');
    expect(JSON.parse(services.out).map((k: { name: string }) => k.name)).toEqual(['billing']);
  });

  it('fails with exit code 1 to revoke a key that does not exist', async () => {
    const result = await run('revoke', '5b0a3f8e-7c51-4c3e-9f6f-3d0e6a1b2c4d');
    expect(result.code).toBe(1);
    expect(result.err).toBe('API key 5b0a3f8e-7c51-4c3e-9f6f-3d0e6a1b2c4d not found');
  });

  // A real process (tsx, migrations on an empty database): slow on a loaded machine.
  it('runs as `eps keys` (and so `npm run keys`) against the configured database', async () => {
    const database = await backend.create();
    try {
      // Resolved on 'close', not 'exit': stdout may not all have been read when the process exits.
      // No service URL: `keys` works on the database itself.
      const { code, stdout, stderr } = await runEps(
        '',
        ['keys', 'create', '--scopes', 'admin'],
        serviceEnv(database),
      ).exited;
      expect(code, stderr).toBe(0);
      const { key } = JSON.parse(stdout);
      const db = await database.open();
      try {
        const { rows } = await db.query<{ key_hash: string; scopes: string[] }>(
          'SELECT key_hash, scopes FROM api_keys',
        );
        expect(rows).toEqual([{ key_hash: hashApiKey(key), scopes: ['admin'] }]);
      } finally {
        await db.close();
      }
    } finally {
      await database.destroy();
    }
  }, 60_000);
});
