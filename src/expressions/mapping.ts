import type { ErrorDetail } from '../errors.ts';
import type { EventView } from './event.ts';
import { ParseError } from './parse-error.ts';
import { compilePath } from './path.ts';

/**
 * Input mappings: target field → source, where a string source is a path (see path.ts),
 * `{ "const": value }` gives that value (the only way to a constant string, as JSON Schema's
 * `const`), and any other JSON value is taken literally. A path with no value leaves its target
 * out. No mapping at all gives {@link defaultInput}.
 */

export interface CompiledMapping {
  /** The input of `event`; throws {@link InputTooLargeError} when it is over the bound. */
  apply(event: EventView): Record<string, unknown>;
}

/**
 * A mapped input whose JSON is over the byte bound. The size is summed entry by entry and the
 * mapping stops at the first entry over it, so 100 copies of a 1 MB field never get built.
 */
export class InputTooLargeError extends Error {
  override name = 'InputTooLargeError';
  readonly code = 'input_too_large';
  constructor(readonly maxBytes: number) {
    super(`the mapped input is larger than ${maxBytes} bytes (MAPPED_INPUT_MAX_BYTES)`);
  }
}

/** One refused entry per invalid path; `toDetails()` names each as `inputMapping.<target>`. */
export class MappingError extends Error {
  override name = 'MappingError';
  constructor(readonly problems: ReadonlyArray<{ target: string; error: ParseError }>) {
    super(problems.map(({ target, error }) => `${target}: ${error.message}`).join('; '));
  }

  toDetails(field = 'inputMapping'): ErrorDetail[] {
    return this.problems.map(({ target, error }) => error.toDetail(`${field}.${target}`));
  }
}

/** What a workflow gets when its trigger has no input mapping. */
export const defaultInput = (event: EventView) => ({
  eventId: event.eventId,
  eventPattern: event.pattern,
  eventPayload: event.payload,
});

/**
 * Validates every entry up front; throws {@link MappingError} listing each invalid path.
 * `maxBytes` bounds the JSON size of each mapped input (default: unbounded).
 */
export function compileMapping(
  mapping: Record<string, unknown> | undefined,
  maxBytes = Number.POSITIVE_INFINITY,
): CompiledMapping {
  if (mapping === undefined) return { apply: defaultInput };
  const entries: { target: string; read: (event: EventView) => unknown }[] = [];
  const problems: { target: string; error: ParseError }[] = [];
  for (const [target, source] of Object.entries(mapping)) {
    try {
      entries.push({ target, read: readerOf(source) });
    } catch (error) {
      if (!(error instanceof ParseError)) throw error;
      problems.push({ target, error });
    }
  }
  if (problems.length > 0) throw new MappingError(problems);
  const bounded = Number.isFinite(maxBytes);
  return {
    apply: (event) => {
      const input: [string, unknown][] = [];
      let bytes = 2; // {}
      for (const { target, read } of entries) {
        const value = read(event);
        if (value === undefined) continue;
        if (bounded) {
          bytes += jsonBytes(target) + 1 + jsonBytes(value) + (input.length > 0 ? 1 : 0);
          if (bytes > maxBytes) throw new InputTooLargeError(maxBytes);
        }
        input.push([target, value]);
      }
      // fromEntries defines own properties, so a target named __proto__ stays plain data.
      return Object.fromEntries(input);
    },
  };
}

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/** A literal is copied on every use, so no workflow input shares (and mutates) another's. */
function readerOf(source: unknown): (event: EventView) => unknown {
  if (typeof source === 'string') return compilePath(source).resolve;
  const literal = isConstSource(source) ? source.const : source;
  return () => structuredClone(literal);
}

/** `{ "const": value }` and nothing else: the constant `value`. */
export const isConstSource = (source: unknown): source is { const: unknown } =>
  typeof source === 'object' &&
  source !== null &&
  !Array.isArray(source) &&
  Object.keys(source).length === 1 &&
  Object.hasOwn(source, 'const');
