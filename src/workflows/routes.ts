import type { FastifyInstance } from 'fastify';
import {
  addSharedSchemas,
  errorResponseSchema,
  eventComponent,
  exactObject,
  sharedSchema,
  timeSchema,
} from '../http/common.ts';
import { withEtag } from '../http/etag.ts';
import {
  deleteRoute,
  getRoute,
  idParams,
  labelsSchema,
  listRoute,
  patchRoute,
  resourceErrors,
  upsertRoute,
} from '../http/resource-routes.ts';
import { opaqueIdSchema } from '../ids.ts';
import { SEMVER_REGEX } from '../registry/definition.ts';
import { waitComponent } from '../waits/routes.ts';
import type { WorkflowDefinitions } from './definitions.ts';
import type { WorkflowInstances } from './instances.ts';
import {
  DEFAULT_EXECUTOR_TIMEOUT_MS,
  EXECUTOR_TIMEOUT_BOUNDS,
  EXECUTORS,
  INSTANCE_STATUSES,
  type WorkflowDefinitionChanges,
  type WorkflowDefinitionInput,
} from './model.ts';
import type { DefinitionFilters, InstanceFilters } from './repository.ts';

// No `default` keywords in bodies: the request validator would fill them in, and a PATCH
// must tell "not sent" from "sent"; the service applies the defaults the descriptions name.
const editable = {
  name: { type: 'string', minLength: 1, maxLength: 255 },
  version: {
    type: 'string',
    maxLength: 50,
    pattern: SEMVER_REGEX,
    description: 'a semantic version (e.g. 1.0.0 or 2.1.0-beta.1); default 1.0.0',
  },
  description: { type: 'string', maxLength: 10_000 },
  inputSchema: {
    type: ['object', 'null'],
    description:
      'JSON Schema (draft 2020-12, or draft-07 via $schema) the input of every start must satisfy; null for none',
  },
  executor: {
    type: 'string',
    enum: EXECUTORS,
    description:
      'builtin (default): instances are recorded by this service; http: an external engine at executorUrl',
  },
  executorUrl: {
    type: 'string',
    minLength: 1,
    maxLength: 2048,
    description: 'http(s) base URL of the engine (executor http); /start and /cancel are appended',
  },
  executorTimeoutMs: {
    type: 'integer',
    minimum: EXECUTOR_TIMEOUT_BOUNDS.min,
    maximum: EXECUTOR_TIMEOUT_BOUNDS.max,
    description: `timeout of one call to the engine (executor http); default ${DEFAULT_EXECUTOR_TIMEOUT_MS}`,
  },
  labels: labelsSchema,
} as const;

const nullableText = { type: ['string', 'null'] } as const;

const workflowDefinition = sharedSchema(
  'WorkflowDefinition',
  exactObject(
    {
      id: { type: 'string', format: 'uuid' },
      ...editable,
      inputSchema: { type: ['object', 'null'], additionalProperties: true },
      executorUrl: nullableText,
      executorTimeoutMs: { type: ['integer', 'null'] },
      createdAt: timeSchema,
      updatedAt: timeSchema,
      revision: { type: 'integer' },
    },
    [
      'id',
      'name',
      'version',
      'description',
      'inputSchema',
      'executor',
      'executorUrl',
      'executorTimeoutMs',
      'labels',
      'createdAt',
      'updatedAt',
      'revision',
    ],
  ),
);

const instanceProperties = {
  id: { type: 'string', format: 'uuid' },
  workflowDefinitionId: { type: 'string', format: 'uuid' },
  status: { type: 'string', enum: INSTANCE_STATUSES },
  correlationKey: nullableText,
  input: { type: 'object', additionalProperties: true },
  output: { description: 'what the engine reported on completion, or null' },
  error: nullableText,
  triggerId: nullableText,
  triggerEventId: nullableText,
  cancelledByEventId: nullableText,
  idempotencyKey: nullableText,
  createdAt: timeSchema,
  updatedAt: timeSchema,
} as const;
const instanceRequired = Object.keys(instanceProperties) as Array<keyof typeof instanceProperties>;

const workflowInstance = sharedSchema(
  'WorkflowInstance',
  exactObject(instanceProperties, instanceRequired),
);

/** An instance as `GET /v1/workflow-instances/{id}` shows it: with its waits. */
const instanceWithWaitsSchema = exactObject(
  {
    ...instanceProperties,
    waits: {
      type: 'array',
      items: waitComponent.ref,
      description:
        'the waits registered for the instance (newest first, at most 100), each with its status and the event that resolved it',
    },
  },
  [...instanceRequired, 'waits'],
);

