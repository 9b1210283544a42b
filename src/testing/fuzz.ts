import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { addFormats } from '../schema/formats.ts';

/**
 * Requests generated from the service's own OpenAPI description: for every operation, valid
 * values drawn from each parameter's and body's schema, mixed with hostile ones (U+0000, lone
 * surrogates, over-long text, out-of-range numbers, wrong types, deep nesting, malformed JSON,
 * bad %-encodings, unknown parameters, odd methods, a missing or wrong content type).
 */

type Schema = Record<string, unknown>;

interface Parameter {
  in: 'path' | 'query' | 'header';
  name: string;
  required?: boolean;
  schema?: Schema;
}

export interface Operation {
  method: string;
  path: string;
  operationId: string;
  parameters: Parameter[];
  body: Schema | undefined;
  /** JSON schema of each documented answer, by status (`2XX` ranges are not used here). */
  responses: Record<string, Schema | undefined>;
}

export interface FuzzRequest {
  operationId: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  payload: string | undefined;
}

type Document = { paths: Record<string, Record<string, Record<string, unknown>>> };

/** The operations of a description (the SSE stream is left out: its answer never ends). */
export function operationsOf(doc: Document): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods)
      .filter(() => path !== '/v1/events/stream')
      .map(([method, op]) => {
        const content = (op.requestBody as { content?: Record<string, { schema: Schema }> })
          ?.content;
        const responses = Object.fromEntries(
          Object.entries(op.responses as Record<string, Schema>).map(([status, answer]) => [
            status,
            (answer.content as Record<string, { schema: Schema }> | undefined)?.['application/json']
              ?.schema,
          ]),
        );
        return {
          method: method.toUpperCase(),
          path,
          operationId: String(op.operationId),
          parameters: (op.parameters as Parameter[] | undefined) ?? [],
          body: content?.['application/json']?.schema,
          responses,
        };
      }),
  );
}

const HOSTILE_TEXT = [
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udc00y',
  '',
  ' ',
  'x'.repeat(300),
  'é'.repeat(256),
  '../../etc/passwd',
  "' OR 1=1 --",
  '$.payload[?(@.a)]',
  '**',
  '💥',
  '10000000000000000000',
  '-1',
  'null',
] as const;

const HOSTILE_VALUES: unknown[] = [
  ...HOSTILE_TEXT,
  10000000000000000000,
  -10000000000000000000,
  77613469056,
  -1,
  1.5,
  0,
  null,
  true,
  [],
  {},
  [null],
  { $ref: '#' },
];

const hostile = fc.constantFrom(...HOSTILE_VALUES);

/** A value of `schema`'s shape (valid most of the time), or a hostile one. */
export function sampleOf(schema: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 5, arbitrary: validValueOf(schema, depth) },
    { weight: 1, arbitrary: hostile },
  );
}

function validValueOf(schema: Schema | undefined, depth: number): fc.Arbitrary<unknown> {
  if (!schema || depth > 6) return fc.jsonValue({ maxDepth: 2 });
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if ('const' in schema) return fc.constant(schema.const);
  const alternatives = (schema.oneOf ?? schema.anyOf) as Schema[] | undefined;
  if (alternatives) return fc.oneof(...alternatives.map((s) => validValueOf(s, depth + 1)));
  const types = [schema.type].flat().filter(Boolean) as string[];
  if (types.length > 1)
    return fc.oneof(...types.map((type) => validValueOf({ ...schema, type }, depth)));
  switch (types[0]) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return fc.integer({
        min: (schema.minimum as number | undefined) ?? -1_000_000,
        max: (schema.maximum as number | undefined) ?? 1_000_000,
      });
    case 'number':
      return fc.double({
        min: (schema.minimum as number | undefined) ?? -1e6,
        max: (schema.maximum as number | undefined) ?? 1e6,
        noNaN: true,
      });
    case 'string':
      return stringOf(schema);
    case 'array':
      return fc.array(sampleOf(schema.items as Schema | undefined, depth + 1), { maxLength: 3 });
    case 'object':
      return objectOf(schema, depth);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function stringOf(schema: Schema): fc.Arbitrary<string> {
  const maxLength = Math.min((schema.maxLength as number | undefined) ?? 40, 40);
  if (schema.format === 'uuid') return fc.uuid();
  if (schema.format === 'date-time')
    return fc
      .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
      .map((d) => d.toISOString());
  if (typeof schema.pattern === 'string') {
    try {
      return fc
        .stringMatching(new RegExp(schema.pattern))
        .map((s) => s.slice(0, (schema.maxLength as number | undefined) ?? 255));
    } catch {
      // A pattern fast-check cannot generate from: any text.
    }
  }
  return fc.string({ minLength: (schema.minLength as number | undefined) ?? 0, maxLength });
}

function objectOf(schema: Schema, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const required = (schema.required ?? []) as string[];
  const known = fc.record(
    Object.fromEntries(Object.entries(properties).map(([k, s]) => [k, sampleOf(s, depth + 1)])),
    { requiredKeys: required.filter((k) => k in properties) },
  );
  const extra = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), {
    maxKeys: schema.additionalProperties === false ? 0 : 2,
  });
  return fc.tuple(known, extra).map(([k, e]) => ({ ...e, ...k }));
}

