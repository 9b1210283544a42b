import { systemClock } from '../clock.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { DataDirInUse } from '../db/data-dir-lock.ts';
import { migrate, SchemaTooNewError } from '../db/migrate.ts';
import { openDatabase } from '../db/open.ts';
import { runKeysCommand } from './keys-command.ts';

/**
 * `npm run keys -- …`: manages API keys in the configured database (DATABASE_URL or DATA_DIR,
 * read through the same configuration as the service). With PGlite, run it while the service
 * is stopped: an embedded data folder has one user at a time.
 */
async function main(): Promise<number> {
  const config = loadConfig();
  const db = await openDatabase(config);
  try {
    // A fresh database gets its tables; a newer one is refused like the service refuses it.
    await migrate(db);
    return await runKeysCommand(process.argv.slice(2), {
      db,
      clock: systemClock,
      out: (text) => process.stdout.write(`${text}\n`),
      err: (text) => process.stderr.write(`${text}\n`),
    });
  } finally {
    await db.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const known =
      error instanceof ConfigError ||
      error instanceof SchemaTooNewError ||
      error instanceof DataDirInUse;
    process.stderr.write(
      `keys: ${known ? (error as Error).message : ((error as Error).stack ?? String(error))}\n`,
    );
    process.exit(1);
  },
);
