import type { FastifyInstance } from 'fastify';
import { CHANGE_CODES } from '../compatibility/changes.ts';
import { COMPATIBILITY_MODES, type CompatibilityMode } from '../compatibility/check.ts';
import {
  errorResponseSchema,
  exactObject,
  listAnswer,
  pagination,
  paginationQuery,
  paginationSchema,
  timeSchema,
} from '../http/common.ts';
import { withEtag } from '../http/etag.ts';
import { deleteRoute, patchRoute, resourceErrors } from '../http/resource-routes.ts';
import { DEFINITION_STATUSES, PATTERN_REGEX, SEMVER_REGEX } from './definition.ts';
import type { DefinitionChanges, DefinitionFilters, NewDefinition } from './repository.ts';
import type { CompatibilityQuestion, Registry } from './service.ts';

/** Who published a deprecated version (`Producer` of repository.ts). */
const producerSchema = exactObject(
  {
    definition_id: { type: 'string', format: 'uuid', description: 'the deprecated version' },
    version: { type: 'string' },
    source_type: { type: 'string' },
    source_id: { type: 'string' },
    count: { type: 'integer', description: 'events it published of this version' },
    first_seen_at: timeSchema,
    last_seen_at: timeSchema,
  },
  [
    'definition_id',
    'version',
    'source_type',
    'source_id',
    'count',
    'first_seen_at',
    'last_seen_at',
  ],
);

const sourceTypes = {
  type: 'array',
  minItems: 1,
  uniqueItems: true,
  items: { type: 'string', minLength: 1, maxLength: 100 },
} as const;

const uiMetadata = {
  type: 'object',
  additionalProperties: false,
  properties: {
    icon: { type: 'string', maxLength: 255 },
    color: {
      type: 'string',
      maxLength: 50,
      description: 'hex (#RGB, #RRGGBB) or a CSS named color',
    },
    category: { type: 'string', maxLength: 255 },
    priority: { type: 'string', enum: ['high', 'medium', 'low'] },
    owners: {
      type: 'array',
      maxItems: 50,
      uniqueItems: true,
      items: { type: 'string', minLength: 1, maxLength: 255 },
      description: 'teams or people who own the event, as catalog tools (EventCatalog) list them',
    },
    docs_url: {
      type: 'string',
      maxLength: 2048,
      pattern: '^https?://[^\\s]+$',
      description: "http(s) link to the event's documentation",
    },
  },
} as const;

const modeSchema = {
  type: 'string',
  enum: COMPATIBILITY_MODES,
  description:
    'BACKWARD: a new version reads data written with the previous one; FORWARD: the previous reads data of the new; FULL: both; _TRANSITIVE: against every earlier version of the major; NONE: no check',
} as const;

/** The event's compatibility mode on input: `"FULL"`, or `{ "mode": "FULL" }` as read back. */
const compatibilityInput = {
  description: "the event_id's compatibility mode (all its versions share it; default BACKWARD)",
  oneOf: [
    modeSchema,
    {
      type: 'object',
      additionalProperties: false,
      required: ['mode'],
      properties: { mode: modeSchema },
    },
  ],
} as const;

type CompatibilityInput = CompatibilityMode | { mode: CompatibilityMode };
const modeOf = (input: CompatibilityInput | undefined) =>
  typeof input === 'object' ? input.mode : input;

const changeSchema = {
  type: 'object',
  required: ['code', 'path', 'breaking', 'version', 'direction'],
  properties: {
    code: { type: 'string', enum: CHANGE_CODES },
    path: { type: 'string', description: 'location in the schemas, e.g. #/properties/orderTotal' },
    breaking: { type: 'boolean' },
    version: { type: 'string', description: 'the earlier version it was found against' },
    direction: {
      type: 'string',
      enum: ['backward', 'forward'],
      description: 'backward: this schema reading data of `version`; forward: the reverse',
    },
  },
} as const;

/** The verdict of a compatibility check. */
const checkProperties = {
  mode: modeSchema,
  compatible: { type: 'boolean', description: 'no change is breaking' },
  against: {
    type: 'array',
    items: { type: 'string' },
    description: 'the earlier versions checked against, newest first',
  },
  changes: { type: 'array', items: changeSchema },
} as const;