/**
 * encodeURIComponent, except that a lone surrogate (which it refuses) is sent as its WTF-8
 * bytes, as a client with broken text would send it.
 */
function encodeText(text: string): string {
  return text.replace(/[\ud800-\udbff][\udc00-\udfff]|[\s\S]/g, (char) => {
    const unit = char.charCodeAt(0);
    if (char.length === 1 && unit >= 0xd800 && unit <= 0xdfff) {
      const bytes = [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)];
      return bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    }
    return encodeURIComponent(char);
  });
}

const pathValue = fc.oneof(
  { weight: 3, arbitrary: fc.uuid() },
  {
    weight: 2,
    // A lone "." or ".." is a dot segment, not a value: URLs resolve it away (`/processors/.` is
    // `/processors/`, as curl, browsers and fetch send it), so it cannot name a resource.
    arbitrary: fc
      .string({ minLength: 1, maxLength: 20 })
      .map(encodeText)
      .filter((value) => value !== '.' && value !== '..'),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'bookings.created',
      'BookingEvents.created',
      '%00',
      '%ED%A0%80',
      '%E0%A4%A',
      '%',
      'x'.repeat(255),
      'x'.repeat(3000),
      '%F0%9F%92%A5',
      'urn:uuid:00000000-0000-4000-8000-000000000000',
    ),
  },
);

/** The body's text: JSON of the schema's shape mostly, else broken or hostile text. */
function bodyText(schema: Schema | undefined): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 8, arbitrary: sampleOf(schema).map((v) => JSON.stringify(v)) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        undefined,
        '',
        '{',
        'null',
        '[]',
        '{"a":"\\u0000"}',
        '{"a":"\\ud800"}',
        `${'['.repeat(5000)}${']'.repeat(5000)}`,
        `{"payload":${'{"a":'.repeat(100)}1${'}'.repeat(100)}}`,
        '{"__proto__":{"x":1}}',
      ),
    },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 50 }) },
  );
}

/** One generated request for `operation`. */
export function requestFor(operation: Operation, auth: fc.Arbitrary<Record<string, string>>) {
  const pathParams = operation.parameters.filter((p) => p.in === 'path');
  const queryParams = operation.parameters.filter((p) => p.in === 'query');
  return fc
    .record({
      path: fc.tuple(...pathParams.map(() => pathValue)),
      query: fc.array(
        fc.oneof(
          { weight: 6, arbitrary: queryPair(queryParams) },
          {
            weight: 1,
            arbitrary: fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })),
          },
        ),
        { maxLength: 4 },
      ),
      body: operation.body ? bodyText(operation.body) : fc.constant(undefined),
      contentType: fc.oneof(
        { weight: 10, arbitrary: fc.constant('application/json') },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            'text/plain',
            'application/json; charset=latin1',
            'application/cloudevents+json',
            'multipart/form-data; boundary=x',
            '',
          ),
        },
      ),
      method: fc.oneof(
        { weight: 30, arbitrary: fc.constant(operation.method) },
        { weight: 1, arbitrary: fc.constantFrom('OPTIONS', 'PROPFIND', 'PUT', 'DELETE', 'PATCH') },
      ),
      auth,
    })
    .map(({ path, query, body, contentType, method, auth: authHeaders }): FuzzRequest => {
      let url = operation.path;
      pathParams.forEach((param, i) => {
        url = url.replace(`{${param.name}}`, path[i]!);
      });
      const search = query.map(([k, v]) => `${encodeText(k)}=${encodeText(String(v))}`).join('&');
      const headers: Record<string, string> = { ...authHeaders };
      if (body !== undefined && contentType !== '') headers['content-type'] = contentType;
      return {
        operationId: operation.operationId,
        method,
        url: search ? `${url}?${search}` : url,
        headers,
        payload: body,
      };
    });
}

function queryPair(params: Parameter[]): fc.Arbitrary<[string, unknown]> {
  if (params.length === 0) return fc.tuple(fc.constant('limit'), fc.constant('1'));
  return fc.oneof(
    ...params.map((param) =>
      sampleOf(param.schema).map((value): [string, unknown] => [
        param.name,
        typeof value === 'object' && value !== null ? JSON.stringify(value) : value,
      ]),
    ),
  );
}

/**
 * A validator of answers against the description: the schema of the status answered (error
 * answers against `components/schemas/Error`).
 */
export function answerValidator(doc: Document) {
  const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
  addFormats(ajv);
  ajv.addSchema(doc as object, 'openapi');
  const compiled = new Map<string, ReturnType<typeof ajv.compile>>();
  return (operation: Operation, status: number, body: unknown): string | undefined => {
    const documented = operation.responses[String(status)];
    if (!(String(status) in operation.responses))
      return `${operation.operationId} answered ${status}, which its description does not list`;
    if (documented === undefined) return undefined;
    const pointer = `openapi#/paths/${operation.path.replace(/~/g, '~0').replace(/\//g, '~1')}/${operation.method.toLowerCase()}/responses/${status}/content/application~1json/schema`;
    let validate = compiled.get(pointer);
    if (!validate) {
      validate = ajv.compile({ $ref: pointer });
      compiled.set(pointer, validate);
    }
    if (validate(body)) return undefined;
    return `${operation.operationId} ${status}: ${ajv.errorsText(validate.errors)}`;
  };
}
