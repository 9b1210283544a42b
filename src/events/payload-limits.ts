import { type ErrorDetail, fieldError } from '../errors.ts';

/** Bounds on one event's JSON, so a hostile body cannot exhaust validation or the store. */
export interface PayloadLimits {
  /** Deepest nesting of objects and arrays. Env `INGEST_MAX_PAYLOAD_DEPTH`, default 32. */
  maxDepth: number;
  /** Most object keys in one payload, counted at every level. Env `INGEST_MAX_PAYLOAD_KEYS`, default 10,000. */
  maxKeys: number;
}

// PostgreSQL's jsonb cannot hold U+0000, nor a lone UTF-16 surrogate.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching U+0000 is the purpose
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether `text` holds U+0000 or an unpaired surrogate, which PostgreSQL's text types refuse. */
export const isUnstorableText = (text: string): boolean => UNSTORABLE.test(text);

type Breach = { kind: 'max_depth' | 'unsupported_character'; path: string } | undefined;

/** How a node is reached from its parent: a key, or an array index. */
type Step = string | number;

/** The path of node `index` of `trail`, spelled out (only for a breach). */
function pathOf(trail: Array<{ parent: number; step: Step }>, prefix: string, index: number) {
  let path = '';
  for (let i = index; i > 0; i = trail[i]!.parent) {
    const { step } = trail[i]!;
    path = (typeof step === 'number' ? `[${step}]` : `.${step}`) + path;
  }
  return prefix + path;
}

/**
 * Walks `value` without recursion (depth is what is being checked). Paths are only spelled out
 * for the first breach of each kind, so an ordinary payload costs no string building (every
 * event's payload and metadata pass here).
 */
function walk(value: unknown, prefix: string, limits: PayloadLimits) {
  let keys = 0;
  let tooDeep: Breach;
  let badText: Breach;
  const stack: Array<{ node: unknown; depth: number; parent: number; step: Step }> = [];
  const trail: Array<{ parent: number; step: Step }> = [];
  stack.push({ node: value, depth: 0, parent: -1, step: '' });
  while (stack.length > 0) {
    const { node, depth, parent, step } = stack.pop()!;
    const here = trail.push({ parent, step }) - 1;
    if (typeof node === 'string') {
      if (!badText && UNSTORABLE.test(node))
        badText = { kind: 'unsupported_character', path: pathOf(trail, prefix, here) };
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    if (depth >= limits.maxDepth) {
      tooDeep ??= { kind: 'max_depth', path: pathOf(trail, prefix, here) };
      continue;
    }
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--)
        stack.push({ node: node[i], depth: depth + 1, parent: here, step: i });
      continue;
    }
    for (const key in node) {
      if (!Object.hasOwn(node, key)) continue;
      keys += 1;
      if (!badText && UNSTORABLE.test(key))
        badText = { kind: 'unsupported_character', path: pathOf(trail, prefix, here) };
      stack.push({
        node: (node as Record<string, unknown>)[key],
        depth: depth + 1,
        parent: here,
        step: key,
      });
    }
  }
  return { keys, tooDeep, badText };
}

/** The breaches of `limits` in `value`, each naming its field under `prefix`. */
export function checkPayloadLimits(
  value: unknown,
  prefix: string,
  limits: PayloadLimits,
): ErrorDetail[] {
  const { keys, tooDeep, badText } = walk(value, prefix, limits);
  const details: ErrorDetail[] = [];
  if (tooDeep)
    details.push(
      fieldError(tooDeep.path, 'max_depth', `nests deeper than ${limits.maxDepth} levels`),
    );
  if (badText) {
    details.push(
      fieldError(
        badText.path,
        'unsupported_character',
        'contains U+0000 or an unpaired surrogate, which cannot be stored',
      ),
    );
  }
  if (keys > limits.maxKeys)
    details.push(
      fieldError(prefix, 'max_keys', `has ${keys} keys; at most ${limits.maxKeys} are allowed`),
    );
  return details;
}
