import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { machineDescription, measuredCommit, writeResultsFile } from './results-file.ts';

/**
 * `npm run fuzz`: src/http/fuzz.test.ts with FUZZ_REQUESTS requests (default 12,000) per
 * backend — PGlite, and PostgreSQL when DATABASE_URL is set — then its tally per backend
 * (requests, 5xx answers, answers outside the envelope, answers the description does not list)
 * into bench/results/<timestamp>-fuzz.json with the machine, its load, the commit and the seed
 * (random unless FUZZ_SEED is set). Exits as
 * the test run does.
 */
const requests = Number(process.env.FUZZ_REQUESTS ?? 12_000);
// A new draw each run (the test's own default seed is fixed, for CI); FUZZ_SEED replays one.
const seed = process.env.FUZZ_SEED ?? String(randomInt(2 ** 31));
const machine = machineDescription();
const commit = measuredCommit();
const startedAt = Date.now();

const child = spawn('npx', ['vitest', 'run', 'src/http/fuzz.test.ts'], {
  cwd: fileURLToPath(new URL('..', import.meta.url)),
  env: { ...process.env, FUZZ_REQUESTS: String(requests), FUZZ_SEED: seed },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let output = '';
child.stdout.on('data', (chunk: Buffer) => {
  output += chunk;
  process.stdout.write(chunk);
});
const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

// The test prints one tally per backend, `fuzz on pglite: {"requests":…}` (after colour codes).
const results = [...output.matchAll(/fuzz on (\w+): (\{.*\})$/gm)].map(([, backend, tally]) => ({
  name: 'fuzz',
  backend,
  ...(JSON.parse(tally!) as Record<string, number>),
}));
const file = await writeResultsFile('-fuzz', {
  machine,
  commit,
  requestsPerBackend: requests,
  seed: Number(seed),
  durationSeconds: Math.round((Date.now() - startedAt) / 1000),
  testsPassed: code === 0,
  results,
});
console.log(`fuzz tallies written to ${file}`);
process.exit(code ?? 1);
