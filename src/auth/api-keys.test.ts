import { createHash } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../app.ts';
import { loadConfig } from '../config.ts';
import { loadMigrations } from '../db/migrate.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';

const BOOTSTRAP = `eps_bootstrap_${'b'.repeat(32)}`;

describe.each(testBackends())('API keys on $name', (backend) => {
  let t: TestApp;
  let admin: Record<string, string>;

  beforeAll(async () => {
    t = await startTestApp(backend, { authEnabled: true });
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    await t.reset();
    admin = { 'x-api-key': (await t.app.apiKeys.create({ name: 'root', scopes: ['admin'] })).key };
  });

  const create = (body: unknown, headers = admin) =>
    t.request('POST', '/v1/api-keys', { payload: body, headers });

  it('creates a key, shows it once, and stores only its SHA-256', async () => {
    const created = await create({ name: 'publisher', scopes: ['events:publish', 'events:read'] });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/v1/api-keys/${created.body.id}`);
    expect(created.headers['cache-control']).toBe('no-store');
    const { key } = created.body;
    expect(key).toMatch(/^eps_[A-Za-z0-9_-]{43}$/);
    expect(created.body).toEqual({
      id: expect.any(String),
      kind: 'standard',
      name: 'publisher',
      prefix: key.slice(0, 12),
      scopes: ['events:publish', 'events:read'],
      created_at: t.clock.now().toISOString(),
      revoked_at: null,
      key,
    });

    // The database holds the hash, and nowhere the key or its secret part.
    const { rows } = await t.db.query<Record<string, unknown>>('SELECT * FROM api_keys');
    const stored = JSON.stringify(rows);
    expect(stored).not.toContain(key);
    expect(stored).not.toContain(key.slice(12));
    const row = rows.find((r) => r.id === created.body.id)!;
    expect(row.key_hash).toBe(createHash('sha256').update(key).digest('hex'));

    // The key works for what its scopes allow.
    const listed = await t.request('GET', '/v1/event-definitions', {
      headers: { 'x-api-key': key },
    });
    expect(listed.status).toBe(403);
  });

  it('lists keys without their secrets or hashes', async () => {
    const created = await create({ name: 'reader', scopes: ['definitions:read'] });
    const listed = await t.request('GET', '/v1/api-keys', { headers: admin });
    expect(listed.status).toBe(200);
    expect(listed.body.pagination).toEqual({ total: 2, limit: 100, offset: 0, hasMore: false });
    const reader = listed.body.api_keys.find((k: any) => k.id === created.body.id);
    expect(reader).toEqual({
      id: created.body.id,
      kind: 'standard',
      name: 'reader',
      prefix: created.body.prefix,
      scopes: ['definitions:read'],
      created_at: created.body.created_at,
      revoked_at: null,
    });
    const text = JSON.stringify(listed.body);
    expect(text).not.toContain(created.body.key);
    expect(text).not.toContain('hash');
  });

  describe('service accounts', () => {
    it('are keys of kind service with scopes of their own, listed apart', async () => {
      const service = await create({
        kind: 'service',
        name: 'billing-service',
        scopes: ['events:publish'],
      });
      expect(service.status).toBe(201);
      expect(service.body).toMatchObject({
        kind: 'service',
        name: 'billing-service',
        scopes: ['events:publish'],
      });
      const person = await create({ name: 'alice', scopes: ['definitions:read'] });

      const services = await t.request('GET', '/v1/api-keys?kind=service', { headers: admin });
      expect(services.status).toBe(200);
      expect(services.body.api_keys.map((k: any) => k.name)).toEqual(['billing-service']);
      expect(services.body.pagination.total).toBe(1);
      const standard = await t.request('GET', '/v1/api-keys?kind=standard', { headers: admin });
      expect(standard.body.api_keys.map((k: any) => k.name).sort()).toEqual(['alice', 'root']);
      const all = await t.request('GET', '/v1/api-keys', { headers: admin });
      expect(all.body.pagination.total).toBe(3);

      // Its own scopes, nothing more: it may publish, not read definitions.
      const own = { 'x-api-key': service.body.key };
      const me = await t.request('GET', '/v1/me', { headers: own });
      expect(me.body.key).toEqual({
        id: service.body.id,
        kind: 'service',
        name: 'billing-service',
      });
      expect(me.body.scopes).toEqual(['events:publish']);
      expect((await t.request('GET', '/v1/event-definitions', { headers: own })).status).toBe(403);
      expect(
        (
          await t.request('GET', '/v1/event-definitions', {
            headers: { 'x-api-key': person.body.key },
          })
        ).status,
      ).toBe(200);
    });

    it('need a name, and the listing a known kind', async () => {
      for (const name of [undefined, '', '   ']) {
        const refused = await create({ kind: 'service', name, scopes: ['events:publish'] });
        expect(refused.status).toBe(400);
        expect(refused.body.error.details).toContainEqual(
          expect.objectContaining({ field: 'name', code: 'required' }),
        );
      }
      const unknownKind = await t.request('GET', '/v1/api-keys?kind=robot', { headers: admin });
      expect(unknownKind.status).toBe(400);
      expect(unknownKind.body.error.code).toBe('validation_error');
    });
  });

  it('revokes a key: 204, listed as revoked, refused afterwards, revoking again is harmless', async () => {
    const created = await create({ scopes: ['definitions:read'] });
    const own = { 'x-api-key': created.body.key };
    expect((await t.request('GET', '/v1/event-definitions', { headers: own })).status).toBe(200);
    t.clock.advance(1000);
    const revoked = await t.request('DELETE', `/v1/api-keys/${created.body.id}`, {
      headers: admin,
    });
    expect(revoked.status).toBe(204);
    expect((await t.request('GET', '/v1/event-definitions', { headers: own })).status).toBe(401);
    const listed = await t.request('GET', '/v1/api-keys', { headers: admin });
    expect(listed.body.api_keys.find((k: any) => k.id === created.body.id).revoked_at).toBe(
      t.clock.now().toISOString(),
    );
    t.clock.advance(1000);
    const again = await t.request('DELETE', `/v1/api-keys/${created.body.id}`, { headers: admin });
    expect(again.status).toBe(204);
  });

  it('answers 404 for an unknown key and 400 for an id that is no UUID', async () => {
    const unknown = await t.request('DELETE', '/v1/api-keys/5b0a3f8e-7c51-4c3e-9f6f-3d0e6a1b2c4d', {
      headers: admin,
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    const malformed = await t.request('DELETE', '/v1/api-keys/not-a-uuid', { headers: admin });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('validation_error');
    expect(malformed.body.error.details[0].field).toBe('params.id');
  });

  it.each([
    [{}, 'scopes'],
    [{ scopes: [] }, 'scopes'],
    [{ scopes: ['events:delete'] }, 'scopes[0]'],
    [{ scopes: ['admin', 'admin'] }, 'scopes'],
    [{ scopes: ['admin'], name: 'x'.repeat(256) }, 'name'],
    [{ scopes: ['admin'], key: 'eps_chosen_by_me' }, 'key'],
  ])('refuses %j with 400 naming %s', async (body, field) => {
    const response = await create(body);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('validation_error');
    expect(response.body.error.details.map((d: any) => d.field)).toContain(field);
  });

  it('lets only admin keys manage keys', async () => {
    const publisher = await create({ scopes: ['events:publish'] });
    const response = await create({ scopes: ['admin'] }, { 'x-api-key': publisher.body.key });
    expect(response.status).toBe(403);
  });

  describe('bootstrap admin key', () => {
    const startAnother = async () => {
      const config = { ...loadConfig({}), authEnabled: true, bootstrapAdminKey: BOOTSTRAP };
      return createApp({
        config,
        db: t.db,
        clock: t.clock,
        logger: pino({ level: 'silent' }),
        migrations: await loadMigrations(),
      });
    };

    it('is ensured at start as an admin key, once however often the service starts', async () => {
      const first = await startAnother();
      const second = await startAnother();
      try {
        const response = await second.server.inject({
          method: 'GET',
          url: '/v1/api-keys',
          headers: { 'x-api-key': BOOTSTRAP },
        });
        expect(response.statusCode).toBe(200);
        const keys = response.json().api_keys.filter((k: any) => k.name === 'bootstrap admin');
        expect(keys).toEqual([expect.objectContaining({ scopes: ['admin'], revoked_at: null })]);
      } finally {
        await first.server.close();
        await second.server.close();
      }
    });

    it('stays revoked across a restart once revoked', async () => {
      const first = await startAnother();
      const listed = await first.server.inject({
        method: 'GET',
        url: '/v1/api-keys',
        headers: { 'x-api-key': BOOTSTRAP },
      });
      const id = listed.json().api_keys.find((k: any) => k.name === 'bootstrap admin').id;
      await first.apiKeys.revoke(id);
      await first.server.close();
      const second = await startAnother();
      try {
        const response = await second.server.inject({
          method: 'GET',
          url: '/v1/api-keys',
          headers: { 'x-api-key': BOOTSTRAP },
        });
        expect(response.statusCode).toBe(401);
      } finally {
        await second.server.close();
      }
    });
  });
});
