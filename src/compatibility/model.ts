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

/** A node without its annotations and source, as the keyword readers produce it. */
type Shape<N = SchemaNode> = N extends SchemaNode ? Omit<N, 'annotations' | 'source'> : never;

const OBJECT_KEYWORDS = [
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
];
const ARRAY_KEYWORDS = [
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
];
const NUMBER_KEYWORDS = [
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
];
const STRING_KEYWORDS = ['minLength', 'maxLength', 'pattern', 'format'];
const CONDITIONAL_KEYWORDS = ['if', 'then', 'else'];
const CRITERIA: Criterion[] = ['allOf', 'anyOf', 'oneOf'];
const ASSERTION_KEYWORDS = [
  'enum',
  ...CRITERIA,
  'not',
  'const',
  'type',
  ...OBJECT_KEYWORDS,
  ...ARRAY_KEYWORDS,
  ...NUMBER_KEYWORDS,
  ...STRING_KEYWORDS,
  ...CONDITIONAL_KEYWORDS,
];
const TYPES = ['string', 'integer', 'number', 'boolean', 'null', 'array', 'object'] as const;

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

/** Reads schema documents into nodes; one reader per document. */
class ModelReader {
  /** One node per schema object, so every `$ref` to a target shares it (and cycles close). */
  private readonly nodes = new Map<object, SchemaNode>();
  private readonly anchors = new Map<string, unknown>();
  /** Bare references being followed (to stop a chain of them that loops). */
  private readonly following = new Set<object>();
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
    for (const item of Object.values(value)) this.collectAnchors(item, depth + 1);
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
    const ref = stringOf(schema.$ref);
    if (ref !== undefined && !hasAssertions(schema)) return this.readReference(schema, ref);
    // A placeholder first: a $ref cycle back to this schema finds it while it is being read.
    const node = { annotations: {}, source: schema } as SchemaNode;
    this.nodes.set(schema, node);
    Object.assign(node, this.readObject(schema, ref));
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

  private readObject(schema: Json, ref: string | undefined): SchemaNode {
    const annotations = readAnnotations(schema);
    // 2019+ applies a $ref's siblings too: the target and the siblings must both hold.
    const parts =
      ref === undefined
        ? this.extract(schema)
        : [this.read(this.resolve(ref)), ...this.extract(schema)];
    if (parts.length === 0) return { kind: 'empty', annotations, source: schema };
    if (parts.length === 1) return { ...parts[0]!, annotations, source: schema };
    return { kind: 'combined', criterion: 'allOf', subschemas: parts, annotations, source: schema };
  }

  /** The nodes the keywords of one schema object give, in the loader's order. */
  private extract(schema: Json): SchemaNode[] {
    const parts: SchemaNode[] = [];
    const part = (node: Shape) =>
      parts.push({ ...node, annotations: {}, source: schema } as SchemaNode);
    if (Array.isArray(schema.enum)) part({ kind: 'enum', values: schema.enum });
    for (const criterion of CRITERIA) {
      const list = schema[criterion];
      if (Array.isArray(list)) {
        part({ kind: 'combined', criterion, subschemas: list.map((s) => this.read(s)) });
      }
    }
    if (schema.not !== undefined) part({ kind: 'not', schema: this.read(schema.not) });
    if (Object.hasOwn(schema, 'const')) part({ kind: 'const', value: schema.const });
    const consumed = new Set<string>();
    const type = schema.type;
    if (typeof type === 'string') {
      const typed = this.typed(schema, type, consumed);
      if (typed) part(typed);
    } else if (Array.isArray(type)) {
      const subschemas = type
        .filter((t): t is string => typeof t === 'string')
        .map((t) => this.typed(schema, t, consumed))
        .filter((n): n is SchemaNode => n !== undefined)
        .map((n) => ({ ...n, annotations: {}, source: { type: (n as Base).source } }));
      part({ kind: 'combined', criterion: 'anyOf', subschemas });
    }
    const has = (keywords: string[]) =>
      keywords.some((k) => !consumed.has(k) && Object.hasOwn(schema, k));
    if (has(ARRAY_KEYWORDS)) part(this.array(schema));
    if (has(OBJECT_KEYWORDS)) part(this.object(schema));
    if (has(NUMBER_KEYWORDS)) part(readNumber(schema, false));
    if (has(STRING_KEYWORDS)) part(readString(schema));
    if (has(CONDITIONAL_KEYWORDS)) part({ kind: 'conditional' });
    return parts;
  }

  /** The node of one named type; its keywords are consumed so they are not read again. */
  private typed(schema: Json, type: string, consumed: Set<string>): SchemaNode | undefined {
    const node = (n: Shape) => ({ ...n, annotations: {}, source: type }) as SchemaNode;
    const consume = (keywords: string[]) => {
      for (const k of keywords) consumed.add(k);
    };
    switch (type as (typeof TYPES)[number]) {
      case 'string':
        consume(STRING_KEYWORDS);
        return node(readString(schema));
      case 'integer':
      case 'number':
        consume(NUMBER_KEYWORDS);
        return node(readNumber(schema, type === 'integer'));
      case 'boolean':
        return node({ kind: 'boolean' });
      case 'null':
        return node({ kind: 'null' });
      case 'array':
        consume(ARRAY_KEYWORDS);
        return node(this.array(schema));
      case 'object':
        consume(OBJECT_KEYWORDS);
        return node(this.object(schema));
      default:
        return undefined;
    }
  }

  private object(schema: Json): Shape<ObjectNode> {
    const properties = new Map<string, SchemaNode>();
    if (isObject(schema.properties)) {
      for (const [name, sub] of Object.entries(schema.properties)) {
        properties.set(name, this.read(sub));
      }
    }
    const required = new Set(
      Array.isArray(schema.required)
        ? schema.required.filter((r): r is string => typeof r === 'string')
        : [],
    );
    const patternProperties: PatternProperty[] = isObject(schema.patternProperties)
      ? Object.entries(schema.patternProperties).map(([pattern, sub]) => ({
          pattern,
          regex: compileRegex(pattern),
          schema: this.read(sub),
        }))
      : [];
    const propertyDependencies = new Map<string, Set<string>>();
    const schemaDependencies = new Map<string, SchemaNode>();
    const dependencies = [schema.dependencies, schema.dependentRequired, schema.dependentSchemas];
    for (const group of dependencies) {
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

  private array(schema: Json): Shape<ArrayNode> {
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

/** Whether keywords beside a `$ref` constrain anything (annotations alone do not). */
const hasAssertions = (schema: Json) =>
  ASSERTION_KEYWORDS.some((keyword) => Object.hasOwn(schema, keyword));

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

function readString(schema: Json): Shape<StringNode> {
  return {
    kind: 'string',
    minLength: numberOf(schema.minLength),
    maxLength: numberOf(schema.maxLength),
    pattern: stringOf(schema.pattern),
  };
}

function readNumber(schema: Json, integer: boolean): Shape<NumberNode> {
  return {
    kind: 'number',
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
