import type { FastifyInstance } from 'fastify';
import {
  addSharedSchemas,
  errorResponseSchema,
  exactObject,
  nullableTimeSchema,
  pageAnswer,
  pagination,
  paginationQuery,
  sharedSchema,
  timeSchema,
} from '../http/common.ts';
import type { ApiKeys } from './api-keys.ts';
import { API_KEY_KINDS, type ApiKeyKind } from './repository.ts';
import { SCOPES, type Scope } from './scopes.ts';

const kindSchema = {
  type: 'string',
  enum: API_KEY_KINDS,
  description:
    '`service`: a service account (the key of a named system, listed apart); `standard`: any other key',
} as const;

const apiKeyProperties = {
  id: { type: 'string', format: 'uuid' },
  kind: kindSchema,
  name: { type: 'string' },
  prefix: { type: 'string', description: 'the first characters of the key, to tell keys apart' },
  scopes: { type: 'array', items: { type: 'string', enum: SCOPES } },
  created_at: timeSchema,
  revoked_at: nullableTimeSchema,
} as const;
const apiKeyRequired = Object.keys(apiKeyProperties) as Array<keyof typeof apiKeyProperties>;

/** An API key as listed: never its secret, only its hash is stored. */
const apiKey = sharedSchema('ApiKey', exactObject(apiKeyProperties, apiKeyRequired));

/** A key as created: the only answer that carries the key itself. */
const createdApiKeySchema = exactObject(
  {
    ...apiKeyProperties,
    key: { type: 'string', description: 'the key itself; shown only in this response' },
  },
  [...apiKeyRequired, 'key'],
);

const tags = ['api-keys'];
const access = 'admin' as const;

export function registerApiKeyRoutes(app: FastifyInstance, apiKeys: ApiKeys): void {
  addSharedSchemas(app, apiKey);
  app.post<{ Body: { name?: string; scopes: Scope[]; kind?: ApiKeyKind } }>(
    '/v1/api-keys',
    {
      config: { access },
      schema: {
        operationId: 'createApiKey',
        tags,
        summary: 'Create an API key (the key is shown once, only its hash is stored)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['scopes'],
          properties: {
            kind: { ...kindSchema, default: 'standard' },
            name: {
              type: 'string',
              maxLength: 255,
              description: 'required (not empty) for a service account',
            },
            scopes: {
              type: 'array',
              minItems: 1,
              uniqueItems: true,
              items: { type: 'string', enum: SCOPES },
              description: `any of ${SCOPES.join(', ')}; admin implies every scope`,
            },
          },
        },
        response: { 201: createdApiKeySchema, 400: errorResponseSchema },
      },
    },
    async (request, reply) => {
      const created = await apiKeys.create({
        kind: request.body.kind,
        name: request.body.name ?? '',
        scopes: request.body.scopes,
      });
      // The secret must not linger in caches or proxies.
      reply
        .code(201)
        .header('location', `/v1/api-keys/${created.id}`)
        .header('cache-control', 'no-store');
      return created;
    },
  );

  app.get<{ Querystring: { limit: number; offset: number; kind?: ApiKeyKind } }>(
    '/v1/api-keys',
    {
      config: { access },
      schema: {
        operationId: 'listApiKeys',
        tags,
        summary:
          'List API keys (never their secrets), revoked ones included; `kind=service` lists the service accounts',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...paginationQuery, kind: kindSchema },
        },
        response: {
          200: pageAnswer('api_keys', apiKey.ref),
          400: errorResponseSchema,
        },
      },
    },
    async (request) => {
      const { limit, offset, kind } = request.query;
      const { keys, total } = await apiKeys.list(limit, offset, kind);
      return { api_keys: keys, pagination: pagination(total, limit, offset, keys.length) };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/api-keys/:id',
    {
      config: { access },
      schema: {
        operationId: 'revokeApiKey',
        tags,
        summary: 'Revoke an API key (revoking a revoked key changes nothing)',
        params: {
          type: 'object',
          properties: { id: { type: 'string', format: 'uuid' } },
        },
        response: { 204: { type: 'null' }, 400: errorResponseSchema, 404: errorResponseSchema },
      },
    },
    async (request, reply) => {
      await apiKeys.revoke(request.params.id);
      return reply.code(204).send();
    },
  );
}

const identitySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['auth', 'key', 'token', 'scopes'],
  properties: {
    auth: {
      type: 'string',
      enum: ['on', 'off'],
      description: 'off: every route is open to anyone (loopback development)',
    },
    key: {
      type: ['object', 'null'],
      description: 'the calling key; null when auth is off',
      additionalProperties: false,
      required: ['id', 'kind', 'name'],
      properties: {
        id: { type: 'string', format: 'uuid' },
        kind: kindSchema,
        name: { type: 'string' },
      },
    },
    token: {
      type: ['object', 'null'],
      description: 'the calling OAuth 2.0 bearer token; null for an API key and when auth is off',
      additionalProperties: false,
      required: ['subject'],
      properties: { subject: { type: 'string', description: "the token's `sub`" } },
    },
    scopes: {
      type: 'array',
      items: { type: 'string', enum: SCOPES },
      description:
        "what the caller may do: the key's scopes, the token's scopes mapped onto ours, or every scope when auth is off",
    },
  },
} as const;

/**
 * `GET /v1/me`: who the caller is and what it may do, so a client (the console) can hide the
 * actions a key's scopes do not allow instead of offering buttons that answer 403.
 */
export function registerIdentityRoute(app: FastifyInstance, authEnabled: boolean): void {
  app.get(
    '/v1/me',
    {
      config: { access: 'authenticated' },
      schema: {
        operationId: 'getIdentity',
        tags,
        summary:
          'The calling API key or bearer token and its scopes (any valid caller may ask; admin implies all)',
        response: { 200: identitySchema, 401: errorResponseSchema },
      },
    },
    async (request) => {
      const principal = request.principal;
      if (!authEnabled || !principal) {
        return { auth: 'off', key: null, token: null, scopes: SCOPES };
      }
      if (principal.type === 'oauth_token') {
        return {
          auth: 'on',
          key: null,
          token: { subject: principal.subject },
          scopes: principal.scopes,
        };
      }
      return {
        auth: 'on',
        key: { id: principal.keyId, kind: principal.kind, name: principal.name },
        token: null,
        scopes: principal.scopes,
      };
    },
  );
}
