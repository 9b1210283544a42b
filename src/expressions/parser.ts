import { isRoot, type Key, ROOT_NAMES, type Root } from './event.ts';
import { type Token, tokenize } from './lexer.ts';
import { ParseError, type ParseErrorCode } from './parse-error.ts';

/**
 * A recursive-descent parser for conditions and paths. Precedence, loosest first: `||`, `&&`,
 * equality (`== != === !==`), ordering and `in` (`< <= > >= in`), `!`, then member access and
 * calls. Comparisons do not chain (`a < b < c` is refused). Every node keeps the position of
 * its first token for error messages.
 */

export interface ExpressionLimits {
  /** Longest text accepted, in characters. Default 4096. */
  maxLength: number;
  /** Deepest nesting of parentheses, lists, call arguments and `!`. Default 64. */
  maxDepth: number;
}

export const DEFAULT_EXPRESSION_LIMITS: ExpressionLimits = { maxLength: 4096, maxDepth: 64 };

export const FUNCTION_ARITY = {
  startsWith: 2,
  endsWith: 2,
  contains: 2,
  size: 1,
  exists: 1,
  matches: 2,
};
export type FunctionName = keyof typeof FUNCTION_ARITY;

export type Literal = string | number | boolean | null;
export type EqualityOperator = '==' | '!=' | '===' | '!==';
export type OrderOperator = '<' | '<=' | '>' | '>=';

export type Node = { position: number } & (
  | { kind: 'literal'; value: Literal }
  | { kind: 'list'; items: Node[] }
  | { kind: 'path'; root: Root; keys: Key[] }
  | { kind: 'not'; operand: Node }
  | { kind: 'and' | 'or'; operands: Node[] }
  | { kind: 'compare'; operator: EqualityOperator | OrderOperator; left: Node; right: Node }
  | { kind: 'in'; item: Node; list: Node }
  | { kind: 'call'; name: FunctionName; args: Node[] }
);

const EQUALITY = new Set(['==', '!=', '===', '!==']);
const ORDER = new Set(['<', '<=', '>', '>=', 'in']);
const LITERAL_NAMES: Record<string, Literal> = { true: true, false: false, null: null };

const isFunction = (name: string): name is FunctionName => Object.hasOwn(FUNCTION_ARITY, name);

export function parseExpression(
  text: string,
  code: ParseErrorCode,
  limits: ExpressionLimits = DEFAULT_EXPRESSION_LIMITS,
): Node {
  if (text.length > limits.maxLength) {
    throw new ParseError(code, `longer than ${limits.maxLength} characters`, limits.maxLength);
  }
  return new Parser(tokenize(text, code), code, limits.maxDepth).parse();
}

