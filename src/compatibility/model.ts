import { RE2JS } from 're2js';
import { type CompatibilityLimits, UncheckableSchemaError } from './limits.ts';

/**
 * A JSON Schema document read into the typed nodes the compatibility rules compare. The shapes
 * follow the schema model Confluent Schema Registry's JSON Schema provider compares (that of the
 * everit loader), so that verdicts agree with it:
 * - `enum`, `allOf`/`anyOf`/`oneOf`, `not`, `const`, `type` and then the keywords of each type
 *   are read in that order, each keyword once; one result is the node itself, several become a
 *   synthetic `allOf` (`{"type":"string","enum":[…]}` is allOf[enum, string]), none an empty
 *   (accept-all) node. A list of types is an `anyOf` of one node per type.
 * - Keywords of a type without `type` still give that type's node (`{"maxLength": 3}` is a
 *   string node that does not require a string), as the loader does.
 * - Draft-07 and 2020-12 spellings read alike: `items: [...]` and `prefixItems` are the tuple,
 *   `additionalItems` and the `items` after `prefixItems` the rest; `dependencies`,
 *   `dependentRequired` and `dependentSchemas` are one set of dependencies; `definitions` and
 *   `$defs` are both places `$ref`s may point.
 * - Local `$ref`s (`#`, `#/json/pointer`, `#anchor`) are resolved to the node they point at, one
 *   node per target, so recursive schemas become cyclic graphs (compared by the diff with a
 *   cycle rule). Other references are refused: the registry never fetches anything.
 *
 * Nothing here runs user text as code; `patternProperties` keys are compiled with RE2.
 */

export interface Annotations {
  id?: string;
  title?: string;
  description?: string;
  /** Present when the schema has a `default` (which may be null). */
  default?: { value: unknown };
}

interface Base {
  annotations: Annotations;
  /** The schema JSON this node was read from (equal sources are equal subschemas). */
  source: unknown;
}

export interface EmptyNode extends Base {
  kind: 'empty';
}
export interface FalseNode extends Base {
  kind: 'false';
}
export interface BooleanNode extends Base {
  kind: 'boolean';
}
export interface NullNode extends Base {
  kind: 'null';
}
export interface StringNode extends Base {
  kind: 'string';
  minLength?: number;
  maxLength?: number;
  pattern?: string;
}
export interface NumberNode extends Base {
  kind: 'number';
  integer: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
}
export interface EnumNode extends Base {
  kind: 'enum';
  values: unknown[];
}
export interface ConstNode extends Base {
  kind: 'const';
  value: unknown;
}
export type Criterion = 'allOf' | 'anyOf' | 'oneOf';
export interface CombinedNode extends Base {
  kind: 'combined';
  criterion: Criterion;
  subschemas: SchemaNode[];
}
export interface NotNode extends Base {
  kind: 'not';
  schema: SchemaNode;
}
/** `if`/`then`/`else`: compared by kind only, as Confluent does. */
export interface ConditionalNode extends Base {
  kind: 'conditional';
}

export interface PatternProperty {
  pattern: string;
  /** Undefined when RE2 cannot compile the pattern (it then matches nothing). */
  regex: RE2JS | undefined;
  schema: SchemaNode;
}

export interface ObjectNode extends Base {
  kind: 'object';
  properties: Map<string, SchemaNode>;
  required: Set<string>;
  /** False for `additionalProperties: false`. */
  permitsAdditional: boolean;
  /** The schema of `additionalProperties` when it is a schema object. */
  additionalSchema?: SchemaNode;
  patternProperties: PatternProperty[];
  unevaluated?: SchemaNode;
  propertyDependencies: Map<string, Set<string>>;
  schemaDependencies: Map<string, SchemaNode>;
  minProperties?: number;
  maxProperties?: number;
}

export interface ArrayNode extends Base {
  kind: 'array';
  /** `items` as one schema for every item. */
  allItems?: SchemaNode;
  /** The tuple: draft-07 `items: [...]` or 2020-12 `prefixItems`. */
  tuple?: SchemaNode[];
  permitsAdditional: boolean;
  /** The schema of the items after the tuple (`additionalItems`, or `items` after `prefixItems`). */
  additionalSchema?: SchemaNode;
  unevaluated?: SchemaNode;
  minItems?: number;
  maxItems?: number;
  uniqueItems: boolean;
  minContains?: number;
  maxContains?: number;
}

