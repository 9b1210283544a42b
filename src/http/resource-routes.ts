import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Scope } from '../auth/scopes.ts';
import { errorResponseSchema } from './common.ts';
import { requiredRevision } from './etag.ts';

/**
 * The change and delete routes every revisioned resource has (event definitions, workflow
 * definitions, triggers, subscriptions): the same If-Match rules and error answers for all.
 */

/** `{ id }` path parameters of a resource route. */
export const idParams = {
  type: 'object',
  properties: { id: { type: 'string', maxLength: 255 } },
} as const;

/** The error answers of the resource routes: bad input, unknown id, conflict. */
export const resourceErrors = {
  400: errorResponseSchema,
  404: errorResponseSchema,
  409: errorResponseSchema,
} as const;

interface ResourceRoute {
  /** The resource's path, ending in `/:id`. */
  path: string;
  access: Scope;
  tags: string[];
  summary: string;
}

/** The schema parts every resource route has: its OpenAPI tags and summary, its `{ id }`. */
const describedBy = (route: ResourceRoute) => ({
  tags: route.tags,
  summary: route.summary,
  params: idParams,
});

export interface PatchRoute<Body, Changed> extends ResourceRoute {
  /** The changeable fields (all optional; at least one must be given). */
  properties: Record<string, unknown>;
  /** Schema of the 200 answer, when the route serialises by schema. */
  resourceSchema?: unknown;
  update(id: string, revision: number | '*', body: Body): Promise<Changed>;
  /** The answer for the changed resource (with its new ETag). */
  answer(reply: FastifyReply, changed: Changed): unknown;
}

/** PATCH with If-Match: 428 without it, 412 when it names another revision. */
export function patchRoute<Body, Changed>(
  app: FastifyInstance,
  route: PatchRoute<Body, Changed>,
): void {
  app.patch<{ Params: { id: string }; Body: Body }>(
    route.path,
    {
      config: { access: route.access },
      schema: {
        ...describedBy(route),
        headers: { type: 'object', properties: { 'if-match': { type: 'string' } } },
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: route.properties,
        },
        response: {
          ...(route.resourceSchema ? { 200: route.resourceSchema } : {}),
          ...resourceErrors,
          412: errorResponseSchema,
          428: errorResponseSchema,
        },
      },
    },
    async (request, reply) => {
      const revision = requiredRevision(request.headers['if-match']);
      const changes = request.body as Body;
      return route.answer(reply, await route.update(request.params.id, revision, changes));
    },
  );
}

export interface DeleteRoute extends ResourceRoute {
  remove(id: string): Promise<void>;
}

/** DELETE → 204; 404 for an unknown id, 409 when something still depends on the resource. */
export function deleteRoute(app: FastifyInstance, route: DeleteRoute): void {
  app.delete<{ Params: { id: string } }>(
    route.path,
    {
      config: { access: route.access },
      schema: { ...describedBy(route), response: { 204: { type: 'null' }, ...resourceErrors } },
    },
    async (request, reply) => {
      await route.remove(request.params.id);
      return reply.code(204).send();
    },
  );
}