export function registerWorkflowRoutes(
  app: FastifyInstance,
  definitions: WorkflowDefinitions,
  instances: WorkflowInstances,
  /** The waits registered for an instance (src/waits/). */
  waitsOf: (instanceId: string) => Promise<object[]>,
): void {
  addSharedSchemas(app, workflowDefinition, workflowInstance, eventComponent, waitComponent);
  const tags = ['workflow-definitions'];

  app.post<{ Body: WorkflowDefinitionInput }>(
    '/v1/workflow-definitions',
    {
      config: { access: 'triggers:write' },
      schema: {
        operationId: 'createWorkflowDefinition',
        tags,
        summary: 'Register a workflow definition',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: editable,
        },
        response: { 201: workflowDefinition.ref, ...resourceErrors },
      },
    },
    async (request, reply) => {
      const created = await definitions.create(request.body);
      reply.code(201).header('location', `/v1/workflow-definitions/${created.id}`);
      return withEtag(reply, created);
    },
  );

  listRoute(app, {
    path: '/v1/workflow-definitions',
    operationId: 'listWorkflowDefinitions',
    access: 'triggers:read',
    tags,
    summary: 'List workflow definitions, newest first; ?name= gives every version of one',
    filters: { name: { type: 'string', maxLength: 255 } },
    key: 'workflowDefinitions',
    itemSchema: workflowDefinition.ref,
    list: (query: DefinitionFilters) => definitions.list(query),
  });

  getRoute(app, {
    path: '/v1/workflow-definitions/:id',
    operationId: 'getWorkflowDefinition',
    access: 'triggers:read',
    tags,
    summary: 'Read a workflow definition',
    resourceSchema: workflowDefinition.ref,
    get: (id) => definitions.get(id),
  });

  patchRoute(app, {
    path: '/v1/workflow-definitions/:id',
    operationId: 'updateWorkflowDefinition',
    access: 'triggers:write',
    tags,
    summary: 'Change a workflow definition (requires If-Match with its ETag)',
    properties: editable,
    resourceSchema: workflowDefinition.ref,
    update: (id, revision, body: WorkflowDefinitionChanges) =>
      definitions.update(id, revision, body),
    answer: withEtag,
  });

  const { name: _name, version: _version, ...replaceable } = editable;
  upsertRoute(app, {
    path: '/v1/by-name/workflow-definitions/:name/:version',
    alias: '/v1/workflow-definitions/by-name/:name/:version',
    operationId: 'upsertWorkflowDefinition',
    access: 'triggers:write',
    tags,
    summary:
      'Register or replace the definition name@version (201 / 200; If-Match honoured when sent; unchanged → same revision)',
    params: {
      type: 'object',
      properties: {
        name: editable.name,
        version: { type: 'string', maxLength: 50, pattern: SEMVER_REGEX },
      },
    },
    body: { type: 'object', additionalProperties: false, properties: replaceable },
    resourceSchema: workflowDefinition.ref,
    upsert: (
      { name, version }: { name: string; version: string },
      revision,
      body: WorkflowDefinitionChanges,
    ) => definitions.upsert(name, version, revision, body),
    location: (definition) => `/v1/workflow-definitions/${definition.id}`,
    answer: withEtag,
  });

  deleteRoute(app, {
    path: '/v1/workflow-definitions/:id',
    operationId: 'deleteWorkflowDefinition',
    access: 'triggers:write',
    tags,
    summary: 'Delete a workflow definition and its instances (409 while triggers use it)',
    remove: (id) => definitions.remove(id),
  });

  registerInstanceRoutes(app, instances, waitsOf);
}

function registerInstanceRoutes(
  app: FastifyInstance,
  instances: WorkflowInstances,
  waitsOf: (instanceId: string) => Promise<object[]>,
): void {
  const tags = ['workflow-instances'];

  listRoute(app, {
    path: '/v1/workflow-instances',
    operationId: 'listWorkflowInstances',
    access: 'triggers:read',
    tags,
    summary: 'List workflow instances (builtin executor), newest first',
    filters: {
      workflowDefinitionId: opaqueIdSchema,
      correlationKey: { type: 'string', maxLength: 1024 },
      status: { type: 'string', enum: INSTANCE_STATUSES },
    },
    key: 'workflowInstances',
    itemSchema: workflowInstance.ref,
    list: (query: InstanceFilters) => instances.list(query),
  });

  app.get<{ Params: { id: string } }>(
    '/v1/workflow-instances/:id',
    {
      config: { access: 'triggers:read' },
      schema: {
        operationId: 'getWorkflowInstance',
        tags,
        summary: 'Read a workflow instance, with its waits and the events that resolved them',
        params: idParams,
        response: { 200: instanceWithWaitsSchema, 404: errorResponseSchema },
      },
    },
    async (request) => {
      const instance = await instances.get(request.params.id);
      return { ...instance, waits: await waitsOf(instance.id) };
    },
  );

  const reportErrors = { 200: workflowInstance.ref, ...resourceErrors };

  app.post<{ Params: { id: string }; Body: { output?: unknown } }>(
    '/v1/workflow-instances/:id/complete',
    {
      config: { access: 'triggers:write' },
      schema: {
        operationId: 'completeWorkflowInstance',
        tags,
        summary: 'An engine reports a running instance completed, optionally with its output',
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { output: { description: 'any JSON value' } },
        },
        response: reportErrors,
      },
      // The body is optional; the validator would refuse a missing one as "not an object".
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request) => instances.complete(request.params.id, request.body.output),
  );

  app.post<{ Params: { id: string }; Body: { error: string } }>(
    '/v1/workflow-instances/:id/fail',
    {
      config: { access: 'triggers:write' },
      schema: {
        operationId: 'failWorkflowInstance',
        tags,
        summary: 'An engine reports a running instance failed, with the reason',
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['error'],
          properties: { error: { type: 'string', minLength: 1, maxLength: 10_000 } },
        },
        response: reportErrors,
      },
    },
    async (request) => instances.fail(request.params.id, request.body.error),
  );
}
