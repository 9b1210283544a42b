import type { FastifyInstance, RouteOptions } from 'fastify';

/**
 * Conventions every API route follows without repeating them, applied as routes are
 * registered (so a new route cannot forget them).
 *
 * Unknown query parameters are refused with 400 `validation_error` (detail code
 * `additionalProperties` naming the parameter) on every `/v1` route, as Stripe does: a mistyped
 * filter (`?patern=`) that is silently ignored returns everything, which is worse than an error.
 */
export function installRouteConventions(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    if (!route.url.startsWith('/v1/') || !route.schema) return;
    const querystring = (route.schema.querystring ?? {
      type: 'object',
      properties: {},
    }) as Record<string, unknown>;
    route.schema = {
      ...route.schema,
      querystring: { ...querystring, additionalProperties: false },
    };
  });
}