export type SchemaNode =
  | EmptyNode
  | FalseNode
  | BooleanNode
  | NullNode
  | StringNode
  | NumberNode
  | EnumNode
  | ConstNode
  | CombinedNode
  | NotNode
  | ConditionalNode
  | ObjectNode
  | ArrayNode;

type Json = Record<string, unknown>;

/**
 * The keyword groups a schema object uses, as bits, found in one pass over its keys. Schemas of
 * hundreds of properties are read on every compatibility check and every trigger write, so
 * each object's keys are looked at once rather than each group's keywords probed one by one.
 */
const ARRAY = 1;
const OBJECT = 2;
const NUMBER = 4;
const STRING = 8;
const CONDITIONAL = 16;
/** `enum`, `allOf`/`anyOf`/`oneOf`, `not`, `const`, `type`. */
const OTHER_ASSERTION = 32;
const ANY_ASSERTION = ARRAY | OBJECT | NUMBER | STRING | CONDITIONAL | OTHER_ASSERTION;

const KEYWORDS_BY_GROUP: Array<[number, string[]]> = [
  [
    OBJECT,
    [
      'properties',
      'required',
      'minProperties',
      'maxProperties',
      'dependencies',
      'dependentRequired',
      'dependentSchemas',
      'patternProperties',
      'additionalProperties',
      'unevaluatedProperties',
      'propertyNames',
    ],
  ],
  [
    ARRAY,
    [
      'items',
      'prefixItems',
      'additionalItems',
      'unevaluatedItems',
      'minItems',
      'maxItems',
      'uniqueItems',
      'contains',
      'minContains',
      'maxContains',
    ],
  ],
  [NUMBER, ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf']],
  [STRING, ['minLength', 'maxLength', 'pattern', 'format']],
  [CONDITIONAL, ['if', 'then', 'else']],
  [OTHER_ASSERTION, ['enum', 'allOf', 'anyOf', 'oneOf', 'not', 'const', 'type']],
];
const KEYWORD_GROUPS = new Map(
  KEYWORDS_BY_GROUP.flatMap(([group, keywords]) => keywords.map((k) => [k, group] as const)),
);
const CRITERIA: Criterion[] = ['allOf', 'anyOf', 'oneOf'];

function keywordGroups(schema: Json): number {
  let groups = 0;
  for (const key of Object.keys(schema)) groups |= KEYWORD_GROUPS.get(key) ?? 0;
  return groups;
}

const isObject = (value: unknown): value is Json =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
const numberOf = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;
const stringOf = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : undefined;

/** Decodes one JSON Pointer token (RFC 6901). */
const unescapePointer = (token: string) => decodeUri(token).replace(/~1/g, '/').replace(/~0/g, '~');

function decodeUri(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new UncheckableSchemaError(`"${text}" is not a valid URI fragment`);
  }
}

/**
 * Reads schema documents into nodes; one reader per document. Each node is built once, with its
 * final annotations and source where they are known (no copies of half-built nodes): reading is
 * most of the work of a check.
 */
class ModelReader {
  /** One node per schema object, so every `$ref` to a target shares it (and cycles close). */
  private readonly nodes = new Map<object, SchemaNode>();
  private readonly anchors = new Map<string, unknown>();
  /** Bare references being followed (to stop a chain of them that loops). */
  private readonly following = new Set<object>();
  /** Whether the document has a `$ref` anywhere: without one it is a tree, with no cycles. */
  private hasReferences = false;
  private count = 0;

  constructor(
    private readonly root: unknown,
    private readonly limits: CompatibilityLimits,
  ) {
    this.collectAnchors(root, 0);
  }

