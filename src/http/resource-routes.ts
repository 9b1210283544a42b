import type { FastifyContextConfig, FastifyInstance, FastifyReply } from 'fastify';
import { errorResponseSchema, pageAnswer, pagination, paginationQuery } from './common.ts';
import { optionalRevision, requiredRevision, withEtag } from './etag.ts';

/**
 * The change and delete routes every revisioned resource has (event definitions, workflow
 * definitions, triggers, subscriptions): the same If-Match rules and error answers for all.
 */

/**
 * The access rule of a route, as every route declares it in `config.access` (declared by
 * src/auth/access.ts, which checks it): named through Fastify so that this layer, below auth,
 * does not import it.
 */
type AccessRule = NonNullable<FastifyContextConfig['access']>;

/** `{ id }` path parameters of a resource route. */
export const idParams = {
  type: 'object',
  properties: { id: { type: 'string', maxLength: 255 } },
} as const;

/** The natural key of triggers and subscriptions (`?name=`, `PUT …/by-name/{name}`). */
export const NAME_REGEX = '^[a-z0-9][a-z0-9._-]{0,127}$';

export const nameSchema = {
  type: 'string',
  pattern: NAME_REGEX,
  description: 'unique name: lowercase letters, digits, ., _ and -; at most 128 characters',
} as const;

/**
 * Labels of a resource: string keys and values, as Kubernetes labels or AWS tags. `eps apply`
 * marks what it manages here (`eps.dev/managed-by`), so that `--prune` deletes only those.
 */
export const labelsSchema = {
  type: 'object',
  maxProperties: 32,
  propertyNames: { pattern: '^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$' },
  additionalProperties: { type: 'string', maxLength: 255 },
  description: 'string → string; keys of lowercase letters, digits, ., _, / and -',
} as const;

/** The error answers of the resource routes: bad input, unknown id, conflict. */
export const resourceErrors = {
  400: errorResponseSchema,
  404: errorResponseSchema,
  409: errorResponseSchema,
} as const;

interface ResourceRoute {
  /** The resource's path, ending in its one parameter (`/:id`, or `/:ref` for definitions). */
  path: string;
  access: AccessRule;
  tags: string[];
  summary: string;
  operationId: string;
}

/** The name of the path's last parameter (`/v1/x/:id` → `id`). */
const paramOf = (route: ResourceRoute): string => route.path.slice(route.path.lastIndexOf(':') + 1);

/** The schema parts every resource route has: its OpenAPI tags and summary, its parameter. */
const describedBy = (route: ResourceRoute) => ({
  operationId: route.operationId,
  tags: route.tags,
  summary: route.summary,
  params: { ...idParams, properties: { [paramOf(route)]: idParams.properties.id } },
});

/** The paging every list query has (`paginationQuery`). */
interface PageQuery {
  limit: number;
  offset: number;
}

export interface ListRoute<Key extends string, Query extends PageQuery>
  extends Omit<ResourceRoute, 'path'> {
  /** The collection's path, e.g. `/v1/workflow-triggers`. */
  path: string;
  /** The query's filters; `limit` and `offset` are added. */
  filters: Record<string, unknown>;
  /** The answer's field holding the page, e.g. `triggers`. */
  key: Key;
  itemSchema: object;
  list(query: Query): Promise<Record<Key, readonly unknown[]> & { total: number }>;
}

/** GET of a page of the resources that pass the filters: `{ [key]: [...], pagination }`. */
export function listRoute<Key extends string, Query extends PageQuery>(
  app: FastifyInstance,
  route: ListRoute<Key, Query>,
): void {
  app.get<{ Querystring: Query }>(
    route.path,
    {
      config: { access: route.access },
      schema: {
        operationId: route.operationId,
        tags: route.tags,
        summary: route.summary,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...route.filters, ...paginationQuery },
        },
        response: { 200: pageAnswer(route.key, route.itemSchema), 400: errorResponseSchema },
      },
    },
    async (request) => {
      const query = request.query as Query;
      const found = await route.list(query);
      const page = found[route.key];
      return {
        [route.key]: page,
        pagination: pagination(found.total, query.limit, query.offset, page.length),
      };
    },
  );
}

export interface GetRoute extends ResourceRoute {
  /** Schema of the 200 answer. */
  resourceSchema: unknown;
  get(id: string): Promise<{ revision: number }>;
}

/** GET of one resource, with its ETag; 404 for an unknown id. */
export function getRoute(app: FastifyInstance, route: GetRoute): void {
  app.get<{ Params: Record<string, string> }>(
    route.path,
    {
      config: { access: route.access },
      schema: {
        ...describedBy(route),
        response: { 200: route.resourceSchema, 404: errorResponseSchema },
      },
    },
    async (request, reply) => withEtag(reply, await route.get(request.params[paramOf(route)]!)),
  );
}

