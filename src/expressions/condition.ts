import { RE2JS } from 're2js';
import { accessor, type EventView } from './event.ts';
import { ParseError } from './parse-error.ts';
import {
  DEFAULT_EXPRESSION_LIMITS,
  type EqualityOperator,
  type ExpressionLimits,
  type FunctionName,
  type Node,
  type OrderOperator,
  parseExpression,
} from './parser.ts';

/**
 * Conditions: a small, safe expression language over one event, parsed and compiled once into
 * closures (no `eval`, `Function` or `vm`). Semantics, also described in the README:
 * - A missing field is undefined, not an error; `null` is a value.
 * - `==` and `===` are the same strict equality (no coercion: `1 == '1'` is false); arrays and
 *   objects compare by content. Either side missing → false. `!=`/`!==` are always the negation,
 *   so a missing field is `!=` to anything.
 * - `< <= > >=` compare two numbers or two strings; anything else (missing included) → false.
 * - `x in list` is true when the list (a literal or a path to an array) holds an element equal
 *   to `x`.
 * - `&&`, `||`, `!` and the whole condition want booleans: missing and `null` count as false,
 *   another value is an evaluation error. `&&` and `||` short-circuit.
 * - Evaluation never throws: it answers `{ result }` or `{ error }`.
 */

export type ConditionResult = { result: boolean } | { error: string };

export interface CompiledCondition {
  readonly text: string;
  evaluate(event: EventView): ConditionResult;
}

type Evaluate = (event: EventView) => unknown;

class EvaluationError extends Error {}

/** Compiles `text` or throws a ParseError (`invalid_expression`) naming the position. */
export function compileCondition(
  text: string,
  limits: ExpressionLimits = DEFAULT_EXPRESSION_LIMITS,
): CompiledCondition {
  const evaluate = compileTest(parseExpression(text, 'invalid_expression', limits));
  return {
    text,
    evaluate(event) {
      try {
        return { result: evaluate(event) };
      } catch (error) {
        if (error instanceof EvaluationError) return { error: error.message };
        // A hostile payload, e.g. nested too deep for comparing, must not escape either.
        return { error: `evaluation failed: ${String(error)}` };
      }
    },
  };
}

/** Compiles a node whose value must be true or false, refusing what can never be. */
function compileTest(node: Node): (event: EventView) => boolean {
  const known = staticType(node);
  if (known !== undefined && known !== 'a boolean') {
    throw new ParseError(
      'invalid_expression',
      `expected true or false, not ${known}`,
      node.position,
    );
  }
  const value = compile(node);
  return (event) => truth(value(event), node.position);
}

function truth(value: unknown, position: number): boolean {
  if (typeof value === 'boolean') return value;
  if (value === undefined || value === null) return false;
  throw new EvaluationError(`expected true or false at position ${position}, got ${typeOf(value)}`);
}

function compile(node: Node): Evaluate {
  switch (node.kind) {
    case 'literal': {
      const { value } = node;
      return () => value;
    }
    case 'list': {
      const items = node.items.map(compile);
      return (event) => items.map((item) => item(event));
    }
    case 'path':
      return accessor(node.root, node.keys);
    case 'not': {
      const operand = compileTest(node.operand);
      return (event) => !operand(event);
    }
    case 'and': {
      const operands = node.operands.map(compileTest);
      return (event) => operands.every((operand) => operand(event));
    }
    case 'or': {
      const operands = node.operands.map(compileTest);
      return (event) => operands.some((operand) => operand(event));
    }
    case 'compare':
      return compileCompare(node.operator, compile(node.left), compile(node.right));
    case 'in': {
      const item = compile(node.item);
      const list = compile(node.list);
      return (event) => contains(list(event), item(event));
    }
    case 'call':
      return compileCall(node.name, node.args);
  }
}

function compileCompare(
  operator: EqualityOperator | OrderOperator,
  left: Evaluate,
  right: Evaluate,
): Evaluate {
  if (operator === '==' || operator === '===') return (event) => equal(left(event), right(event));
  if (operator === '!=' || operator === '!==') return (event) => !equal(left(event), right(event));
  const order = ORDER[operator];
  return (event) => {
    const a = left(event);
    const b = right(event);
    const comparable =
      (typeof a === 'number' && typeof b === 'number') ||
      (typeof a === 'string' && typeof b === 'string');
    return comparable && order(a as string, b as string);
  };
}

/** Typed for strings; numbers take the same operators. */
const ORDER: Record<OrderOperator, (a: string, b: string) => boolean> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

function compileCall(name: FunctionName, args: Node[]): Evaluate {
  const [first, second] = args as [Node, Node];
  if (name === 'exists') {
    if (first.kind !== 'path') {
      throw new ParseError('invalid_expression', 'exists takes a path', first.position);
    }
    const read = compile(first);
    return (event) => read(event) !== undefined;
  }
  if (name === 'matches') return compileMatches(compile(first), second);
  const values = args.map(compile);
  const fn = FUNCTIONS[name];
  return (event) => fn(values[0]!(event), values[1]?.(event));
}

const FUNCTIONS: Record<
  Exclude<FunctionName, 'exists' | 'matches'>,
  (a: unknown, b: unknown) => unknown
> = {
  startsWith: (s, prefix) =>
    typeof s === 'string' && typeof prefix === 'string' && s.startsWith(prefix),
  endsWith: (s, suffix) =>
    typeof s === 'string' && typeof suffix === 'string' && s.endsWith(suffix),
  contains: (container, x) =>
    typeof container === 'string'
      ? typeof x === 'string' && container.includes(x)
      : contains(container, x),
  size: (x) => {
    if (typeof x === 'string' || Array.isArray(x)) return x.length;
    return x !== null && typeof x === 'object' ? Object.keys(x).length : undefined;
  },
};

/** The regex must be a literal, so it is compiled (by RE2: linear time) once, here. */
function compileMatches(subject: Evaluate, regex: Node): Evaluate {
  if (regex.kind !== 'literal' || typeof regex.value !== 'string') {
    throw new ParseError(
      'invalid_expression',
      'matches takes a quoted regular expression',
      regex.position,
    );
  }
  let re2: RE2JS;
  try {
    re2 = RE2JS.compile(regex.value);
  } catch (error) {
    throw new ParseError(
      'invalid_expression',
      `invalid regular expression: ${(error as Error).message}`,
      regex.position,
    );
  }
  return (event) => {
    const s = subject(event);
    return typeof s === 'string' && re2.test(s);
  };
}

/**
 * Arrays from the event are walked by index here and in {@link equal}, never through their
 * methods, so nothing is read from Array.prototype.
 */
function contains(list: unknown, x: unknown): boolean {
  if (!Array.isArray(list)) return false;
  for (let i = 0; i < list.length; i++) if (equal(list[i], x)) return true;
  return false;
}

/** Strict equality of JSON values, by content for arrays and objects; missing equals nothing. */
function equal(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return false;
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equal(a[i], b[i])) return false;
    return true;
  }
  const keys = Object.keys(a);
  return (
    keys.length === Object.keys(b).length &&
    keys.every(
      (key) =>
        Object.hasOwn(b, key) &&
        equal((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
    )
  );
}

/** The type a node is known to have before any event is seen; undefined for a path. */
function staticType(node: Node): string | undefined {
  switch (node.kind) {
    case 'literal':
      return typeOf(node.value);
    case 'list':
      return 'a list';
    case 'path':
      return undefined;
    case 'call':
      return node.name === 'size' ? 'a number' : 'a boolean';
    default:
      return 'a boolean';
  }
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}
