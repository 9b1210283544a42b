import type { ArrayNode, ObjectNode, SchemaNode } from './model.ts';

/**
 * What a schema says about the value at a path: whether the path can exist, which JSON types
 * its value can have, and whether it is always there. Used to type-check the paths triggers and
 * subscriptions read. `integer` counts as `number`: a condition cannot tell them apart.
 */

export type JsonType = 'string' | 'number' | 'boolean' | 'null' | 'object' | 'array';
export const ALL_TYPES: readonly JsonType[] = [
  'string',
  'number',
  'boolean',
  'null',
  'object',
  'array',
];

/** A set of types; `undefined` means unconstrained (any JSON value). */
export type Types = ReadonlySet<JsonType> | undefined;

export type Lookup =
  | {
      found: true;
      types: Types;
      /** True when every step of the path is required, so the value is always there. */
      required: boolean;
    }
  | {
      found: false;
      /** `closed`: the schema forbids it; `undeclared`: an open schema does not mention it. */
      reason: 'closed' | 'undeclared';
    };

type Key = string | number;

const ANYTHING: Lookup = { found: true, types: undefined, required: false };

/** The JSON type of a literal value. */
export function typeOfValue(value: unknown): JsonType {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  const type = typeof value;
  if (type === 'string' || type === 'number' || type === 'boolean') return type;
  return 'object';
}

/** The types a schema node's values can have. */
export function typesOf(node: SchemaNode): Types {
  switch (node.kind) {
    case 'string':
      return new Set(['string']);
    case 'number':
      return new Set(['number']);
    case 'boolean':
    case 'null':
    case 'object':
    case 'array':
      return new Set([node.kind]);
    case 'enum':
      return new Set(node.values.map(typeOfValue));
    case 'const':
      return new Set([typeOfValue(node.value)]);
    case 'false':
      return new Set();
    case 'combined': {
      const parts = node.subschemas.map(typesOf);
      return node.criterion === 'allOf' ? intersect(parts) : union(parts);
    }
    default:
      return undefined;
  }
}

export function union(parts: Types[]): Types {
  if (parts.some((p) => p === undefined)) return undefined;
  return new Set(parts.flatMap((p) => [...(p ?? [])]));
}

export function intersect(parts: Types[]): Types {
  let result: Types;
  for (const part of parts) {
    if (part === undefined) continue;
    result = result === undefined ? part : new Set([...result].filter((t) => part.has(t)));
  }
  return result;
}

/** Whether values of the two sets can ever be equal-typed. */
export const overlaps = (a: Types, b: Types): boolean =>
  a === undefined || b === undefined || [...a].some((t) => b.has(t));

/** Follows `keys` from `node`. */
export function lookup(node: SchemaNode, keys: readonly Key[], required = true): Lookup {
  if (keys.length === 0) return { found: true, types: typesOf(node), required };
  const [key, ...rest] = keys as [Key, ...Key[]];
  switch (node.kind) {
    case 'object':
      return lookupProperty(node, key, rest, required);
    case 'array':
      return lookupItem(node, key, rest);
    case 'combined':
      return lookupCombined(node.criterion === 'allOf', node.subschemas, keys, required);
    case 'false':
      return { found: false, reason: 'closed' };
    case 'string':
    case 'number':
    case 'boolean':
    case 'null':
      return { found: false, reason: 'closed' };
    default:
      // Unconstrained ({}, not, if/then/else, enum and const of structured values).
      return ANYTHING;
  }
}

function lookupProperty(node: ObjectNode, key: Key, rest: Key[], required: boolean): Lookup {
  if (typeof key === 'number') return { found: false, reason: 'closed' };
  const declared = node.properties.get(key);
  if (declared) return lookup(declared, rest, required && node.required.has(key));
  for (const { regex, schema } of node.patternProperties) {
    if (regex?.matcher(key).find()) return lookup(schema, rest, false);
  }
  if (node.additionalSchema) return lookup(node.additionalSchema, rest, false);
  if (!node.permitsAdditional || node.unevaluated?.kind === 'false') {
    return { found: false, reason: 'closed' };
  }
  if (node.unevaluated && node.unevaluated.kind !== 'empty') {
    return lookup(node.unevaluated, rest, false);
  }
  // An object schema that declares nothing describes nothing: any path may be there.
  const describesNothing = node.properties.size === 0 && node.patternProperties.length === 0;
  return describesNothing ? ANYTHING : { found: false, reason: 'undeclared' };
}

function lookupItem(node: ArrayNode, key: Key, rest: Key[]): Lookup {
  if (typeof key !== 'number') return { found: false, reason: 'closed' };
  const inTuple = node.tuple?.[key];
  // An element is there only when the array is long enough: never "required".
  if (inTuple) return lookup(inTuple, rest, false);
  const item = node.additionalSchema ?? (node.tuple ? undefined : node.allItems);
  if (item) return lookup(item, rest, false);
  if (!node.permitsAdditional) return { found: false, reason: 'closed' };
  return ANYTHING;
}

/**
 * anyOf/oneOf: the path exists when some alternative has it. allOf: every part must allow it
 * (one closed part forbids it), and its types are what all the parts that know it agree on.
 */
function lookupCombined(
  isAllOf: boolean,
  parts: SchemaNode[],
  keys: readonly Key[],
  required: boolean,
): Lookup {
  const lookups = parts.map((part) => lookup(part, keys, required));
  const found = lookups.filter((l): l is Extract<Lookup, { found: true }> => l.found);
  if (isAllOf && lookups.some((l) => !l.found && l.reason === 'closed')) {
    return { found: false, reason: 'closed' };
  }
  if (found.length === 0) {
    const closed = lookups.every((l) => !l.found && l.reason === 'closed');
    return { found: false, reason: closed ? 'closed' : 'undeclared' };
  }
  const types = found.map((l) => l.types);
  return {
    found: true,
    types: isAllOf ? intersect(types) : union(types),
    required: isAllOf ? found.some((l) => l.required) : found.every((l) => l.required),
  };
}
