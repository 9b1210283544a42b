import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AppError } from '../errors.ts';

/** Where `npm run console:build` (src/console/build.ts) writes the console. */
export const CONSOLE_DIST = fileURLToPath(new URL('../../console/dist/', import.meta.url));

const SWAGGER_UI_DIR = dirname(
  createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'),
);

/** The Swagger UI files /docs uses; nothing else of the package is served. */
const SWAGGER_UI_FILES = new Set([
  'swagger-ui.css',
  'index.css',
  'swagger-ui-bundle.js',
  'swagger-ui-standalone-preset.js',
  'favicon-32x32.png',
]);

/**
 * The browser pages' own policy: everything from this origin (the bundles ship every asset, no
 * CDN), inline style attributes only (the flow map and Swagger UI position elements with them),
 * data: images (Swagger UI's icons), and no framing.
 */
const PAGE_SECURITY = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; " +
    "frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

const DOCS_PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Event Processing Service API reference</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css" />
    <link rel="stylesheet" href="/docs/index.css" />
    <link rel="icon" href="/docs/favicon-32x32.png" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/swagger-ui-standalone-preset.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;

// validatorUrl: null keeps Swagger UI from sending the document to validator.swagger.io.
const DOCS_INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  plugins: [SwaggerUIBundle.plugins.DownloadUrl],
  layout: 'StandaloneLayout',
});
`;

const notBuilt = () =>
  new AppError(
    503,
    'console_not_built',
    'the console is not built: run `npm run console:build` (`npm start` builds it)',
  );

/**
 * The browser side of the service, all public (the pages hold no data; every API call they make
 * carries the user's key):
 * - `/` redirects to `/console/`;
 * - `/console/…` serves the console built by Vite (console/dist): hashed files under `assets/`
 *   for a year, pre-compressed (gzip, brotli) when the browser accepts it, and the page itself
 *   for every other path, since the console routes in the browser;
 * - `/docs` is the OpenAPI reference: Swagger UI from the npm package over `/openapi.json`.
 *
 * The files are served by @fastify/static's `sendFile` from routes of our own rather than by its
 * (or @fastify/swagger-ui's) routes, because every route must declare its access rule
 * (src/auth/access.ts) and those plugins register theirs without one.
 */
export function registerConsoleRoutes(app: FastifyInstance, distDir = CONSOLE_DIST): void {
  app.register(fastifyStatic, { root: distDir, serve: false, preCompressed: true });
  const route = { config: { access: 'public' }, schema: { hide: true } } as const;

  app.get('/', route, async (_request, reply) => reply.redirect('/console/'));

  const sendConsolePage = async (reply: FastifyReply) => {
    await access(join(distDir, 'index.html')).catch(() => {
      throw notBuilt();
    });
    // Revalidated on every load, so a new build's asset names reach the browser at once.
    return reply
      .headers({ ...PAGE_SECURITY, 'cache-control': 'no-cache' })
      .sendFile('index.html', { cacheControl: false });
  };
  app.get('/console', route, async (_request, reply) => sendConsolePage(reply));
  app.get<{ Params: { '*': string } }>('/console/*', route, async (request, reply) => {
    const path = request.params['*'];
    if (!path.startsWith('assets/')) return sendConsolePage(reply);
    // Content-hashed names: a file never changes under its name.
    return reply
      .header('x-content-type-options', 'nosniff')
      .sendFile(path, { maxAge: '365d', immutable: true });
  });

  app.get('/docs', route, async (_request, reply) =>
    reply.headers(PAGE_SECURITY).type('text/html; charset=utf-8').send(DOCS_PAGE),
  );
  app.get('/docs/init.js', route, async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').send(DOCS_INIT),
  );
  app.get<{ Params: { file: string } }>('/docs/:file', route, async (request, reply) => {
    const { file } = request.params;
    if (!SWAGGER_UI_FILES.has(file)) return reply.callNotFound();
    return reply.sendFile(file, SWAGGER_UI_DIR, { maxAge: '1d' });
  });
}
