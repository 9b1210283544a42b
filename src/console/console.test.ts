import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { type BundleReport, ensureConsoleBuilt, FIRST_LOAD_JS_BUDGET_BYTES } from './build.ts';
import { CONSOLE_DIST } from './routes.ts';

// Serving does not touch the database: the embedded backend is enough.
const pglite = testBackends().find((backend) => backend.name === 'pglite')!;

describe('the console and the API reference, served by the service', () => {
  let t: TestApp;
  let report: BundleReport;

  beforeAll(async () => {
    ({ report } = await ensureConsoleBuilt());
    t = await startTestApp(pglite);
  });
  afterAll(() => t.close());

  it('redirects / to the console', async () => {
    const response = await t.request('GET', '/');
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('/console/');
  });

  it.each(['/console', '/console/', '/console/events', '/console/catalog/bookings.created'])(
    'serves the console page at %s (the console routes in the browser)',
    async (url) => {
      const response = await t.request('GET', url);
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/html/);
      expect(response.body).toContain('<div id="root"></div>');
      expect(response.headers['cache-control']).toBe('no-cache');
      expect(response.headers['content-security-policy']).toContain("script-src 'self'");
    },
  );

  it('serves the hashed assets for a year, gzipped for browsers that accept it', async () => {
    const [entry] = report.firstLoadJsFiles;
    expect(entry).toMatch(/^assets\/.+\.js$/);
    const plain = await t.request('GET', `/console/${entry}`);
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toMatch(/javascript/);
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const gzipped = await t.app.server.inject({
      url: `/console/${entry}`,
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gzipped.rawPayload).toString()).toBe(plain.body);
  });

  it('answers a missing asset with a 404 in the envelope', async () => {
    const response = await t.request('GET', '/console/assets/nothing-here.js');
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('not_found');
  });

  it('keeps the first load of JavaScript within its budget', () => {
    // The number itself is reported by `npm run console:build` and `npm run bench`.
    expect(report.firstLoadJsGzipBytes).toBeGreaterThan(0);
    expect(report.firstLoadJsGzipBytes).toBeLessThanOrEqual(FIRST_LOAD_JS_BUDGET_BYTES);
  });

  it('ships every asset the page loads: no address outside the service', async () => {
    const html = await readFile(join(CONSOLE_DIST, 'index.html'), 'utf8');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('serves the OpenAPI reference at /docs from the bundled Swagger UI', async () => {
    const page = await t.request('GET', '/docs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const scripts = [...String(page.body).matchAll(/src="([^"]+)"/g)].map((m) => m[1]!);
    expect(scripts).toEqual([
      '/docs/swagger-ui-bundle.js',
      '/docs/swagger-ui-standalone-preset.js',
      '/docs/init.js',
    ]);
    for (const script of scripts) {
      const response = await t.request('GET', script);
      expect({ script, status: response.status }).toEqual({ script, status: 200 });
    }
    const init = await t.request('GET', '/docs/init.js');
    expect(init.body).toContain("url: '/openapi.json'");
    expect(init.body).toContain('validatorUrl: null');
    // Only the files the page uses, never the package's own folder listing or source maps.
    expect((await t.request('GET', '/docs/package.json')).status).toBe(404);
    expect((await t.request('GET', '/docs/swagger-ui-bundle.js.map')).status).toBe(404);
  });

  it('tells a caller with auth off that everything is allowed', async () => {
    const me = await t.request('GET', '/v1/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ auth: 'off', key: null });
    expect(me.body.scopes).toContain('triggers:write');
  });

  it('leaves the console and the reference out of the OpenAPI document', async () => {
    const doc = (await t.request('GET', '/openapi.json')).body;
    expect(Object.keys(doc.paths).filter((path) => !path.startsWith('/v1'))).not.toContain(
      '/console',
    );
    expect(doc.paths['/docs']).toBeUndefined();
    expect(doc.paths['/v1/me'].get.responses['200']).toBeDefined();
  });
});
