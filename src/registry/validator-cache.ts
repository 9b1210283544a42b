import type { PayloadValidator, SchemaCompiler } from '../schema/compiler.ts';
import type { EventDefinition } from './definition.ts';

type Compilable = Pick<EventDefinition, 'pattern' | 'version' | 'revision' | 'payload_schema'>;

/**
 * Compiled payload validators per (pattern, version), filled on first use. An entry remembers
 * the revision it was compiled from, so a definition changed by another instance is recompiled
 * as soon as a caller holds the newer row; local changes invalidate explicitly.
 */
export class ValidatorCache {
  private readonly entries = new Map<string, { revision: number; validate: PayloadValidator }>();

  constructor(private readonly compiler: SchemaCompiler) {}

  get(definition: Compilable): PayloadValidator {
    const key = `${definition.pattern}@${definition.version}`;
    const cached = this.entries.get(key);
    if (cached && cached.revision >= definition.revision) return cached.validate;
    const validate = this.compiler.compile(definition.payload_schema);
    this.entries.set(key, { revision: definition.revision, validate });
    return validate;
  }

  invalidate(pattern: string, version: string): void {
    this.entries.delete(`${pattern}@${version}`);
  }

  get size(): number {
    return this.entries.size;
  }
}