const impactSchema = {
  type: 'array',
  description:
    'triggers, subscriptions and event processors that read paths the active versions after this change no longer support (new findings of their type check)',
  items: {
    type: 'object',
    required: ['kind', 'id', 'field', 'code', 'message'],
    properties: {
      kind: { type: 'string', enum: ['trigger', 'subscription', 'processor'] },
      id: { type: 'string' },
      field: {
        type: 'string',
        description: 'e.g. eventCondition, inputMapping.total, output.payload.total',
      },
      path: { type: 'string', description: 'the path it reads, e.g. payload.orderTotal' },
      code: {
        type: 'string',
        description: 'unknown_field, type_mismatch, field_not_in_all_versions, …',
      },
      message: { type: 'string' },
    },
  },
} as const;

/** `?strict=true`: a change that impacts consumers is refused (409 breaks_consumers). */
const strictQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    strict: {
      type: 'boolean',
      default: false,
      description:
        'refuse the change with 409 breaks_consumers when it impacts triggers or subscriptions',
    },
  },
} as const;

const editable = {
  name: { type: 'string', minLength: 1, maxLength: 255 },
  description: { type: 'string', maxLength: 10_000 },
  source_types: sourceTypes,
  payload_schema: {
    type: 'object',
    description: 'JSON Schema (draft 2020-12, or draft-07 via $schema)',
  },
  examples: {
    type: 'array',
    maxItems: 100,
    description: 'payload examples; each must validate against payload_schema',
  },
  ui_metadata: uiMetadata,
  status: { type: 'string', enum: DEFINITION_STATUSES },
} as const;

const patchable = {
  ...editable,
  compatibility: compatibilityInput,
  sunset_at: {
    type: ['string', 'null'],
    format: 'date-time',
    description: 'when a deprecated version stops being supported (sent as the Sunset header)',
  },
} as const;

const createBody = {
  type: 'object',
  additionalProperties: false,
  required: ['event_id', 'name', 'pattern', 'version', 'payload_schema'],
  properties: {
    event_id: { type: 'string', minLength: 1, maxLength: 255 },
    pattern: {
      type: 'string',
      maxLength: 255,
      pattern: PATTERN_REGEX,
      description:
        'dot-separated segments of lowercase letters, digits, _ and - (e.g. bookings.created)',
    },
    version: {
      type: 'string',
      maxLength: 50,
      pattern: SEMVER_REGEX,
      description: 'a semantic version (e.g. 1.0.0 or 2.1.0-beta.1)',
    },
    ...editable,
    compatibility: compatibilityInput,
  },
} as const;

/** A definition version as answered: every column of its row; `impact` only on writes that checked it. */
const definitionSchema = {
  type: 'object',
  required: [
    'id',
    'event_id',
    'pattern',
    'version',
    'name',
    'description',
    'source_types',
    'payload_schema',
    'examples',
    'ui_metadata',
    'status',
    'deprecated_at',
    'sunset_at',
    'created_at',
    'updated_at',
    'revision',
    'compatibility',
  ],
  properties: {
    id: { type: 'string', format: 'uuid' },
    event_id: { type: 'string' },
    pattern: { type: 'string' },
    version: { type: 'string' },
    ...patchable,
    payload_schema: { type: 'object', additionalProperties: true },
    examples: { type: 'array', items: {} },
    deprecated_at: { type: ['string', 'null'], format: 'date-time' },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
    revision: { type: 'integer' },
    compatibility: {
      type: 'object',
      required: ['mode'],
      description:
        "the event_id's mode; on registering or releasing a version also the check it passed (compatible, against, changes)",
      properties: checkProperties,
    },
    impact: impactSchema,
  },
} as const;

const refParams = {
  type: 'object',
  properties: { ref: { type: 'string', maxLength: 255 } },
} as const;
const tags = ['event-definitions'];

