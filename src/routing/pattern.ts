import { ParseError } from '../expressions/parse-error.ts';

/**
 * Subscription patterns: dot-separated segments of `[a-z0-9_-]+`, where a whole segment may be
 * `*` (exactly one segment) or `**` (zero or more segments). `bookings.*` matches
 * `bookings.created`; `**.created` matches `created` and `a.b.created`; `**` matches everything.
 */

/** Matches exactly one segment. */
export const ONE = '*';
/** Matches zero or more segments. */
export const SOME = '**';

/** The longest pattern accepted, in characters: the width of the pattern columns. */
export const MAX_PATTERN_LENGTH = 255;

const LITERAL = /^[a-z0-9_-]+$/;

/** The segments of a valid subscription pattern, or throws {@link ParseError} (`invalid_pattern`). */
export function parseSubscriptionPattern(text: string): string[] {
  if (text.length === 0) throw patternError('pattern is empty', 0);
  if (text.length > MAX_PATTERN_LENGTH) {
    throw patternError(
      `pattern is longer than ${MAX_PATTERN_LENGTH} characters`,
      MAX_PATTERN_LENGTH,
    );
  }
  const segments = text.split('.');
  let position = 0;
  for (const segment of segments) {
    const problem = segmentProblem(segment);
    if (problem) throw patternError(problem, position);
    position += segment.length + 1;
  }
  return segments;
}

function segmentProblem(segment: string): string | undefined {
  if (segment === ONE || segment === SOME || LITERAL.test(segment)) return undefined;
  if (segment === '')
    return 'empty segment (a pattern neither starts nor ends with a dot, nor has two in a row)';
  if (/^\*+$/.test(segment))
    return `"${segment}" is not a wildcard: use * for one segment or ** for any number`;
  if (segment.includes('*'))
    return `"${segment}" mixes a wildcard with text: a wildcard must be a whole segment`;
  return `"${segment}" may only contain lowercase letters, digits, _ and -`;
}

const patternError = (reason: string, position: number) =>
  new ParseError('invalid_pattern', reason, position);

/**
 * Whether the (valid) subscription `pattern` matches the concrete `eventPattern`. Dynamic
 * programming over segment positions, so `**.**.**.x` costs O(segments²), never exponential.
 */
export function matchesPattern(pattern: string, eventPattern: string): boolean {
  const words = eventPattern.split('.');
  // reachable[j]: the pattern segments seen so far can match the first j words.
  let reachable = Array.from({ length: words.length + 1 }, (_, j) => j === 0);
  for (const segment of pattern.split('.')) {
    const next: boolean[] = [];
    let anyBefore = false;
    for (let j = 0; j <= words.length; j++) {
      anyBefore ||= reachable[j] === true;
      next.push(
        segment === SOME
          ? anyBefore
          : reachable[j - 1] === true && (segment === ONE || segment === words[j - 1]),
      );
    }
    reachable = next;
  }
  return reachable[words.length] === true;
}

/**
 * A wildcard pattern as a regular expression over `pattern || '.'`: each segment is matched
 * together with its trailing dot, so `**` (zero or more segments) needs no special cases.
 * Built from validated segments only.
 */
export function wildcardRegex(pattern: string): string {
  const parts = pattern.split('.').map((segment) => {
    if (segment === '**') return '([^.]+\\.)*';
    if (segment === '*') return '[^.]+\\.';
    return `${segment}\\.`;
  });
  return `^${parts.join('')}$`;
}
