import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { loadConfig } from '../src/config.ts';
import { benchAuthRateLimit } from './auth-rate-limit.ts';
import { benchDelivery } from './delivery.ts';
import { benchIngest } from './ingest.ts';
import { benchPatternMatching } from './pattern-matching.ts';
import { benchPayloadValidation } from './payload-validation.ts';
import { benchTriggersE2e } from './triggers-e2e.ts';

/**
 * Runs every benchmark and writes one JSON file per run into bench/results/. Benchmarks that
 * need PostgreSQL read DATABASE_URL (see each benchmark).
 */
export interface BenchResult {
  name: string;
  [metric: string]: unknown;
}

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
};

const { databaseUrl } = loadConfig();
const results: BenchResult[] = [
  await benchPayloadValidation(),
  benchPatternMatching(),
  await benchAuthRateLimit(),
  await benchIngest(databaseUrl),
  await benchTriggersE2e(databaseUrl),
  await benchDelivery(databaseUrl),
];
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
const file = new URL(`./results/${stamp}.json`, import.meta.url);
await writeFile(file, `${JSON.stringify({ machine, results }, null, 2)}\n`);
console.log(JSON.stringify({ machine, results }, null, 2));
