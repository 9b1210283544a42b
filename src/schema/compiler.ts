import {
  Ajv,
  type AnySchemaObject,
  type ErrorObject,
  type Options,
  type ValidateFunction,
} from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { RE2JS } from 're2js';
import type { ErrorDetail } from '../errors.ts';
import { ajvErrorsToDetails } from './error-details.ts';
import { addFormats } from './formats.ts';
import { findReferenceLoop } from './reference-loops.ts';

/**
 * Compiles publishers' payload schemas (JSON Schema draft 2020-12, or draft-07 when the schema
 * says so) into validators. Schemas come from API clients, so compilation is bounded: size,
 * nesting depth and `$ref` count are capped, references must be local (`#...`, never fetched),
 * `pattern` runs on RE2 (linear time), and a `$ref` that loops back without descending into the
 * value is refused (see reference-loops.ts), so a schema cannot hang or crash the event receiver.
 */

export interface SchemaLimits {
  /** Largest serialized schema, in bytes. Default 256 KiB. */
  maxBytes: number;
  /** Deepest nesting of objects and arrays in the schema document. Default 32. */
  maxDepth: number;
  /** Most `$ref`/`$dynamicRef` keywords in one schema. Default 100. */
  maxRefs: number;
}

export const DEFAULT_SCHEMA_LIMITS: SchemaLimits = {
  maxBytes: 256 * 1024,
  maxDepth: 32,
  maxRefs: 100,
};

export class SchemaCompileError extends Error {
  override name = 'SchemaCompileError';
}

export type PayloadValidator = (payload: unknown) => ErrorDetail[];

const DRAFT_07 = /^https?:\/\/json-schema\.org\/draft-07\/schema#?$/;
const DRAFT_2020 = /^https?:\/\/json-schema\.org\/draft\/2020-12\/schema#?$/;
const REF_KEYWORDS = new Set(['$ref', '$dynamicRef', '$recursiveRef']);

const re2: Options['code'] = {
  regExp: Object.assign((pattern: string) => RE2JS.compile(pattern), { code: 'RE2JS.compile' }),
};

function newAjv<T extends Ajv>(AjvClass: new (opts: Options) => T): T {
  const ajv = new AjvClass({
    allErrors: true,
    strict: false,
    validateSchema: true,
    // User schemas are not registered globally: two versions may share an `$id`.
    addUsedSchema: false,
    code: re2,
    loadSchema: undefined,
  });
  addFormats(ajv);
  return ajv;
}

function checkBounds(schema: unknown, limits: SchemaLimits): void {
  const size = Buffer.byteLength(JSON.stringify(schema) ?? '');
  if (size > limits.maxBytes) {
    throw new SchemaCompileError(`schema is ${size} bytes; at most ${limits.maxBytes} are allowed`);
  }
  let refs = 0;
  const visit = (node: unknown, depth: number): void => {
    if (node === null || typeof node !== 'object') return;
    if (depth > limits.maxDepth)
      throw new SchemaCompileError(`schema nests deeper than ${limits.maxDepth} levels`);
    for (const [key, value] of Object.entries(node)) {
      if (REF_KEYWORDS.has(key) && typeof value === 'string' && !Array.isArray(node)) {
        refs += 1;
        if (refs > limits.maxRefs)
          throw new SchemaCompileError(`schema has more than ${limits.maxRefs} references`);
        if (!value.startsWith('#')) {
          throw new SchemaCompileError(
            `${key} "${value}" is not local: only references inside the schema (#...) are allowed`,
          );
        }
      }
      visit(value, depth + 1);
    }
  };
  visit(schema, 0);
  const loop = findReferenceLoop(schema);
  if (loop) throw new SchemaCompileError(loop);
}

export class SchemaCompiler {
  private readonly draft2020 = newAjv(Ajv2020);
  private readonly draft07 = newAjv(Ajv);

  constructor(private readonly limits: SchemaLimits = DEFAULT_SCHEMA_LIMITS) {}

  private ajvFor(schema: AnySchemaObject): Ajv {
    const declared = schema.$schema;
    if (declared === undefined || DRAFT_2020.test(declared)) return this.draft2020;
    if (DRAFT_07.test(declared)) return this.draft07;
    throw new SchemaCompileError(
      `unsupported $schema "${declared}": use draft 2020-12 or draft-07`,
    );
  }

  /** Compiles `schema` or throws {@link SchemaCompileError} with the compiler's message. */
  compile(schema: unknown, fieldPrefix = 'payload'): PayloadValidator {
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
      throw new SchemaCompileError('schema must be a JSON object');
    }
    checkBounds(schema, this.limits);
    let validate: ValidateFunction;
    try {
      validate = this.ajvFor(schema).compile(schema);
    } catch (error) {
      throw new SchemaCompileError((error as Error).message);
    }
    return (payload) =>
      validate(payload) ? [] : ajvErrorsToDetails(validate.errors as ErrorObject[], fieldPrefix);
  }
}
