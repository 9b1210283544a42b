import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';

describe.each(testBackends())('HTTP foundation on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend, { bodyLimitBytes: 4096 });
  });
  afterAll(() => t.close());

  const expectEnvelope = (body: any, code: string) => {
    expect(body).toEqual({
      error: { code, message: expect.any(String), details: expect.any(Array) },
    });
  };

  it("compiles every route's schemas in the background, answering requests meanwhile", async () => {
    // What the service does once it listens: a schema of ours that does not compile fails here.
    let compiled = false;
    const compiling = t.app.compileRouteSchemas().then((result) => {
      compiled = true;
      return result;
    });
    expect((await t.request('GET', '/healthz')).status).toBe(200);
    expect(compiled).toBe(false);
    expect((await compiling).schemas).toBeGreaterThan(t.app.routes.length);
    expect((await t.request('GET', '/v1/event-definitions')).status).toBe(200);
  });

  it('answers unknown routes with 404 not_found in the envelope', async () => {
    const response = await t.request('GET', '/v1/nothing-here');
    expect(response.status).toBe(404);
    expectEnvelope(response.body, 'not_found');
  });

  it('answers malformed JSON with 400 invalid_json', async () => {
    const response = await t.request('POST', '/v1/event-definitions', {
      payload: '{"event_id": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expectEnvelope(response.body, 'invalid_json');
  });

  it('answers an empty JSON body with 400', async () => {
    const response = await t.request('POST', '/v1/event-definitions', {
      payload: '',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expectEnvelope(response.body, 'invalid_json');
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/xml'])(
    'answers content type %s with 415',
    async (contentType) => {
      const response = await t.request('POST', '/v1/event-definitions', {
        payload: 'event_id=x',
        headers: { 'content-type': contentType },
      });
      expect(response.status).toBe(415);
      expectEnvelope(response.body, 'unsupported_media_type');
    },
  );

  it('answers an oversized body with 413', async () => {
    const response = await t.request('POST', '/v1/event-definitions', {
      payload: JSON.stringify({ description: 'x'.repeat(5000) }),
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(413);
    expectEnvelope(response.body, 'payload_too_large');
  });

  it('refuses prototype pollution attempts with 400', async () => {
    const response = await t.request('POST', '/v1/event-definitions', {
      payload: '{"__proto__": {"polluted": true}}',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(({} as any).polluted).toBeUndefined();
  });

  it('echoes a sane X-Request-Id and makes one up otherwise', async () => {
    const given = await t.request('GET', '/healthz', { headers: { 'x-request-id': 'req-123' } });
    expect(given.headers['x-request-id']).toBe('req-123');
    const made = await t.request('GET', '/healthz', {
      headers: { 'x-request-id': 'bad id with spaces' },
    });
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('reports health and readiness', async () => {
    expect((await t.request('GET', '/healthz')).body).toEqual({ status: 'ok' });
    const ready = await t.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready' });
  });

  it('is not ready while a migration is missing', async () => {
    const { rows } = await t.db.query<{ version: number }>(
      'SELECT max(version) AS version FROM schema_migrations',
    );
    const latest = rows[0]!.version;
    const { rows: saved } = await t.db.query<{ name: string }>(
      'SELECT name FROM schema_migrations WHERE version = $1',
      [latest],
    );
    await t.db.query('DELETE FROM schema_migrations WHERE version = $1', [latest]);
    try {
      const response = await t.request('GET', '/readyz');
      expect(response.status).toBe(503);
      expectEnvelope(response.body, 'not_ready');
    } finally {
      await t.db.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        latest,
        saved[0]!.name,
      ]);
    }
  });

  it('serves an OpenAPI 3 document built from the route schemas', async () => {
    const response = await t.request('GET', '/openapi.json');
    expect(response.status).toBe(200);
    const doc = response.body;
    expect(doc.openapi).toMatch(/^3\./);
    const create = doc.paths['/v1/event-definitions'].post;
    expect(create.requestBody.content['application/json'].schema.required).toEqual(
      expect.arrayContaining(['event_id', 'name', 'pattern', 'version', 'payload_schema']),
    );
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/event-definitions/{ref}',
        '/v1/event-definitions/{ref}/versions',
      ]),
    );
    // The document describes the same pattern rule the route enforces.
    const patternRule =
      create.requestBody.content['application/json'].schema.properties.pattern.pattern;
    expect(new RegExp(patternRule).test('bookings.created')).toBe(true);
    expect(new RegExp(patternRule).test('bookings.*')).toBe(false);
  });
});
