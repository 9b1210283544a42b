import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../http/server.ts';
import { Metrics } from '../observability/metrics.ts';
import { Tracing } from '../observability/tracing.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { installAccessControl, type RouteAccess } from './access.ts';
import { ApiKeys } from './api-keys.ts';
import { RateLimiter } from './rate-limit.ts';
import { RateLimitStore } from './rate-limit-store.ts';
import { SCOPES, type Scope } from './scopes.ts';

const SOME_UUID = '7d8f0c36-4c1e-4a53-9a4b-2f1d9a0c6b11';

/** A concrete URL for a route template: every path parameter becomes a UUID. */
const urlOf = (template: string) => template.replace(/:[A-Za-z_]+/g, SOME_UUID);

describe.each(testBackends())('access control on $name', (backend) => {
  let t: TestApp;
  /** A key holding exactly one scope, per scope. */
  const keyWith = new Map<Scope, string>();
  /** A key holding every scope except the given one (and never admin, which implies all). */
  const keyWithout = new Map<Scope, string>();

  beforeAll(async () => {
    t = await startTestApp(backend, { authEnabled: true });
    for (const scope of SCOPES) {
      keyWith.set(scope, (await t.app.apiKeys.create({ name: scope, scopes: [scope] })).key);
      const others = SCOPES.filter((s) => s !== scope && s !== 'admin');
      keyWithout.set(
        scope,
        (await t.app.apiKeys.create({ name: `not ${scope}`, scopes: others })).key,
      );
    }
  });
  afterAll(() => t.close());

  // The event stream never ends by itself; a malformed position makes it answer (400) once the
  // caller passed the access check, so the check is still what decides 401/403.
  const callUrl = (url: string) =>
    url === '/v1/events/stream' ? `${url}?after=not-a-position` : urlOf(url);
  const call = (route: RouteAccess, headers: Record<string, string> = {}) =>
    t.request(route.method, callUrl(route.url), {
      headers: ['POST', 'PUT', 'PATCH'].includes(route.method)
        ? { 'content-type': 'application/json', ...headers }
        : headers,
      payload: ['POST', 'PUT', 'PATCH'].includes(route.method) ? '{}' : undefined,
    });

  it('collects every registered route with its rule', () => {
    const rules = Object.fromEntries(t.app.routes.map((r) => [`${r.method} ${r.url}`, r.access]));
    expect(rules).toMatchObject({
      'GET /healthz': 'public',
      'GET /readyz': 'public',
      'GET /openapi.json': 'public',
      'GET /metrics': 'public',
      'POST /v1/api-keys': 'admin',
      'GET /v1/api-keys': 'admin',
      'DELETE /v1/api-keys/:id': 'admin',
      'POST /v1/event-definitions': 'definitions:write',
      'GET /v1/event-definitions': 'definitions:read',
      'GET /v1/event-definitions/:ref': 'definitions:read',
      'GET /v1/event-definitions/:ref/versions': 'definitions:read',
      'PATCH /v1/event-definitions/:ref': 'definitions:write',
      'DELETE /v1/event-definitions/:ref': 'definitions:write',
      'GET /v1/me': 'authenticated',
    });
    // Every /v1 route needs a key: nothing under /v1 is public.
    for (const route of t.app.routes.filter((r) => r.url.startsWith('/v1'))) {
      expect({ route: `${route.method} ${route.url}`, access: route.access }).not.toEqual({
        route: `${route.method} ${route.url}`,
        access: 'public',
      });
    }
  });

  describe('every route', () => {
    // Evaluated when the tests run, after beforeAll registered the routes.
    it('answers public routes without a key', async () => {
      const publicRoutes = t.app.routes.filter((r) => r.access === 'public');
      expect(publicRoutes.length).toBeGreaterThanOrEqual(4);
      for (const route of publicRoutes) {
        const response = await call(route);
        expect({ route: `${route.method} ${route.url}`, status: response.status }).toEqual({
          route: `${route.method} ${route.url}`,
          status: expect.not.toBeOneOf([401, 403]),
        });
      }
    });

    it('answers 401 without a key and serves any key on routes for any caller', async () => {
      const anyKey = t.app.routes.filter((r) => r.access === 'authenticated');
      expect(anyKey.length).toBeGreaterThanOrEqual(1);
      for (const route of anyKey) {
        const name = `${route.method} ${route.url}`;
        expect({ name, status: (await call(route)).status }).toEqual({ name, status: 401 });
        for (const scope of SCOPES) {
          const response = await call(route, { 'x-api-key': keyWith.get(scope)! });
          expect({ name, scope, status: response.status }).toEqual({ name, scope, status: 200 });
        }
      }
    });

    it('answers 401 without a key, 403 without the scope, and serves the scope', async () => {
      const guarded = t.app.routes.filter(
        (r) => r.access !== 'public' && r.access !== 'authenticated',
      );
      expect(guarded.length).toBeGreaterThanOrEqual(9);
      for (const route of guarded) {
        const name = `${route.method} ${route.url} (${route.access})`;
        const scope = route.access as Scope;

        const anonymous = await call(route);
        expect({ name, status: anonymous.status }).toEqual({ name, status: 401 });
        if (route.method !== 'HEAD') {
          expect(anonymous.body.error.code).toBe('unauthorized');
        }

        const lacking = await call(route, { 'x-api-key': keyWithout.get(scope)! });
        expect({ name, status: lacking.status }).toEqual({ name, status: 403 });
        if (route.method !== 'HEAD') expect(lacking.body.error.code).toBe('forbidden');

        const allowed = await call(route, { authorization: `Bearer ${keyWith.get(scope)!}` });
        expect({ name, status: allowed.status }).toEqual({
          name,
          status: expect.not.toBeOneOf([401, 403]),
        });

        const admin = await call(route, { 'x-api-key': keyWith.get('admin')! });
        expect({ name, status: admin.status }).toEqual({
          name,
          status: expect.not.toBeOneOf([401, 403]),
        });
      }
    });
  });

  it('answers 401 and 403 in the error envelope', async () => {
    const missing = await t.request('GET', '/v1/event-definitions');
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    expect(missing.body).toEqual({
      error: {
        code: 'unauthorized',
        message: 'an API key is required (X-API-Key or Authorization: Bearer)',
        details: [],
      },
    });
    const forbidden = await t.request('POST', '/v1/event-definitions', {
      headers: { 'x-api-key': keyWith.get('definitions:read')! },
      payload: {},
    });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toEqual({
      error: {
        code: 'forbidden',
        message: 'the API key lacks the scope definitions:write',
        details: [],
      },
    });
  });

  it.each([
    ['an unknown key', { 'x-api-key': `eps_${'A'.repeat(43)}` }],
    ['a malformed key', { 'x-api-key': 'letmein' }],
    ['an empty bearer', { authorization: 'Bearer ' }],
    ['another scheme', { authorization: 'Basic dXNlcjpwYXNz' }],
  ])('answers 401 for %s', async (_name, headers) => {
    const response = await t.request('GET', '/v1/event-definitions', { headers });
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('unauthorized');
  });

  it('checks the key before the body: no 400 leaks to a caller without a key', async () => {
    const response = await t.request('POST', '/v1/event-definitions', {
      payload: '{"broken": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(401);
  });

  it('stops accepting a key once it is revoked', async () => {
    const { id, key } = await t.app.apiKeys.create({ name: 'short-lived', scopes: ['admin'] });
    const before = await t.request('GET', '/v1/api-keys', { headers: { 'x-api-key': key } });
    expect(before.status).toBe(200);
    const revoked = await t.request('DELETE', `/v1/api-keys/${id}`, {
      headers: { 'x-api-key': key },
    });
    expect(revoked.status).toBe(204);
    const after = await t.request('GET', '/v1/api-keys', { headers: { 'x-api-key': key } });
    expect(after.status).toBe(401);
  });

  it('notices a key revoked by another instance once the cache time has passed', async () => {
    const { id, key } = await t.app.apiKeys.create({ name: 'elsewhere', scopes: ['admin'] });
    const headers = { 'x-api-key': key };
    expect((await t.request('GET', '/v1/api-keys', { headers })).status).toBe(200);
    // Another instance revokes it: same table, not this instance's cache.
    const other = new ApiKeys({ db: t.db, clock: t.clock, cacheSeconds: 10 });
    await other.revoke(id);
    expect((await t.request('GET', '/v1/api-keys', { headers })).status).toBe(200);
    t.clock.advance(10_001);
    expect((await t.request('GET', '/v1/api-keys', { headers })).status).toBe(401);
  });

  it("tells a key its own identity and scopes, and no one else's", async () => {
    const { id, key } = await t.app.apiKeys.create({
      name: 'reader',
      scopes: ['events:read', 'definitions:read'],
    });
    const me = await t.request('GET', '/v1/me', { headers: { 'x-api-key': key } });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      auth: 'on',
      key: { id, kind: 'standard', name: 'reader' },
      token: null,
      scopes: ['events:read', 'definitions:read'],
    });
    expect((await t.request('GET', '/v1/me')).status).toBe(401);
  });

  it('describes the needed key in the OpenAPI document', async () => {
    const doc = (await t.request('GET', '/openapi.json')).body;
    expect(doc.components.securitySchemes).toMatchObject({
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      bearerAuth: { type: 'http', scheme: 'bearer' },
    });
    const create = doc.paths['/v1/event-definitions'].post;
    expect(create.security).toEqual([{ apiKey: [] }, { bearerAuth: [] }]);
    expect(create.description).toContain('definitions:write');
    expect(doc.paths['/healthz'].get.security).toEqual([]);
  });

  describe('a route without an access rule', () => {
    const bareServer = async () => {
      const clock = t.clock;
      return createServer({
        logger: pino({ level: 'silent' }),
        bodyLimitBytes: 1024,
        metrics: new Metrics({ processMetrics: false }),
        tracing: new Tracing({ serviceName: 'test' }),
        installAccessControl: (app) =>
          installAccessControl(app, {
            apiKeys: new ApiKeys({ db: t.db, clock, cacheSeconds: 0 }),
            rateLimiter: new RateLimiter({ store: new RateLimitStore(t.db), clock, limits: {} }),
            clock,
            authEnabled: true,
          }),
      });
    };

    it('stops the server from starting', async () => {
      const { server } = await bareServer();
      expect(() => server.get('/v1/forgotten', async () => 'open to all?')).toThrow(
        /route GET \/v1\/forgotten must declare config\.access/,
      );
      await server.close();
    });

    it('stops the server from starting when added inside a plugin', async () => {
      const { server } = await bareServer();
      server.register(async (plugin) => {
        plugin.post('/v1/later', { config: {} }, async () => 'open to all?');
      });
      await expect(server.ready()).rejects.toThrow(/route POST \/v1\/later must declare/);
      await server.close().catch(() => {});
    });

    it('refuses an unknown scope', async () => {
      const { server } = await bareServer();
      expect(() =>
        server.get('/v1/typo', { config: { access: 'definition:read' as Scope } }, async () => ''),
      ).toThrow(/must declare config\.access/);
      await server.close();
    });
  });
});
