import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * One process per embedded data folder. PGlite is PostgreSQL inside this process: a second
 * process on the same folder would see only its own writes and overwrite the first one's, so
 * the folder holds `service.lock` with the PID of its user, created atomically (link(2) fails
 * when it exists). A lock whose process is gone (a crash, SIGKILL) is taken over. The PID is
 * checked on this machine only: a folder on a network share used from two hosts is not protected.
 */
export const LOCK_FILE_NAME = 'service.lock';

/** Another live process uses the folder. The message is one line for the terminal. */
export class DataDirInUse extends Error {
  override name = 'DataDirInUse';
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `the data folder ${dataDir} is in use by process ${pid} (${join(dataDir, LOCK_FILE_NAME)}); ` +
        'stop that process first, or set DATABASE_URL to share a PostgreSQL server between processes',
    );
  }
}

export interface DataDirLock {
  /** Removes the lock file if it is still this process's. */
  release(): Promise<void>;
}

/** A take-over left behind by a process that died in the middle of it is stale after this. */
const TAKEOVER_STALE_MS = 10_000;

function isAlive(pid: number): boolean {
  if (pid === process.pid) return false; // our own PID in the file: left by an earlier life (containers reuse PIDs)
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The holder's PID, or undefined when the file is gone or holds no PID (damaged). */
async function holderOf(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return /^\d+\n?$/.test(text) ? Number(text) : undefined;
}

/**
 * Creates `path` holding our PID, or returns false when it exists. Written aside and linked into
 * place, so nobody ever reads a lock without its PID.
 */
async function create(path: string): Promise<boolean> {
  const pending = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(pending, `${process.pid}\n`, { flag: 'wx' });
  try {
    await link(pending, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(pending);
  }
}

/**
 * Removes a lock whose holder is dead. Take-overs are serialised by a second exclusive file, so
 * two processes finding the same stale lock never remove each other's fresh one.
 */
async function removeStale(path: string, stalePid: number | undefined): Promise<void> {
  const guard = `${path}.takeover`;
  const guardAge = await stat(guard).then(
    (s) => Date.now() - s.mtimeMs,
    () => undefined,
  );
  if (guardAge !== undefined && guardAge > TAKEOVER_STALE_MS) await unlink(guard).catch(() => {});
  if (!(await create(guard))) return; // another process is taking over: look again
  try {
    if ((await holderOf(path)) === stalePid) await unlink(path).catch(() => {});
  } finally {
    await unlink(guard).catch(() => {});
  }
}

/** Takes the folder for this process, or throws {@link DataDirInUse}. */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE_NAME);
  for (let attempt = 0; ; attempt++) {
    if (await create(path)) break;
    const holder = await holderOf(path);
    if (holder !== undefined && isAlive(holder)) throw new DataDirInUse(dataDir, holder);
    if (attempt >= 20) throw new Error(`could not take the lock ${path}`);
    await removeStale(path, holder);
  }
  const ours = async () => (await holderOf(path)) === process.pid;
  // A process that ends without closing the database (an uncaught error) still frees the folder.
  const onExit = () => {
    try {
      if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
    } catch {}
  };
  process.once('exit', onExit);
  return {
    async release() {
      process.off('exit', onExit);
      if (await ours()) await unlink(path).catch(() => {});
    },
  };
}
