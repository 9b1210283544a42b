import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * What every file in bench/results/ states beside its figures: the machine, its load average
 * when the run started (a figure from a busy machine says little) and the commit measured.
 */
export function machineDescription() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAverageAtStart: currentLoadAverage(),
  };
}

/** The 1, 5 and 15 minute load averages, rounded to 0.01. */
export const currentLoadAverage = () => os.loadavg().map((load) => Number(load.toFixed(2)));

/** The commit the working tree is at, marked `+changes` when it differs from it. */
export function measuredCommit(): string {
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: fileURLToPath(new URL('..', import.meta.url)) })
      .toString()
      .trim();
  const head = git('rev-parse', '--short', 'HEAD');
  return git('status', '--porcelain', '--untracked-files=no') ? `${head}+changes` : head;
}

/**
 * Writes `content` as bench/results/<ISO timestamp><suffix>.json (suffix e.g. `-soak`) and
 * returns the path.
 */
export async function writeResultsFile(suffix: string, content: unknown): Promise<string> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = new URL('./results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const file = new URL(`${stamp}${suffix}.json`, dir);
  await writeFile(file, `${JSON.stringify(content, null, 2)}\n`);
  return fileURLToPath(file);
}