  private collectAnchors(value: unknown, depth: number): void {
    if (depth > this.limits.maxDepth) throw new UncheckableSchemaError('schema nests too deep');
    if (Array.isArray(value)) {
      for (const item of value) this.collectAnchors(item, depth + 1);
      return;
    }
    if (!isObject(value)) return;
    // 2020-12 `$anchor`, or a draft-07 `$id` that is a plain-name fragment (`#address`).
    const id = stringOf(value.$id);
    const anchor = stringOf(value.$anchor) ?? (id?.startsWith('#') ? id.slice(1) : undefined);
    if (anchor !== undefined && !this.anchors.has(anchor)) this.anchors.set(anchor, value);
    if (value.$ref !== undefined) this.hasReferences = true;
    for (const key in value) {
      if (Object.hasOwn(value, key)) this.collectAnchors(value[key], depth + 1);
    }
  }

  read(schema: unknown = this.root): SchemaNode {
    if (schema === true) return { kind: 'empty', annotations: {}, source: true };
    if (schema === false) return { kind: 'false', annotations: {}, source: false };
    if (!isObject(schema)) return { kind: 'empty', annotations: {}, source: schema };
    const known = this.nodes.get(schema);
    if (known) return known;
    this.count += 1;
    if (this.count > this.limits.maxNodes) {
      throw new UncheckableSchemaError(`schema has more than ${this.limits.maxNodes} subschemas`);
    }
    const groups = keywordGroups(schema);
    const ref = stringOf(schema.$ref);
    // Keywords beside a bare `$ref` that are annotations only constrain nothing.
    if (ref !== undefined && (groups & ANY_ASSERTION) === 0) {
      return this.readReference(schema, ref);
    }
    if (!this.hasReferences) {
      // A tree without references has no cycles: its node is built as it is, no placeholder.
      const node = this.readObject(schema, undefined, groups);
      this.nodes.set(schema, node);
      return node;
    }
    // A placeholder first: a $ref cycle back to this schema finds it while it is being read.
    const node = { annotations: {}, source: schema } as SchemaNode;
    this.nodes.set(schema, node);
    Object.assign(node, this.readObject(schema, ref, groups));
    return node;
  }

  /** A bare `$ref` is the node it points at (the same node for every reference to it). */
  private readReference(schema: Json, ref: string): SchemaNode {
    // A chain of bare references that comes back to itself constrains nothing.
    if (this.following.has(schema)) return { kind: 'empty', annotations: {}, source: schema };
    this.following.add(schema);
    try {
      const target = this.read(this.resolve(ref));
      this.nodes.set(schema, target);
      return target;
    } finally {
      this.following.delete(schema);
    }
  }

  private readObject(schema: Json, ref: string | undefined, groups: number): SchemaNode {
    const annotations = readAnnotations(schema);
    // 2019+ applies a $ref's siblings too: the target and the siblings must both hold.
    const parts: SchemaNode[] = ref === undefined ? [] : [this.read(this.resolve(ref))];
    this.extract(schema, groups, parts);
    if (parts.length > 1) {
      return {
        kind: 'combined',
        criterion: 'allOf',
        subschemas: parts,
        annotations,
        source: schema,
      };
    }
    // One part is a node made for this schema, unless it is a shared $ref target: copied then.
    const node: SchemaNode =
      parts[0] === undefined
        ? { kind: 'empty', annotations, source: schema }
        : ref === undefined
          ? parts[0]
          : { ...parts[0] };
    node.annotations = annotations;
    node.source = schema;
    return node;
  }

