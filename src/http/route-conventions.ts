import type { FastifyInstance, FastifyRequest, FastifySchema, RouteOptions } from 'fastify';
import { AppError, validationError } from '../errors.ts';
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
 * - a route whose body is described per media type (`body.content`) reads only those types
 *   (415 otherwise) and needs a body (400 when there is none): Fastify validates such a body
 *   only when its Content-Type is one of the map's keys, so without this an empty request or
 *   another parsed type reached the handler unchecked.
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
    const mediaTypes = describedMediaTypes(schema.body);
    if (mediaTypes) {
      route.preValidation = [bodyAsDescribed(mediaTypes), ...[route.preValidation ?? []].flat()];
    }
  });
}

function describedMediaTypes(body: unknown): string[] | undefined {
  const content = (body as { content?: Record<string, unknown> } | undefined)?.content;
  return content ? Object.keys(content) : undefined;
}

/** Refuses a request whose body is missing or of a media type the route does not describe. */
function bodyAsDescribed(mediaTypes: string[]) {
  return async (request: FastifyRequest): Promise<void> => {
    if (request.body === undefined) throw bodyRequired(mediaTypes);
    const type = String(request.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    if (!mediaTypes.includes(type)) {
      throw new AppError(
        415,
        'unsupported_media_type',
        `Content-Type must be one of ${mediaTypes.join(', ')}`,
      );
    }
    if (request.body === null) throw bodyRequired(mediaTypes);
  };
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

const bodyRequired = (mediaTypes: string[]) =>
  validationError('a request body is required', [
    { field: 'body', code: 'required', message: `send one of ${mediaTypes.join(', ')}` },
  ]);
