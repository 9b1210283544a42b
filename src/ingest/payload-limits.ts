import { type ErrorDetail, fieldError } from '../errors.ts';

/** Bounds on one event's JSON, so a hostile body cannot exhaust validation or the store. */
export interface PayloadLimits {
  /** Deepest nesting of objects and arrays. Env `INGEST_MAX_PAYLOAD_DEPTH`, default 32. */
  maxDepth: number;
  /** Most object keys in one payload, counted at every level. Env `INGEST_MAX_PAYLOAD_KEYS`, default 10,000. */
  maxKeys: number;
}

// PostgreSQL's jsonb cannot hold U+0000, nor a lone UTF-16 surrogate. The NUL is the point.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching U+0000 is the purpose
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Walks `value` without recursion (the depth is what is being checked) and reports the first
 * breach of each kind, naming the field under `prefix`.
 */
export function checkPayloadLimits(
  value: unknown,
  prefix: string,
  limits: PayloadLimits,
): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  let keys = 0;
  let depthReported = false;
  let textReported = false;
  const stack: Array<{ node: unknown; path: string; depth: number }> = [
    { node: value, path: prefix, depth: 0 },
  ];
  const checkText = (text: string, path: string) => {
    if (!textReported && UNSTORABLE.test(text)) {
      textReported = true;
      details.push(
        fieldError(
          path,
          'unsupported_character',
          'contains U+0000 or an unpaired surrogate, which cannot be stored',
        ),
      );
    }
  };
  while (stack.length > 0) {
    const { node, path, depth } = stack.pop()!;
    if (typeof node === 'string') checkText(node, path);
    if (node === null || typeof node !== 'object') continue;
    if (depth >= limits.maxDepth) {
      if (!depthReported)
        details.push(fieldError(path, 'max_depth', `nests deeper than ${limits.maxDepth} levels`));
      depthReported = true;
      continue;
    }
    const entries = Array.isArray(node)
      ? node.map((v, i) => [`[${i}]`, v] as const)
      : Object.entries(node).map(([k, v]) => [`.${k}`, v] as const);
    if (!Array.isArray(node)) {
      keys += entries.length;
      for (const [key] of entries) checkText(key.slice(1), path);
    }
    for (const [step, child] of entries)
      stack.push({ node: child, path: `${path}${step}`, depth: depth + 1 });
  }
  if (keys > limits.maxKeys)
    details.push(
      fieldError(prefix, 'max_keys', `has ${keys} keys; at most ${limits.maxKeys} are allowed`),
    );
  return details;
}