  /** Appends the nodes the keywords of one schema object give, in the loader's order. */
  private extract(schema: Json, groups: number, parts: SchemaNode[]): void {
    if (Array.isArray(schema.enum)) {
      parts.push({ kind: 'enum', values: schema.enum, annotations: {}, source: schema });
    }
    for (const criterion of CRITERIA) {
      const list = schema[criterion];
      if (Array.isArray(list)) {
        const subschemas: SchemaNode[] = [];
        for (const sub of list) subschemas.push(this.read(sub));
        parts.push({ kind: 'combined', criterion, subschemas, annotations: {}, source: schema });
      }
    }
    if (schema.not !== undefined) {
      parts.push({ kind: 'not', schema: this.read(schema.not), annotations: {}, source: schema });
    }
    if (Object.hasOwn(schema, 'const')) {
      parts.push({ kind: 'const', value: schema.const, annotations: {}, source: schema });
    }
    // The groups a named type reads are not read again as a node of their own.
    let unread = groups;
    const type = schema.type;
    if (typeof type === 'string') {
      const typed = this.typed(schema, type, schema);
      if (typed) {
        parts.push(typed);
        unread &= ~typeGroup(type);
      }
    } else if (Array.isArray(type)) {
      const subschemas: SchemaNode[] = [];
      for (const t of type) {
        if (typeof t !== 'string') continue;
        const typed = this.typed(schema, t, { type: t });
        if (typed) {
          subschemas.push(typed);
          unread &= ~typeGroup(t);
        }
      }
      parts.push({
        kind: 'combined',
        criterion: 'anyOf',
        subschemas,
        annotations: {},
        source: schema,
      });
    }
    if (unread & ARRAY) parts.push(this.array(schema, schema));
    if (unread & OBJECT) parts.push(this.object(schema, schema));
    if (unread & NUMBER) parts.push(readNumber(schema, false, schema));
    if (unread & STRING) parts.push(readString(schema, schema));
    if (unread & CONDITIONAL) parts.push({ kind: 'conditional', annotations: {}, source: schema });
  }

  /** The node of one named type, undefined for a name that is no type. */
  private typed(schema: Json, type: string, source: unknown): SchemaNode | undefined {
    switch (type) {
      case 'string':
        return readString(schema, source);
      case 'integer':
      case 'number':
        return readNumber(schema, type === 'integer', source);
      case 'boolean':
        return { kind: 'boolean', annotations: {}, source };
      case 'null':
        return { kind: 'null', annotations: {}, source };
      case 'array':
        return this.array(schema, source);
      case 'object':
        return this.object(schema, source);
      default:
        return undefined;
    }
  }

  private object(schema: Json, source: unknown): ObjectNode {
    const properties = new Map<string, SchemaNode>();
    const declared = schema.properties;
    if (isObject(declared)) {
      for (const [name, sub] of Object.entries(declared)) properties.set(name, this.read(sub));
    }
    const required = new Set<string>();
    if (Array.isArray(schema.required)) {
      for (const name of schema.required) if (typeof name === 'string') required.add(name);
    }
    const patternProperties: PatternProperty[] = [];
    const patterns = schema.patternProperties;
    if (isObject(patterns)) {
      for (const [pattern, sub] of Object.entries(patterns)) {
        patternProperties.push({ pattern, regex: compileRegex(pattern), schema: this.read(sub) });
      }
    }
    const propertyDependencies = new Map<string, Set<string>>();
    const schemaDependencies = new Map<string, SchemaNode>();
    for (const group of [schema.dependencies, schema.dependentRequired, schema.dependentSchemas]) {
      if (!isObject(group)) continue;
      for (const [name, dependency] of Object.entries(group)) {
        if (Array.isArray(dependency)) {
          propertyDependencies.set(
            name,
            new Set(dependency.filter((d): d is string => typeof d === 'string')),
          );
        } else if (isObject(dependency) || typeof dependency === 'boolean') {
          schemaDependencies.set(name, this.read(dependency));
        }
      }
    }
    const additional = schema.additionalProperties;
    return {
      kind: 'object',
      annotations: {},
      source,
      properties,
      required,
      permitsAdditional: additional !== false,
      additionalSchema: isObject(additional) ? this.read(additional) : undefined,
      patternProperties,
      unevaluated:
        schema.unevaluatedProperties === undefined
          ? undefined
          : this.read(schema.unevaluatedProperties),
      propertyDependencies,
      schemaDependencies,
      minProperties: numberOf(schema.minProperties),
      maxProperties: numberOf(schema.maxProperties),
    };
  }