class Parser {
  private index = 0;
  private depth = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly code: ParseErrorCode,
    private readonly maxDepth: number,
  ) {}

  parse(): Node {
    const node = this.parseOr();
    if (this.peek().kind !== 'end') this.unexpected();
    return node;
  }

  private peek(): Token {
    return this.tokens[this.index]!;
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== 'end') this.index++;
    return token;
  }

  /** Consumes the punctuation `value` when it comes next. */
  private accept(value: string): boolean {
    const token = this.peek();
    if (token.kind !== 'punct' || token.value !== value) return false;
    this.index++;
    return true;
  }

  private expect(value: string): void {
    if (!this.accept(value)) this.unexpected(`expected '${value}'`);
  }

  private fail(reason: string, position = this.peek().position): never {
    throw new ParseError(this.code, reason, position);
  }

  private unexpected(expected?: string): never {
    const token = this.peek();
    const found = token.kind === 'end' ? 'end of text' : `'${token.value}'`;
    this.fail(expected ? `${expected}, found ${found}` : `unexpected ${found}`);
  }

  private parseOr(): Node {
    return this.parseChain('||', 'or', () => this.parseAnd());
  }

  private parseAnd(): Node {
    return this.parseChain('&&', 'and', () => this.parseEquality());
  }

  private parseChain(operator: string, kind: 'and' | 'or', operand: () => Node): Node {
    const first = operand();
    const operands = [first];
    while (this.accept(operator)) operands.push(operand());
    return operands.length === 1 ? first : { kind, operands, position: first.position };
  }

  private parseEquality(): Node {
    return this.parseComparison(EQUALITY, () => this.parseOrder());
  }

  private parseOrder(): Node {
    return this.parseComparison(ORDER, () => this.parseUnary());
  }

  private parseComparison(operators: Set<string>, operand: () => Node): Node {
    const left = operand();
    const operator = this.comparisonOperator(operators);
    if (!operator) return left;
    this.index++;
    const right = operand();
    if (this.comparisonOperator(operators)) this.fail('comparisons do not chain: add parentheses');
    if (operator !== 'in') {
      const compare = operator as EqualityOperator | OrderOperator;
      return { kind: 'compare', operator: compare, left, right, position: left.position };
    }
    if (right.kind !== 'list' && right.kind !== 'path') {
      this.fail("'in' needs a list [...] or a path on its right", right.position);
    }
    return { kind: 'in', item: left, list: right, position: left.position };
  }

  /** The operator of this precedence level that comes next, if any (`in` is a name token). */
  private comparisonOperator(operators: Set<string>): string | undefined {
    const token = this.peek();
    const isOperator =
      (token.kind === 'punct' || token.kind === 'name') && operators.has(token.value);
    return isOperator ? token.value : undefined;
  }

  private parseUnary(): Node {
    if (++this.depth > this.maxDepth) this.fail(`nested deeper than ${this.maxDepth} levels`);
    const position = this.peek().position;
    const node: Node = this.accept('!')
      ? { kind: 'not', operand: this.parseUnary(), position }
      : this.parsePostfix();
    this.depth--;
    return node;
  }

  private parsePostfix(): Node {
    let node = this.parsePrimary();
    while (true) {
      if (this.accept('.')) node = this.parseMember(node);
      else if (this.accept('[')) node = this.withKey(node, this.parseIndex());
      else return node;
    }
  }

  /** After a dot: a field (any name, keywords included) or a method call such as `s.size()`. */
  private parseMember(node: Node): Node {
    const token = this.next();
    if (token.kind !== 'name' || token.value === '$')
      this.fail('expected a field name', token.position);
    if (!this.accept('(')) return this.withKey(node, token.value);
    if (!isFunction(token.value)) this.fail(`unknown function '${token.value}'`, token.position);
    return this.call(token.value, [node, ...this.parseArguments()], node.position);
  }

  private parseIndex(): Key {
    const token = this.next();
    const isIndex =
      token.kind === 'number' && Number.isSafeInteger(token.value) && token.value >= 0;
    if (!isIndex && token.kind !== 'string') {
      this.fail("expected an array index or a quoted field name inside '[...]'", token.position);
    }
    this.expect(']');
    return token.value;
  }

  private withKey(node: Node, key: Key): Node {
    if (node.kind !== 'path') this.fail('only a path has fields or elements', node.position);
    node.keys.push(key);
    return node;
  }

  private parseArguments(): Node[] {
    const args: Node[] = [];
    if (this.accept(')')) return args;
    do args.push(this.parseOr());
    while (this.accept(','));
    this.expect(')');
    return args;
  }

  private call(name: FunctionName, args: Node[], position: number): Node {
    const arity = FUNCTION_ARITY[name];
    if (args.length !== arity) {
      this.fail(
        `${name} takes ${arity} argument${arity === 1 ? '' : 's'}, not ${args.length}`,
        position,
      );
    }
    return { kind: 'call', name, args, position };
  }

  private parsePrimary(): Node {
    const token = this.peek();
    const { position } = token;
    const opens = token.kind === 'punct' && (token.value === '(' || token.value === '[');
    if (token.kind === 'end' || (token.kind === 'punct' && !opens)) this.unexpected();
    this.index++;
    if (token.kind === 'number' || token.kind === 'string') {
      return { kind: 'literal', value: token.value, position };
    }
    if (token.kind === 'punct' && token.value === '(') {
      const inner = this.parseOr();
      this.expect(')');
      return inner;
    }
    if (token.kind === 'punct' && token.value === '[') {
      const items: Node[] = [];
      if (!this.accept(']')) {
        do items.push(this.parseOr());
        while (this.accept(','));
        this.expect(']');
      }
      return { kind: 'list', items, position };
    }
    return this.parseName(token.value, position);
  }

  private parseName(name: string, position: number): Node {
    if (Object.hasOwn(LITERAL_NAMES, name)) {
      return { kind: 'literal', value: LITERAL_NAMES[name] as Literal, position };
    }
    if (isRoot(name)) return { kind: 'path', root: name, keys: [], position };
    if (isFunction(name)) {
      this.expect('(');
      return this.call(name, this.parseArguments(), position);
    }
    this.fail(`unknown name '${name}': a path starts with one of ${ROOT_NAMES}`, position);
  }
}
