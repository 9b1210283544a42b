import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import { errorResponseSchema, errorSchema } from './common.ts';

/**
 * Conventions every documented route follows without repeating them, applied as routes are
 * registered (so a new route cannot forget them), which keep `/openapi.json` exact:
 *
 * - an `operationId` is required (registration fails without one);
 * - every error answer references the one `components/schemas/Error` (the envelope), and each
 *   status a route can answer is listed: 400 (every route validates its query), 401 on secured
 *   routes, 403 and 429 on scoped ones, 404 and 414 where the path has parameters, 413 and 415
 *   where a body is read;
 * - public routes say so (`security: []`);
 * - unknown query parameters are refused with 400 `validation_error` (detail code
 *   `additionalProperties` naming the parameter), as Stripe does: a mistyped filter
 *   (`?patern=`) that is silently ignored returns everything, which is worse than an error.
 *
 * Routes hidden from the description (`schema.hide`: static files, aliases) are left alone.
 */
export function installRouteConventions(app: FastifyInstance): void {
  app.addSchema(errorSchema);
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = route.schema as (FastifySchema & Record<string, unknown>) | undefined;
    if (!schema || schema.hide) return;
    if (typeof schema.operationId !== 'string') {
      throw new Error(`route ${[route.method].flat().join(',')} ${route.url} needs an operationId`);
    }
    const access = route.config?.access;
    route.schema = {
      ...schema,
      ...(access === 'public' ? { security: [] } : {}),
      querystring: {
        ...((schema.querystring as object | undefined) ?? { type: 'object', properties: {} }),
        additionalProperties: false,
      },
      response: { ...errorAnswers(route, schema), ...(schema.response as object | undefined) },
    };
  });
}

function errorAnswers(route: RouteOptions, schema: FastifySchema): Record<number, unknown> {
  const statuses = [400];
  const access = route.config?.access;
  if (access !== undefined && access !== 'public') statuses.push(401);
  if (access !== undefined && access !== 'public' && access !== 'authenticated')
    statuses.push(403, 429);
  if (route.url.includes(':')) statuses.push(404, 414);
  if (schema.body) statuses.push(413, 415);
  return Object.fromEntries(statuses.map((status) => [status, errorResponseSchema]));
}
