import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { benchAuthRateLimit } from './auth-rate-limit.ts';
import { benchConsole } from './console.ts';
import { benchDelivery } from './delivery.ts';
import { benchDeliveryCost } from './delivery-cost.ts';
import { benchIngest } from './ingest.ts';
import { benchPatternMatching } from './pattern-matching.ts';
import { benchPayloadValidation } from './payload-validation.ts';
import { machineDescription, measuredCommit, writeResultsFile } from './results-file.ts';
import { benchSchemaEvolution } from './schema-evolution.ts';
import { benchTriggersE2e } from './triggers-e2e.ts';
import { benchWaits } from './waits.ts';
import { benchWakeUps } from './wake-ups.ts';

/**
 * Runs every benchmark — or those BENCH_ONLY names, comma-separated (e.g. `delivery`) — and
 * writes one JSON file per run into bench/results/, with the machine and its load average at
 * the start (a figure from a busy machine says little). Benchmarks that need PostgreSQL read
 * DATABASE_URL (see each benchmark).
 *
 * Each benchmark runs in a Node process of its own (this file, given the benchmark's name), so
 * none inherits another's heap (the pattern-matching one builds indexes of 100,000 patterns,
 * and a big live heap makes every later garbage collection slower).
 */
export interface BenchResult {
  name: string;
  [metric: string]: unknown;
}

const benchmarks: Record<string, (databaseUrl: string | undefined) => Promise<BenchResult>> = {
  'payload-validation': () => benchPayloadValidation(),
  'pattern-matching': async () => benchPatternMatching(),
  'auth-rate-limit': () => benchAuthRateLimit(),
  'schema-evolution': async () => benchSchemaEvolution(),
  ingest: benchIngest,
  'triggers-e2e': benchTriggersE2e,
  delivery: benchDelivery,
  'delivery-cost': benchDeliveryCost,
  'wake-ups': benchWakeUps,
  waits: benchWaits,
  console: async () => benchConsole(),
};

const RESULT_MARK = 'BENCH-RESULT ';

const only = process.argv[2];
if (only) {
  const bench = benchmarks[only];
  if (!bench) throw new Error(`unknown benchmark ${only}`);
  const result = await bench(loadConfig().databaseUrl);
  console.log(`${RESULT_MARK}${JSON.stringify(result)}`);
  process.exit(0);
}

const machine = machineDescription();
const selected =
  process.env.BENCH_ONLY?.split(',').map((name) => name.trim()) ?? Object.keys(benchmarks);
for (const name of selected) if (!benchmarks[name]) throw new Error(`unknown benchmark ${name}`);

const results: BenchResult[] = [];
for (const name of selected) {
  // A pause lets the previous benchmark's background work (autovacuum, the dropped database)
  // settle. No CHECKPOINT: right after one, every first write to a page logs the whole page,
  // which made the next benchmark ~20% slower.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    // --expose-gc: a benchmark may collect garbage before it reads the memory (waits).
    ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), name],
    { maxBuffer: 64 * 2 ** 20 },
  );
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARK));
  if (!line) throw new Error(`benchmark ${name} printed no result`);
  results.push(JSON.parse(line.slice(RESULT_MARK.length)) as BenchResult);
  console.error(`${name}: done`);
}
const commit = measuredCommit();
await writeResultsFile('', { machine, commit, results });
console.log(JSON.stringify({ machine, commit, results }, null, 2));
