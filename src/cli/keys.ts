import { systemClock } from '../clock.ts';
import { loadConfig } from '../config.ts';
import { DataDirInUse } from '../db/data-dir-lock.ts';
import { migrate, SchemaTooNewError } from '../db/migrate.ts';
import { openDatabase } from '../db/open.ts';
import { ConfigError } from '../errors.ts';
import { runKeysCommand } from './keys-command.ts';

/**
 * `eps keys …` (also `npm run keys -- …`): manages API keys in the configured database
 * (DATABASE_URL or DATA_DIR, read through the same configuration as the service), not through
 * the API — the first key of a deployment has no key to call the API with. With PGlite, run it
 * while the service is stopped: an embedded data folder has one user at a time.
 */
export async function runKeys(
  argv: string[],
  io: { out: (text: string) => void; err: (text: string) => void },
): Promise<number> {
  try {
    const config = loadConfig();
    const db = await openDatabase(config);
    try {
      // A fresh database gets its tables; a newer one is refused like the service refuses it.
      await migrate(db);
      return await runKeysCommand(argv, { db, clock: systemClock, ...io });
    } finally {
      await db.close();
    }
  } catch (error) {
    const known =
      error instanceof ConfigError ||
      error instanceof SchemaTooNewError ||
      error instanceof DataDirInUse;
    if (!known) throw error;
    io.err(`keys: ${error.message}`);
    return 1;
  }
}
