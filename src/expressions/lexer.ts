import { ParseError, type ParseErrorCode } from './parse-error.ts';

export type Token =
  | { kind: 'number'; value: number; position: number }
  | { kind: 'string' | 'name' | 'punct' | 'end'; value: string; position: number };

/** Longest first, so `===` is not read as `==` then `=`. */
const PUNCTUATION = [
  '===',
  '!==',
  '==',
  '!=',
  '<=',
  '>=',
  '&&',
  '||',
  '<',
  '>',
  '!',
  '(',
  ')',
  '[',
  ']',
  ',',
  '.',
];
const NAME = /\$|[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const SPACE = /[ \t\r\n]+/y;
const ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};
const HINTS: Record<string, string> = {
  '=': 'use == or === to compare',
  '&': 'use && for "and"',
  '|': 'use || for "or"',
  '-': 'a minus sign must start a number: there is no arithmetic',
};

export function tokenize(text: string, code: ParseErrorCode): Token[] {
  const tokens: Token[] = [];
  let position = 0;
  const sticky = (regex: RegExp) => {
    regex.lastIndex = position;
    return regex.exec(text)?.[0];
  };
  while (true) {
    position += sticky(SPACE)?.length ?? 0;
    if (position >= text.length) break;
    const char = text[position]!;
    if (char === "'" || char === '"') {
      const { value, end } = readString(text, position, code);
      tokens.push({ kind: 'string', value, position });
      position = end;
      continue;
    }
    const number = sticky(NUMBER);
    if (number !== undefined) {
      const value = Number(number);
      if (!Number.isFinite(value)) throw new ParseError(code, 'number out of range', position);
      tokens.push({ kind: 'number', value, position });
      position += number.length;
      continue;
    }
    const name = sticky(NAME);
    const punct = name ?? PUNCTUATION.find((p) => text.startsWith(p, position));
    if (punct === undefined) {
      const hint = HINTS[char] ?? `unexpected character ${JSON.stringify(char)}`;
      throw new ParseError(code, hint, position);
    }
    tokens.push({ kind: name === undefined ? 'punct' : 'name', value: punct, position });
    position += punct.length;
  }
  tokens.push({ kind: 'end', value: '', position: text.length });
  return tokens;
}

function readString(text: string, start: number, code: ParseErrorCode) {
  const quote = text[start];
  let value = '';
  let i = start + 1;
  while (i < text.length && text[i] !== quote) {
    if (text[i] !== '\\') {
      value += text[i++];
      continue;
    }
    const escaped = text[i + 1] ?? '';
    if (escaped === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
      value += String.fromCharCode(Number.parseInt(text.slice(i + 2, i + 6), 16));
      i += 6;
    } else if (Object.hasOwn(ESCAPES, escaped)) {
      value += ESCAPES[escaped];
      i += 2;
    } else {
      throw new ParseError(code, `unknown escape \\${escaped}`, i);
    }
  }
  if (i >= text.length) throw new ParseError(code, 'unterminated string', start);
  return { value, end: i + 1 };
}
