import { AppError } from '../errors.ts';
import type { Key, Root } from '../expressions/event.ts';
import { isConstSource } from '../expressions/mapping.ts';
import { ParseError } from '../expressions/parse-error.ts';
import { type Node, parseExpression } from '../expressions/parser.ts';
import { DEFAULT_COMPATIBILITY_LIMITS, UncheckableSchemaError } from './limits.ts';
import { type ObjectNode, readSchema, type SchemaNode } from './model.ts';
import {
  type JsonType,
  type Lookup,
  lookup,
  overlaps,
  type Types,
  typeOfValue,
  typesOf,
  union,
} from './schema-types.ts';

/**
 * Type-checks what a trigger or subscription reads from events against the payload schemas of
 * the event versions its pattern matches (and the fixed envelope: eventId, pattern, version,
 * source, timestamp, metadata). Pure: the caller gathers the versions and the workflow's
 * inputSchema. Findings are errors (the consumer can never work as written) or warnings (it
 * works for some versions, or only sometimes).
 */

export type FindingCode =
  | 'unknown_field'
  | 'type_mismatch'
  | 'input_mismatch'
  | 'field_not_in_all_versions'
  | 'input_may_be_missing';

export interface Finding {
  /** The consumer's field: `eventCondition`, `inputMapping.<target>`, `correlationKey`, `filter.expression`. */
  field: string;
  code: FindingCode;
  message: string;
  severity: 'error' | 'warning';
  /** The path as written in the expression, when the finding is about one. */
  path?: string;
}

/** One event version the consumer may receive. */
export interface EventSchema {
  /** How messages name it, e.g. `order.placed 1.2.0`. */
  label: string;
  payloadSchema: unknown;
}

export interface ConsumerSpec {
  /** Conditions by field (a trigger's `eventCondition`, a subscription's `filter.expression`). */
  conditions?: Array<{ field: string; text: string }>;
  /** Paths whose value is used as a key (`correlationKey`). */
  keys?: Array<{ field: string; text: string }>;
  /** A trigger's input: its mapping (undefined = the default input) and the workflow's schema. */
  input?: {
    mapping: Record<string, unknown> | undefined;
    inputSchema: unknown;
    /** How findings name the mapping, its schema and a failure (default: a trigger's). */
    naming?: InputNaming;
  };
}

/** How an input check's findings word what is mapped, into what, and what a miss costs. */
export interface InputNaming {
  /** The mapping's field (`inputMapping`, `output.payload`). */
  field: string;
  /** The schema the mapping must satisfy (`the workflow's inputSchema`). */
  schema: string;
  /** What an event missing a required source leads to (`such events fail to start the workflow`). */
  failure: string;
}

const TRIGGER_INPUT: InputNaming = {
  field: 'inputMapping',
  schema: "the workflow's inputSchema",
  failure: 'such events fail to start the workflow',
};

/** The envelope around every payload: closed, with free-form metadata beyond its known fields. */
const text = { type: 'string' };
const ENVELOPE = readSchema(
  {
    type: 'object',
    additionalProperties: false,
    required: ['eventId', 'pattern', 'version', 'timestamp', 'metadata'],
    properties: {
      eventId: text,
      pattern: text,
      version: text,
      timestamp: text,
      source: {
        type: 'object',
        additionalProperties: false,
        required: ['type', 'id'],
        properties: { type: text, id: text, name: text },
      },
      payload: { type: 'object' },
      metadata: {
        type: 'object',
        required: ['correlationId', 'tags'],
        properties: {
          correlationId: text,
          causationId: text,
          traceId: text,
          userId: text,
          context: {
            type: 'object',
            additionalProperties: false,
            required: ['type', 'id'],
            properties: { type: text, id: text },
          },
          tags: { type: 'object', additionalProperties: text },
        },
        additionalProperties: {},
      },
    },
  },
  DEFAULT_COMPATIBILITY_LIMITS,
);

/** A version's payload schema, read once per check. */
interface ReadVersion {
  label: string;
  payload: SchemaNode | undefined;
}

/** What the versions together say about one path. */
interface PathFacts {
  text: string;
  foundIn: string[];
  missingIn: Array<{ label: string; reason: 'closed' | 'undeclared' }>;
  types: Types;
  /** Present in every version, always. */
  required: boolean;
}

