import type { ErrorDetail } from '../errors.ts';
import type { EventView } from './event.ts';
import { ParseError } from './parse-error.ts';
import { compilePath } from './path.ts';

/**
 * Input mappings: target field → source, where a string source is a path (see path.ts) and any
 * other JSON value is taken literally. A path with no value leaves its target out. No mapping
 * at all gives {@link defaultInput}.
 */

export interface CompiledMapping {
  apply(event: EventView): Record<string, unknown>;
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

/** Validates every entry up front; throws {@link MappingError} listing each invalid path. */
export function compileMapping(mapping: Record<string, unknown> | undefined): CompiledMapping {
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
  return {
    apply: (event) =>
      // fromEntries defines own properties, so a target named __proto__ stays plain data.
      Object.fromEntries(
        entries
          .map(({ target, read }) => [target, read(event)] as const)
          .filter(([, value]) => value !== undefined),
      ),
  };
}

/** A literal is copied on every use, so no workflow input shares (and mutates) another's. */
const readerOf = (source: unknown): ((event: EventView) => unknown) =>
  typeof source === 'string' ? compilePath(source).resolve : () => structuredClone(source);
