import { ValidatorCache } from '../src/registry/validator-cache.ts';
import { SchemaCompiler } from '../src/schema/compiler.ts';
import { bookingDefinition } from '../src/testing/fixtures.ts';
import { median, timeIt } from './stats.ts';

/** Validating one booking payload: the cached compiled validator against compiling each time. */
export async function benchPayloadValidation() {
  const definition = { ...bookingDefinition(), revision: 1 };
  const payload = definition.examples[0];
  const compiler = new SchemaCompiler();
  const cache = new ValidatorCache(compiler);
  let distinct = 0;
  // A fresh $comment defeats Ajv's own schema cache, as a per-event compile would face.
  const compileEachTime = () =>
    compiler.compile({ ...definition.payload_schema, $comment: String(distinct++) })(payload);
  const cachedRuns: number[] = [];
  const uncachedRuns: number[] = [];
  for (let run = 0; run < 7; run++) {
    cachedRuns.push(timeIt(100_000, () => cache.get(definition)(payload)));
    uncachedRuns.push(timeIt(200, compileEachTime));
  }
  const cachedNs = median(cachedRuns);
  const uncachedNs = median(uncachedRuns);
  return {
    name: 'payload-validation',
    cachedNsPerEvent: Math.round(cachedNs),
    compileEachTimeNsPerEvent: Math.round(uncachedNs),
    speedup: Math.round(uncachedNs / cachedNs),
  };
}