const booleanish: Types = new Set<JsonType>(['boolean', 'null']);
const orderable: JsonType[] = ['number', 'string'];
const describe = (types: Types) =>
  types === undefined ? 'any value' : types.size === 0 ? 'nothing' : [...types].join(' or ');

export function pathText(root: Root, keys: readonly Key[]): string {
  return keys.reduce<string>(
    (text, key) =>
      typeof key === 'number'
        ? `${text}[${key}]`
        : /^[A-Za-z_$][\w$]*$/.test(key)
          ? `${text}.${key}`
          : `${text}[${JSON.stringify(key)}]`,
    root,
  );
}

class ConsumerCheck {
  readonly findings: Finding[] = [];
  private readonly seen = new Set<string>();

  constructor(private readonly versions: ReadVersion[]) {}

  private add(finding: Omit<Finding, 'severity'>, severity: Finding['severity']): void {
    const key = `${finding.field}\u0000${finding.code}\u0000${finding.path ?? finding.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.findings.push({ ...finding, severity });
  }

  error(field: string, code: FindingCode, message: string, path?: string): void {
    this.add({ field, code, message, ...(path ? { path } : {}) }, 'error');
  }

  warn(field: string, code: FindingCode, message: string, path?: string): void {
    this.add({ field, code, message, ...(path ? { path } : {}) }, 'warning');
  }

  /** Resolves a path in every version, reporting one that no version (or not all) can have. */
  path(field: string, root: Root, keys: readonly Key[]): PathFacts {
    const facts: PathFacts = {
      text: pathText(root, keys),
      foundIn: [],
      missingIn: [],
      types: new Set(),
      required: true,
    };
    const found: Types[] = [];
    for (const version of this.versions) {
      const result = resolve(root, keys, version.payload);
      if (result.found) {
        facts.foundIn.push(version.label);
        found.push(result.types);
        facts.required &&= result.required;
      } else {
        facts.missingIn.push({ label: version.label, reason: result.reason });
      }
    }
    facts.types = union(found);
    if (facts.missingIn.length > 0) facts.required = false;
    const missing = facts.missingIn.map((m) => m.label).join(', ');
    if (facts.foundIn.length === 0 && facts.missingIn.length > 0) {
      const closed = facts.missingIn.every((m) => m.reason === 'closed');
      this.error(
        field,
        'unknown_field',
        `${facts.text} ${closed ? 'cannot exist in' : 'is not declared by'} any version it may read (${missing})`,
        facts.text,
      );
    } else if (facts.missingIn.length > 0) {
      this.warn(
        field,
        'field_not_in_all_versions',
        `${facts.text} is declared by ${facts.foundIn.join(', ')} but not by ${missing}: events of those versions have no value there`,
        facts.text,
      );
    }
    return facts;
  }

  /** The types a condition node evaluates to, checking its operands on the way. */
  infer(field: string, node: Node): { types: Types; path?: PathFacts } {
    switch (node.kind) {
      case 'literal':
        return { types: new Set([typeOfValue(node.value)]) };
      case 'list':
        for (const item of node.items) this.infer(field, item);
        return { types: new Set(['array']) };
      case 'path': {
        const path = this.path(field, node.root, node.keys);
        return { types: path.foundIn.length > 0 ? path.types : undefined, path };
      }
      case 'not':
        this.test(field, node.operand);
        return { types: new Set(['boolean']) };
      case 'and':
      case 'or':
        for (const operand of node.operands) this.test(field, operand);
        return { types: new Set(['boolean']) };
      case 'compare':
        this.compare(field, node.operator, node.left, node.right);
        return { types: new Set(['boolean']) };
      case 'in':
        this.membership(field, node.item, node.list);
        return { types: new Set(['boolean']) };
      case 'call':
        return this.call(field, node.name, node.args);
    }
  }

  /** A node used as true/false: a path must be able to hold a boolean. */
  private test(field: string, node: Node): void {
    const { types, path } = this.infer(field, node);
    if (path && !overlaps(types, booleanish)) {
      this.error(
        field,
        'type_mismatch',
        `${path.text} is ${describe(types)}, used as true or false`,
        path.text,
      );
    }
  }

  private compare(field: string, operator: string, left: Node, right: Node): void {
    const a = this.infer(field, left);
    const b = this.infer(field, right);
    const path = a.path ?? b.path;
    if (!path) return;
    const ordering =
      operator !== '==' && operator !== '!=' && operator !== '===' && operator !== '!==';
    const usable = ordering
      ? orderable.some((t) => (a.types?.has(t) ?? true) && (b.types?.has(t) ?? true))
      : overlaps(a.types, b.types);
    if (!usable) {
      this.error(
        field,
        'type_mismatch',
        `${operator} compares ${describeSide(left, a)} with ${describeSide(right, b)}: it can never be true`,
        path.text,
      );
    }
  }

  private membership(field: string, item: Node, list: Node): void {
    const a = this.infer(field, item);
    const b = this.infer(field, list);
    if (b.path && !overlaps(b.types, new Set(['array']))) {
      this.error(
        field,
        'type_mismatch',
        `${b.path.text} is ${describe(b.types)}, not a list`,
        b.path.text,
      );
      return;
    }
    if (list.kind !== 'list' || !a.path) return;
    const elements = union(list.items.map((i) => this.infer(field, i).types));
    if (!overlaps(a.types, elements)) {
      this.error(
        field,
        'type_mismatch',
        `${a.path.text} is ${describe(a.types)}; the list holds ${describe(elements)}: it can never be in it`,
        a.path.text,
      );
    }
  }

  private call(field: string, name: string, args: Node[]): { types: Types } {
    const wants: Record<string, JsonType[]> = {
      startsWith: ['string'],
      endsWith: ['string'],
      matches: ['string'],
      contains: ['string', 'array'],
      size: ['string', 'array', 'object'],
    };
    const [subject, ...others] = args;
    for (const other of others) this.infer(field, other);
    if (subject && name === 'exists') {
      if (subject.kind === 'path') this.path(field, subject.root, subject.keys);
    } else if (subject) {
      const { types, path } = this.infer(field, subject);
      const wanted = wants[name];
      if (path && wanted && !overlaps(types, new Set(wanted))) {
        this.error(
          field,
          'type_mismatch',
          `${name} needs ${wanted.join(' or ')}; ${path.text} is ${describe(types)}`,
          path.text,
        );
      }
    }
    return { types: new Set([name === 'size' ? 'number' : 'boolean']) };
  }
}

function describeSide(node: Node, inferred: { types: Types; path?: PathFacts }): string {
  if (inferred.path) return `${inferred.path.text} (${describe(inferred.types)})`;
  if (node.kind === 'literal') return `${JSON.stringify(node.value)} (${describe(inferred.types)})`;
  return describe(inferred.types);
}

/** The lookup of a path of the expression language in one version. */
function resolve(root: Root, keys: readonly Key[], payload: SchemaNode | undefined): Lookup {
  const inPayload = (rest: readonly Key[]): Lookup =>
    payload ? lookup(payload, rest) : { found: true, types: undefined, required: false };
  switch (root) {
    case 'payload':
    case 'data':
      return inPayload(keys);
    case 'metadata':
    case 'source':
    case 'pattern':
      return lookup(ENVELOPE, [root, ...keys]);
    default:
      return keys[0] === 'payload' ? inPayload(keys.slice(1)) : lookup(ENVELOPE, keys);
  }
}

function readPayload(schema: unknown): SchemaNode | undefined {
  try {
    return readSchema(schema, DEFAULT_COMPATIBILITY_LIMITS);
  } catch (error) {
    // A schema too large to read leaves its paths unchecked rather than refused.
    if (error instanceof UncheckableSchemaError) return undefined;
    throw error;
  }
}

function parsed(text: string, code: 'invalid_expression' | 'invalid_path'): Node | undefined {
  try {
    return parseExpression(text, code);
  } catch (error) {
    // Syntax is the consumer's own validation; a text that does not parse has no paths here.
    if (error instanceof ParseError) return undefined;
    throw error;
  }
}

/** What the workflow gets when a trigger maps nothing. */
const DEFAULT_INPUT = new Map<string, { types: Types; required: boolean }>([
  ['eventId', { types: new Set(['string']), required: true }],
  ['eventPattern', { types: new Set(['string']), required: true }],
  ['eventPayload', { types: new Set(['object']), required: true }],
]);

/** The object an inputSchema describes at its root, if it describes one. */
function inputObject(inputSchema: unknown): ObjectNode | undefined {
  const node = readPayload(inputSchema);
  if (node?.kind === 'object') return node;
  if (node?.kind === 'combined' && node.criterion === 'allOf') {
    return node.subschemas.find((s): s is ObjectNode => s.kind === 'object');
  }
  return undefined;
}

function checkInput(
  check: ConsumerCheck,
  mapping: Record<string, unknown> | undefined,
  inputSchema: unknown,
  naming: InputNaming = TRIGGER_INPUT,
): void {
  const produced = new Map(DEFAULT_INPUT);
  if (mapping !== undefined) {
    produced.clear();
    for (const [target, source] of Object.entries(mapping)) {
      const field = `${naming.field}.${target}`;
      if (typeof source !== 'string') {
        const value = isConstSource(source) ? source.const : source;
        produced.set(target, { types: new Set([typeOfValue(value)]), required: true });
        continue;
      }
      const node = parsed(source, 'invalid_path');
      if (node?.kind !== 'path') continue;
      const facts = check.path(field, node.root, node.keys);
      if (facts.foundIn.length > 0) produced.set(target, facts);
    }
  }
  const object =
    inputSchema === undefined || inputSchema === null ? undefined : inputObject(inputSchema);
  if (!object) return;
  for (const name of object.required) {
    const source = produced.get(name);
    if (!source) {
      check.error(
        `${naming.field}.${name}`,
        'input_mismatch',
        `${naming.schema} requires ${name}, which ${mapping === undefined ? 'the default input (eventId, eventPattern, eventPayload) does not produce' : 'no mapping produces'}`,
      );
    } else if (!source.required) {
      check.warn(
        `${naming.field}.${name}`,
        'input_may_be_missing',
        `${naming.schema} requires ${name}, but its source is not always in the event: ${naming.failure}`,
      );
    }
  }
  for (const [name, source] of produced) {
    const declared = object.properties.get(name) ?? object.additionalSchema;
    if (!declared) {
      if (!object.permitsAdditional) {
        check.error(
          `${naming.field}.${name}`,
          'input_mismatch',
          `${naming.schema} does not allow ${name}`,
        );
      }
      continue;
    }
    const wanted = typesOf(declared);
    if (!overlaps(source.types, wanted)) {
      check.error(
        `${naming.field}.${name}`,
        'input_mismatch',
        `${name} is ${describe(source.types)}; ${naming.schema} wants ${describe(wanted)}`,
      );
    }
  }
}

/** Every finding for `spec` against `versions` (none when there are no versions to check). */
export function checkConsumer(spec: ConsumerSpec, versions: EventSchema[]): Finding[] {
  if (versions.length === 0) return [];
  const check = new ConsumerCheck(
    versions.map((v) => ({ label: v.label, payload: readPayload(v.payloadSchema) })),
  );
  for (const { field, text } of spec.conditions ?? []) {
    const node = parsed(text, 'invalid_expression');
    if (node) check.infer(field, node);
  }
  for (const { field, text } of spec.keys ?? []) {
    const node = parsed(text, 'invalid_path');
    if (node?.kind !== 'path') continue;
    const facts = check.path(field, node.root, node.keys);
    if (facts.foundIn.length > 0 && !overlaps(facts.types, new Set(['string', 'number']))) {
      check.error(
        field,
        'type_mismatch',
        `${facts.text} is ${describe(facts.types)}; a key must be a string or a number`,
        facts.text,
      );
    }
  }
  if (spec.input) checkInput(check, spec.input.mapping, spec.input.inputSchema, spec.input.naming);
  return check.findings;
}

/** `enforce` (the default): errors refuse the write; `warn`: they are reported and accepted. */
export const CONSUMER_CHECK_MODES = ['enforce', 'warn'] as const;
export type ConsumerCheckMode = (typeof CONSUMER_CHECK_MODES)[number];

/** A finding the write was accepted with, as the response lists it. */
export interface ConsumerWarning {
  field: string;
  code: string;
  message: string;
}

/**
 * What a write does with `findings`: refuses it (400 with the code of the first error and one
 * detail per error) unless `mode` is `warn`; else answers with every finding as a warning.
 */
export function judgeConsumer(findings: Finding[], mode: ConsumerCheckMode): ConsumerWarning[] {
  const errors = findings.filter((f) => f.severity === 'error');
  const first = errors[0];
  if (first && mode === 'enforce') {
    throw new AppError(
      400,
      first.code,
      `${first.message}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}; ?check=warn accepts it anyway`,
      errors.map(({ field, code, message }) => ({ field, code, message })),
    );
  }
  return findings.map(({ field, code, message }) => ({ field, code, message }));
}