  private array(schema: Json, source: unknown): ArrayNode {
    const { items, prefixItems, additionalItems } = schema;
    const tupleSource = Array.isArray(prefixItems)
      ? prefixItems
      : Array.isArray(items)
        ? items
        : undefined;
    // After a 2020-12 tuple, `items` is the rest; otherwise `additionalItems` is.
    const rest = Array.isArray(prefixItems) ? items : additionalItems;
    const everyItem = tupleSource === undefined && !Array.isArray(items) ? items : undefined;
    return {
      kind: 'array',
      annotations: {},
      source,
      allItems: isObject(everyItem) ? this.read(everyItem) : undefined,
      tuple: tupleSource?.map((s) => this.read(s)),
      // `items: false` without a tuple allows no items at all: no additional ones.
      permitsAdditional: rest !== false && everyItem !== false,
      additionalSchema: isObject(rest) ? this.read(rest) : undefined,
      unevaluated:
        schema.unevaluatedItems === undefined ? undefined : this.read(schema.unevaluatedItems),
      minItems: numberOf(schema.minItems),
      maxItems: numberOf(schema.maxItems),
      uniqueItems: schema.uniqueItems === true,
      // minContains defaults to 1 and only means something next to `contains`.
      minContains: schema.contains === undefined ? undefined : numberOf(schema.minContains),
      maxContains: schema.contains === undefined ? undefined : numberOf(schema.maxContains),
    };
  }

  /** The schema a local reference points at. */
  private resolve(ref: string): unknown {
    if (!ref.startsWith('#')) {
      throw new UncheckableSchemaError(`$ref "${ref}" is not local`);
    }
    const fragment = ref.slice(1);
    if (fragment === '' || fragment === '/') return this.root;
    if (!fragment.startsWith('/')) {
      const anchored = this.anchors.get(decodeUri(fragment));
      if (anchored === undefined) throw new UncheckableSchemaError(`$ref "${ref}" is unresolved`);
      return anchored;
    }
    let target: unknown = this.root;
    for (const token of fragment.slice(1).split('/').map(unescapePointer)) {
      if (Array.isArray(target)) target = target[Number(token)];
      else if (isObject(target) && Object.hasOwn(target, token)) target = target[token];
      else target = undefined;
      if (target === undefined) throw new UncheckableSchemaError(`$ref "${ref}" is unresolved`);
    }
    return target;
  }
}

/** The keyword group a named type reads (0 for types without keywords). */
function typeGroup(type: string): number {
  switch (type) {
    case 'string':
      return STRING;
    case 'integer':
    case 'number':
      return NUMBER;
    case 'array':
      return ARRAY;
    case 'object':
      return OBJECT;
    default:
      return 0;
  }
}

function readAnnotations(schema: Json): Annotations {
  const annotations: Annotations = {};
  const id = stringOf(schema.$id) ?? stringOf(schema.id);
  if (id !== undefined) annotations.id = id;
  const title = stringOf(schema.title);
  if (title !== undefined) annotations.title = title;
  const description = stringOf(schema.description);
  if (description !== undefined) annotations.description = description;
  if (Object.hasOwn(schema, 'default')) annotations.default = { value: schema.default };
  return annotations;
}

function readString(schema: Json, source: unknown): StringNode {
  return {
    kind: 'string',
    annotations: {},
    source,
    minLength: numberOf(schema.minLength),
    maxLength: numberOf(schema.maxLength),
    pattern: stringOf(schema.pattern),
  };
}

function readNumber(schema: Json, integer: boolean, source: unknown): NumberNode {
  return {
    kind: 'number',
    annotations: {},
    source,
    integer,
    minimum: numberOf(schema.minimum),
    maximum: numberOf(schema.maximum),
    // Draft-04's boolean forms are not numbers and are left out (neither draft we accept uses them).
    exclusiveMinimum: numberOf(schema.exclusiveMinimum),
    exclusiveMaximum: numberOf(schema.exclusiveMaximum),
    multipleOf: numberOf(schema.multipleOf),
  };
}

function compileRegex(pattern: string): RE2JS | undefined {
  try {
    return RE2JS.compile(pattern);
  } catch {
    return undefined;
  }
}

/** Reads `schema` (a JSON Schema document) into its root node, within `limits`. */
export function readSchema(schema: unknown, limits: CompatibilityLimits): SchemaNode {
  return new ModelReader(schema, limits).read();
}