export function registerRegistryRoutes(app: FastifyInstance, registry: Registry): void {
  app.post<{
    Body: NewDefinition & { compatibility?: CompatibilityInput };
    Querystring: { strict: boolean };
  }>(
    '/v1/event-definitions',
    {
      config: { access: 'definitions:write' },
      schema: {
        operationId: 'createEventDefinition',
        tags,
        summary:
          'Register an event definition version; reports the triggers and subscriptions it impacts',
        querystring: strictQuery,
        body: createBody,
        response: { 201: definitionSchema, ...resourceErrors },
      },
    },
    async (request, reply) => {
      const { compatibility, ...body } = request.body;
      const created = await registry.create(
        {
          ...body,
          description: body.description ?? '',
          source_types: body.source_types ?? [],
          examples: body.examples ?? [],
          ui_metadata: body.ui_metadata ?? {},
          status: body.status ?? 'active',
        },
        modeOf(compatibility),
        request.query.strict,
      );
      reply.code(201).header('location', `/v1/event-definitions/${created.id}`);
      return withEtag(reply, created);
    },
  );

  app.get<{ Querystring: DefinitionFilters }>(
    '/v1/event-definitions',
    {
      config: { access: 'definitions:read' },
      schema: {
        operationId: 'listEventDefinitions',
        tags,
        summary: 'List event definitions',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            pattern: { type: 'string' },
            event_id: { type: 'string' },
            source_type: { type: 'string' },
            status: { type: 'string', enum: DEFINITION_STATUSES },
            category: { type: 'string' },
            q: { type: 'string', maxLength: 255 },
            latest: { type: 'boolean', description: 'only the latest version of each event_id' },
            ...paginationQuery,
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              definitions: { type: 'array', items: definitionSchema },
              pagination: paginationSchema,
            },
          },
          400: errorResponseSchema,
        },
      },
    },
    async (request) => {
      const { definitions, total } = await registry.list(request.query);
      const { limit, offset } = request.query;
      return { definitions, pagination: pagination(total, limit, offset, definitions.length) };
    },
  );

  app.get<{ Params: { ref: string }; Querystring: { version?: string } }>(
    '/v1/event-definitions/:ref',
    {
      config: { access: 'definitions:read' },
      schema: {
        operationId: 'getEventDefinition',
        tags,
        summary: 'Read a definition by UUID, event_id or pattern (latest version unless ?version=)',
        params: refParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { version: { type: 'string', maxLength: 50 } },
        },
        response: { 200: definitionSchema, 404: errorResponseSchema },
      },
    },
    async (request, reply) =>
      withEtag(reply, await registry.get(request.params.ref, request.query.version)),
  );

  app.get<{ Params: { ref: string } }>(
    '/v1/event-definitions/:ref/versions',
    {
      config: { access: 'definitions:read' },
      schema: {
        operationId: 'listEventDefinitionVersions',
        tags,
        summary: 'Every version of an event definition, newest first',
        params: refParams,
        response: {
          200: {
            type: 'object',
            properties: { versions: { type: 'array', items: definitionSchema } },
          },
          404: errorResponseSchema,
        },
      },
    },
    async (request) => ({ versions: await registry.versions(request.params.ref) }),
  );

  app.get<{ Params: { ref: string } }>(
    '/v1/event-definitions/:ref/producers',
    {
      config: { access: 'definitions:read' },
      schema: {
        operationId: 'listEventDefinitionProducers',
        tags,
        summary: 'Sources still publishing deprecated versions: count and last seen',
        params: refParams,
        response: { 200: listAnswer('producers', producerSchema), 404: errorResponseSchema },
      },
    },
    async (request) => ({ producers: await registry.producers(request.params.ref) }),
  );

  app.post<{ Params: { ref: string }; Body: CompatibilityQuestion }>(
    '/v1/event-definitions/:ref/compatibility',
    {
      config: { access: 'definitions:read' },
      schema: {
        operationId: 'checkEventDefinitionCompatibility',
        tags,
        summary:
          'Check a payload schema against the versions of an event under its mode (stores nothing)',
        params: refParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['payload_schema'],
          properties: {
            payload_schema: editable.payload_schema,
            version: {
              ...createBody.properties.version,
              description:
                'the version it would be registered as (default: the next minor after the highest released)',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['mode', 'compatible', 'against', 'changes', 'version', 'impact'],
            properties: {
              ...checkProperties,
              version: { type: 'string', description: 'the version it was checked as' },
              impact: impactSchema,
            },
          },
          ...resourceErrors,
        },
      },
    },
    async (request) => registry.checkCompatibility(request.params.ref, request.body),
  );

  patchRoute(app, {
    path: '/v1/event-definitions/:ref',
    operationId: 'updateEventDefinition',
    access: 'definitions:write',
    tags,
    summary: 'Change a definition (requires If-Match with its ETag)',
    properties: patchable,
    querystring: strictQuery,
    resourceSchema: definitionSchema,
    update: (
      id,
      revision,
      { compatibility, ...changes }: DefinitionChanges & { compatibility?: CompatibilityInput },
      query: { strict: boolean },
    ) => registry.update(id, revision, changes, modeOf(compatibility), query.strict),
    answer: withEtag,
  });

  deleteRoute(app, {
    path: '/v1/event-definitions/:ref',
    operationId: 'deleteEventDefinition',
    access: 'definitions:write',
    tags,
    summary: 'Delete a draft version',
    remove: (id) => registry.remove(id),
  });
}
