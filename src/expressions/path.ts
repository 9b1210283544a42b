import { accessor, type EventView } from './event.ts';
import { ParseError } from './parse-error.ts';
import { DEFAULT_EXPRESSION_LIMITS, type ExpressionLimits, parseExpression } from './parser.ts';

/**
 * Paths into an event, for input mappings and correlation keys: the JSONPath subset
 * `$.payload.items[0].id` / `$['payload']['a b']`, or a rooted path as in conditions
 * (`data.customer.id`, `metadata.correlationId`, `pattern`). Never evaluated as script.
 */

export interface CompiledPath {
  readonly text: string;
  /** The value at the path; undefined when there is none. */
  resolve(event: EventView): unknown;
  /**
   * The value as a correlation key: a non-empty string as it is, a finite number in its
   * JavaScript decimal form (`42`, `1.5`); anything else (an empty string, a boolean, an object,
   * nothing) gives undefined.
   */
  resolveKey(event: EventView): string | undefined;
}

/** Compiles `text` or throws a ParseError (`invalid_path`) naming the position. */
export function compilePath(
  text: string,
  limits: ExpressionLimits = DEFAULT_EXPRESSION_LIMITS,
): CompiledPath {
  const node = parseExpression(text, 'invalid_path', limits);
  if (node.kind !== 'path') {
    throw new ParseError(
      'invalid_path',
      'expected a path such as $.payload.bookingId or data.customer.id',
      node.position,
    );
  }
  const resolve = accessor(node.root, node.keys);
  return {
    text,
    resolve,
    resolveKey(event) {
      const value = resolve(event);
      if (typeof value === 'number' && Number.isFinite(value)) return String(value);
      return typeof value === 'string' && value !== '' ? value : undefined;
    },
  };
}

/**
 * An event's correlation key as triggers (and waits) resolve it: the value at `path`, or the
 * event's `metadata.correlationId` when there is no path.
 */
export function resolveCorrelationKey(
  path: CompiledPath | undefined,
  event: EventView & { metadata?: unknown },
): string | undefined {
  if (path) return path.resolveKey(event);
  const metadata = event.metadata as { correlationId?: unknown } | undefined;
  return typeof metadata?.correlationId === 'string' ? metadata.correlationId : undefined;
}
