import { eventInstanceSchema } from '../events/event.ts';

/** Route schema pieces shared by the capabilities' routes. */

/**
 * Skipping rows costs the database work proportional to the offset: deeper pages are refused
 * rather than letting one request scan without bound (GET /v1/events pages by cursor instead).
 */
export const MAX_OFFSET = 100_000;

export const paginationQuery = {
  limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
  offset: {
    type: 'integer',
    minimum: 0,
    maximum: MAX_OFFSET,
    default: 0,
    description: `at most ${MAX_OFFSET.toLocaleString('en')}; narrow the filter to reach further`,
  },
} as const;

/** An object whose fields are not listed: `Record<string, unknown>` to a generated client. */
export const freeFormObject = { type: 'object', additionalProperties: true } as const;

/**
 * An answer object whose listed fields are always present; it may carry more (their shapes are
 * those of the resource's own documentation), which serialisation passes through unchanged.
 */
export const answerObject = <P extends Record<string, unknown>>(properties: P) =>
  ({
    type: 'object',
    additionalProperties: true,
    required: Object.keys(properties),
    properties,
  }) as const;

/** `{ [key]: [ …items ] }`, the shape of a list answer without paging. */
export const listAnswer = (key: string, items: object = freeFormObject) =>
  answerObject({ [key]: { type: 'array', items } });

/** An object of exactly these fields, `required` listing those always sent. */
export const exactObject = <P extends Record<string, unknown>>(
  properties: P,
  required: ReadonlyArray<keyof P & string>,
) => ({ type: 'object', additionalProperties: false, required, properties }) as const;

/**
 * A schema shared under `components/schemas/<name>` of the description (so the generated client
 * names its type `components['schemas'][name]`), and the `$ref` routes answer it with. Fastify
 * serialises by the referenced schema, so what is sent is what is described. Register it with
 * {@link addSharedSchemas} before the routes that use it.
 */
export const sharedSchema = <S extends object>(name: string, schema: S) =>
  ({ definition: { $id: name, ...schema }, ref: { $ref: `${name}#` } }) as const;

/** Adds shared schemas to the app, each once (several capabilities may answer one). */
export function addSharedSchemas(
  app: { getSchema(id: string): unknown; addSchema(schema: object): unknown },
  ...schemas: ReadonlyArray<{ definition: { $id: string } }>
): void {
  for (const { definition } of schemas) {
    if (app.getSchema(definition.$id) === undefined) app.addSchema(definition);
  }
}

/**
 * {@link eventInstanceSchema} as `components/schemas/Event`: the event as the receiver takes it
 * in, which dry runs, validation, simulation and waits answer.
 */
export const eventComponent = sharedSchema('Event', eventInstanceSchema);

/** A field-level reason, as in the error envelope's `details`. */
export const errorDetailSchema = exactObject(
  { field: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } },
  ['field', 'code', 'message'],
);

/** A point in time as sent: ISO 8601, UTC. */
export const timeSchema = { type: 'string', format: 'date-time' } as const;
export const nullableTimeSchema = { type: ['string', 'null'], format: 'date-time' } as const;

export const paginationSchema = {
  type: 'object',
  required: ['total', 'limit', 'offset', 'hasMore'],
  properties: {
    total: { type: 'integer' },
    limit: { type: 'integer' },
    offset: { type: 'integer' },
    hasMore: { type: 'boolean' },
  },
} as const;

/** `{ [key]: [ …items ], pagination }`, the shape of a paged list answer. */
export const pageAnswer = (key: string, items: object) =>
  exactObject({ [key]: { type: 'array', items }, pagination: paginationSchema }, [
    key,
    'pagination',
  ]);

export interface Pagination {
  total: number;
  limit: number;
  offset: number;
  hasMore: boolean;
}

export const pagination = (
  total: number,
  limit: number,
  offset: number,
  returned: number,
): Pagination => ({
  total,
  limit,
  offset,
  hasMore: offset + returned < total,
});

/** The one error envelope, `components/schemas/Error` in the description. */
export const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'details'],
      properties: {
        code: { type: 'string', description: 'stable machine-readable code' },
        message: { type: 'string' },
        details: {
          type: 'array',
          items: {
            type: 'object',
            required: ['field', 'code', 'message'],
            properties: {
              field: { type: 'string' },
              code: { type: 'string' },
              message: { type: 'string' },
            },
          },
        },
      },
    },
  },
} as const;

/**
 * `?check=` of trigger and subscription writes: `enforce` refuses paths their events cannot have
 * (400); `warn` accepts them with warnings (for patterns whose definitions come later).
 */
export const consumerCheckQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    check: {
      type: 'string',
      enum: ['enforce', 'warn'],
      default: 'enforce',
      description:
        'enforce: 400 unknown_field / type_mismatch / input_mismatch; warn: accept and list them as warnings',
    },
  },
} as const;

/** Findings of the type check a write was accepted with (absent when there are none). */
export const warningsSchema = {
  type: 'array',
  description:
    'what the type check found but did not refuse: paths only some versions declare, inputs that may be missing, or every finding with ?check=warn',
  items: errorDetailSchema,
} as const;

/** `resource` with its `warnings`, when there are any. */
export const withWarnings = <T extends object>(
  resource: T,
  warnings: ReadonlyArray<{ field: string; code: string; message: string }>,
): T & { warnings?: typeof warnings } =>
  warnings.length > 0 ? { ...resource, warnings } : resource;

/** A response that is the error envelope (a reference to {@link errorSchema}). */
export const errorResponseSchema = {
  $ref: 'Error#',
  description: 'the error envelope',
} as const;