export interface PatchRoute<Body, Changed, Query = unknown> extends ResourceRoute {
  /** The changeable fields (all optional; at least one must be given). */
  properties: Record<string, unknown>;
  /** Schema of the 200 answer, when the route serialises by schema. */
  resourceSchema?: unknown;
  /** Query parameters the route takes, e.g. `?check=warn`. */
  querystring?: Record<string, unknown>;
  update(id: string, revision: number | '*', body: Body, query: Query): Promise<Changed>;
  /** The answer for the changed resource (with its new ETag). */
  answer(reply: FastifyReply, changed: Changed): unknown;
}

/** PATCH with If-Match: 428 without it, 412 when it names another revision. */
export function patchRoute<Body, Changed, Query = unknown>(
  app: FastifyInstance,
  route: PatchRoute<Body, Changed, Query>,
): void {
  app.patch<{ Params: Record<string, string>; Body: Body }>(
    route.path,
    {
      config: { access: route.access },
      schema: {
        ...describedBy(route),
        headers: { type: 'object', properties: { 'if-match': { type: 'string' } } },
        ...(route.querystring ? { querystring: route.querystring } : {}),
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
      const query = request.query as Query;
      const id = request.params[paramOf(route)]!;
      return route.answer(reply, await route.update(id, revision, changes, query));
    },
  );
}

export interface DeleteRoute extends ResourceRoute {
  remove(id: string): Promise<void>;
}

/** DELETE → 204; 404 for an unknown id, 409 when something still depends on the resource. */
export function deleteRoute(app: FastifyInstance, route: DeleteRoute): void {
  app.delete<{ Params: Record<string, string> }>(
    route.path,
    {
      config: { access: route.access },
      schema: { ...describedBy(route), response: { 204: { type: 'null' }, ...resourceErrors } },
    },
    async (request, reply) => {
      await route.remove(request.params[paramOf(route)]!);
      return reply.code(204).send();
    },
  );
}

export interface UpsertRoute<Params, Body, Resource, Query = unknown> {
  /**
   * The resource's natural-key path as described, e.g. `/v1/by-name/subscriptions/:name`: under
   * `/v1/by-name/` so that it cannot be read as `/v1/subscriptions/{id}/…` (an ambiguous path).
   */
  path: string;
  /** The same route at its first spelling (`/v1/subscriptions/by-name/:name`), kept working, undescribed. */
  alias: string;
  operationId: string;
  access: AccessRule;
  tags: string[];
  summary: string;
  params: Record<string, unknown>;
  body: Record<string, unknown>;
  /** Schema of the 200 and 201 answers, when the route serialises by schema. */
  resourceSchema?: unknown;
  /** Query parameters the route takes, e.g. `?check=warn`. */
  querystring?: Record<string, unknown>;
  /** Creates or replaces; `revision` is what `If-Match` requires, undefined without one. */
  upsert(
    params: Params,
    revision: number | '*' | undefined,
    body: Body,
    query: Query,
  ): Promise<{ resource: Resource; created: boolean }>;
  /** Where the created resource lives (`Location`). */
  location(resource: Resource): string;
  /** The answer for the resource (with its ETag). */
  answer(reply: FastifyReply, resource: Resource, created: boolean): unknown;
}

/**
 * PUT by natural key: creates (201, `Location`) or replaces (200) the resource, the way
 * `kubectl apply` and Terraform converge on a declared state. `If-Match` is honoured when sent
 * (a stale one is 412, and so is one for a resource that does not exist yet); a body that
 * changes nothing answers 200 with the same revision and ETag.
 */
export function upsertRoute<Params, Body, Resource, Query = unknown>(
  app: FastifyInstance,
  route: UpsertRoute<Params, Body, Resource, Query>,
): void {
  const register = (path: string, hide: boolean) =>
    app.put<{ Params: Params; Body: Body }>(
      path,
      {
        config: { access: route.access },
        schema: {
          ...(hide ? { hide } : { operationId: route.operationId }),
          tags: route.tags,
          summary: route.summary,
          params: route.params,
          headers: { type: 'object', properties: { 'if-match': { type: 'string' } } },
          ...(route.querystring ? { querystring: route.querystring } : {}),
          body: route.body,
          response: {
            ...(route.resourceSchema
              ? { 200: route.resourceSchema, 201: route.resourceSchema }
              : {}),
            ...resourceErrors,
            412: errorResponseSchema,
          },
        },
      },
      async (request, reply) => {
        const revision = optionalRevision(request.headers['if-match']);
        const { resource, created } = await route.upsert(
          request.params as Params,
          revision,
          request.body as Body,
          request.query as Query,
        );
        if (created) reply.code(201).header('location', route.location(resource));
        return route.answer(reply, resource, created);
      },
    );
  register(route.path, false);
  register(route.alias, true);
}
