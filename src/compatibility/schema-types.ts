import type { ArrayNode, CombinedNode, ObjectNode, SchemaNode } from './model.ts';

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

/** Marks a combination whose types are still being collected (a `$ref` cycle came back to it). */
const VISITING = Symbol('visiting');

/** The types a schema node's values can have. */
export function typesOf(node: SchemaNode): Types {
  const types = typesWithin(node, new Map());
  return types === VISITING ? undefined : types;
}

/**
 * {@link typesOf} with the combinations already met: a recursive schema is a cyclic graph
 * (`{"allOf":[{"$ref":"#"}, …]}`), so a combination met again while its own parts are being
 * collected is left out (it adds nothing to what its other parts say), and one met again after
 * is answered from `seen`, so a subschema shared by many references is read once.
 */
function typesWithin(
  node: SchemaNode,
  seen: Map<SchemaNode, Types | typeof VISITING>,
): Types | typeof VISITING {
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
      if (seen.has(node)) return seen.get(node);
      seen.set(node, VISITING);
      const parts = node.subschemas
        .map((part) => typesWithin(part, seen))
        .filter((part): part is Types => part !== VISITING);
      // Parts that are all the combination itself again constrain nothing.
      const types =
        parts.length === 0
          ? undefined
          : node.criterion === 'allOf'
            ? intersect(parts)
            : union(parts);
      seen.set(node, types);
      return types;
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
export function lookup(node: SchemaNode, keys: readonly Key[]): Lookup {
  return new PathLookup(keys).at(node, 0) ?? ANYTHING;
}

/**
 * One lookup of a path. allOf/anyOf/oneOf take no step along the path, and a recursive schema is
 * a cyclic graph (`{"type":"object","$ref":"#"}` is an allOf of itself and an object), so a
 * node met again at the same step while it is still being looked into is left out: it can add
 * nothing to what the parts around it say, and following it would never end. A node met again
 * at a step it was already looked into at is answered from memory, so a subschema shared by
 * many references costs one look per step: the work is bounded by nodes times path length.
 */
class PathLookup {
  /** Per step of the path, the nodes looked into there and what they gave. */
  private readonly seen: Array<Map<SchemaNode, Lookup | typeof VISITING>>;

  constructor(private readonly keys: readonly Key[]) {
    this.seen = Array.from({ length: keys.length + 1 }, () => new Map());
  }

  /**
   * `keys` from `step` on, looked up in `node`; `required` says whether every step from this node
   * on is required. Undefined for a node still being looked into at this step.
   */
  at(node: SchemaNode, step: number): Lookup | undefined {
    const seen = this.seen[step] as Map<SchemaNode, Lookup | typeof VISITING>;
    const known = seen.get(node);
    if (known === VISITING) return undefined;
    if (known) return known;
    seen.set(node, VISITING);
    const result = this.compute(node, step);
    seen.set(node, result);
    return result;
  }

  /** `at` of a node one step further down, whose value is there only when `present`. */
  private below(node: SchemaNode, step: number, present: boolean): Lookup {
    const result = this.at(node, step) ?? ANYTHING;
    return result.found && result.required && !present ? { ...result, required: false } : result;
  }

  private compute(node: SchemaNode, step: number): Lookup {
    const key = this.keys[step];
    if (key === undefined) return { found: true, types: typesOf(node), required: true };
    switch (node.kind) {
      case 'object':
        return this.property(node, key, step + 1);
      case 'array':
        return this.item(node, key, step + 1);
      case 'combined':
        return this.combined(node, step);
      case 'false':
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

  private property(node: ObjectNode, key: Key, next: number): Lookup {
    if (typeof key === 'number') return { found: false, reason: 'closed' };
    const declared = node.properties.get(key);
    if (declared) return this.below(declared, next, node.required.has(key));
    for (const { regex, schema } of node.patternProperties) {
      if (regex?.matcher(key).find()) return this.below(schema, next, false);
    }
    if (node.additionalSchema) return this.below(node.additionalSchema, next, false);
    if (!node.permitsAdditional || node.unevaluated?.kind === 'false') {
      return { found: false, reason: 'closed' };
    }
    if (node.unevaluated && node.unevaluated.kind !== 'empty') {
      return this.below(node.unevaluated, next, false);
    }
    // An object schema that declares nothing describes nothing: any path may be there.
    const describesNothing = node.properties.size === 0 && node.patternProperties.length === 0;
    return describesNothing ? ANYTHING : { found: false, reason: 'undeclared' };
  }

  private item(node: ArrayNode, key: Key, next: number): Lookup {
    if (typeof key !== 'number') return { found: false, reason: 'closed' };
    const inTuple = node.tuple?.[key];
    // An element is there only when the array is long enough: never "required".
    if (inTuple) return this.below(inTuple, next, false);
    const item = node.additionalSchema ?? (node.tuple ? undefined : node.allItems);
    if (item) return this.below(item, next, false);
    if (!node.permitsAdditional) return { found: false, reason: 'closed' };
    return ANYTHING;
  }

  /**
   * anyOf/oneOf: the path exists when some alternative has it. allOf: every part must allow it
   * (one closed part forbids it), and its types are what all the parts that know it agree on.
   * Parts that are the combination itself again (a `$ref` cycle) are left out.
   */
  private combined(node: CombinedNode, step: number): Lookup {
    const isAllOf = node.criterion === 'allOf';
    const lookups = node.subschemas
      .map((part) => this.at(part, step))
      .filter((l): l is Lookup => l !== undefined);
    if (lookups.length === 0) return ANYTHING;
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
}
