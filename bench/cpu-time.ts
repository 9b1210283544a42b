import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type pg from 'pg';

/** Clock ticks per second of the times in /proc/<pid>/stat. */
export const CLOCK_TICKS_PER_SECOND = Number(
  execFileSync('getconf', ['CLK_TCK']).toString().trim(),
);

/** utime + stime of /proc/<path>/stat, in µs. */
export function procCpuMicros(path: string): number {
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const stat = readFileSync(`/proc/${path}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / CLOCK_TICKS_PER_SECOND;
}

/**
 * CPU µs of each PostgreSQL backend of the database `client` is connected to, but `client`'s
 * own (so a bench's own probing connection is left out). The server must run on this machine.
 */
export async function backendCpu(client: pg.Client): Promise<Map<number, number>> {
  const { rows } = await client.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
  );
  const cpu = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      cpu.set(pid, procCpuMicros(String(pid)));
    } catch {
      // exited meanwhile
    }
  }
  return cpu;
}

/** CPU µs the backends used between two `backendCpu` readings (backends started since count from 0). */
export function backendCpuUsed(start: Map<number, number>, end: Map<number, number>): number {
  let used = 0;
  for (const [pid, micros] of end) used += micros - (start.get(pid) ?? 0);
  return used;
}
