import { execFile } from 'node:child_process';
import { chown, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.ts';

const run = promisify(execFile);

/** Debian's PostgreSQL 15 binaries (the `postgresql` package). */
const BIN = '/usr/lib/postgresql/15/bin';

/**
 * A PostgreSQL cluster of a test's own: its own data folder and port, so the test may stop,
 * crash and freeze it without touching anybody else's server. It runs as the `postgres` OS user
 * (PostgreSQL refuses to run as root).
 */
export interface PostgresCluster {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication). */
  url: string;
  /** Starts the server (again); resolves once it accepts connections. */
  start(): Promise<void>;
  /** `pg_ctl stop -m <mode>`: fast rolls back and disconnects, immediate crashes on purpose. */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  /** SIGSTOP (or SIGCONT) to the postmaster and all its processes: a server that hangs. */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** Stops the server for good and removes its data folder. */
  destroy(): Promise<void>;
}

const asPostgres = (command: string, args: string[]) =>
  run('runuser', ['-u', 'postgres', '--', join(BIN, command), ...args]);

/** The PIDs of the processes `parent` started. */
async function childrenOf(parent: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // Fields after the parenthesised command: state, then the parent's PID.
    if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent)
      children.push(Number(entry));
  }
  return children;
}

/** Sends `signal`; a process that ended meanwhile (a backend whose client left) is no error. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

export async function startPostgresCluster(): Promise<PostgresCluster> {
  const root = await mkdtemp(join(tmpdir(), 'eps-pgcluster-'));
  await chown(root, ...(await postgresIds()));
  const dataDir = join(root, 'data');
  const port = await freePort();
  await asPostgres('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync']);
  // fsync off: the machine does not crash in these tests, only the server does, and the WAL
  // written to the OS survives that; it spares a loaded test machine the disk flushes.
  const serverOptions = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off`;
  let frozen: number[] = [];
  const cluster: PostgresCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await asPostgres('pg_ctl', [
        'start',
        '-w',
        '-t',
        '60',
        '-D',
        dataDir,
        '-l',
        join(root, 'log'),
        '-o',
        serverOptions,
      ]);
    },
    async stop(mode) {
      await asPostgres('pg_ctl', ['stop', '-w', '-t', '60', '-m', mode, '-D', dataDir]);
    },
    async freeze() {
      // The postmaster first, so no new backend starts after the others are listed.
      const postmaster = Number(
        (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0],
      );
      signal(postmaster, 'SIGSTOP');
      frozen = [postmaster, ...(await childrenOf(postmaster))];
      for (const pid of frozen.slice(1)) signal(pid, 'SIGSTOP');
    },
    async thaw() {
      for (const pid of frozen.reverse()) signal(pid, 'SIGCONT');
      frozen = [];
    },
    async destroy() {
      if (frozen.length > 0) await cluster.thaw();
      await cluster.stop('immediate').catch(() => {});
      await rm(root, { recursive: true, force: true });
    },
  };
  await cluster.start();
  return cluster;
}

async function postgresIds(): Promise<[number, number]> {
  const { stdout } = await run('id', ['-u', 'postgres']);
  const { stdout: group } = await run('id', ['-g', 'postgres']);
  return [Number(stdout.trim()), Number(group.trim())];
}
