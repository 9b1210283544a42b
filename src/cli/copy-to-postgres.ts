import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { copyDatabase, TargetNotEmpty } from '../db/copy-to-postgres.ts';
import { DataDirInUse } from '../db/data-dir-lock.ts';
import { migrate, SchemaTooNewError } from '../db/migrate.ts';
import { openPglite } from '../db/pglite.ts';
import { openPostgres } from '../db/postgres.ts';
import { resolveEncryptionKey } from '../delivery/credentials.ts';
import { ConfigError } from '../errors.ts';

const USAGE =
  'usage: npm run copy-to-postgres -- --from <PGlite data folder> --to <postgres://… of an empty database>';

/**
 * `npm run copy-to-postgres -- --from ./data --to $DATABASE_URL`: moves an embedded data folder
 * to a PostgreSQL server (see README, "Scaling out"). Run it while the service is stopped (the
 * folder's lock refuses otherwise). Prints, as JSON, the rows copied per table and the key that
 * sealed the folder's secrets: every instance on the server needs it as DELIVERY_ENCRYPTION_KEY.
 */
async function main(): Promise<number> {
  let values: { from?: string; to?: string };
  try {
    ({ values } = parseArgs({
      options: { from: { type: 'string' }, to: { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!values.from || !values.to) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = loadConfig({ ...process.env, DATABASE_URL: values.to });
  // The key the folder's service sealed secrets with: DELIVERY_ENCRYPTION_KEY if it was set,
  // else the folder's key file.
  const key = await resolveEncryptionKey({
    configuredKey: config.delivery.encryptionKey,
    databaseUrl: undefined,
    dataDir: values.from,
  });
  const source = await openPglite({ dataDir: values.from });
  try {
    // Copying takes long on a big folder: no statement timeout.
    const target = await openPostgres({ connectionString: values.to, statementTimeoutMs: 0 });
    try {
      await migrate(source);
      await migrate(target);
      const copied = await copyDatabase(source, target);
      process.stdout.write(
        `${JSON.stringify({ copied, deliveryEncryptionKey: key.toString('base64') }, null, 2)}\n`,
      );
      process.stderr.write(
        'copied; start every instance with DATABASE_URL set to the target and DELIVERY_ENCRYPTION_KEY set to deliveryEncryptionKey above\n',
      );
      return 0;
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const known = [ConfigError, SchemaTooNewError, DataDirInUse, TargetNotEmpty].some(
      (type) => error instanceof type,
    );
    process.stderr.write(
      `copy-to-postgres: ${known ? (error as Error).message : ((error as Error).stack ?? String(error))}\n`,
    );
    process.exit(1);
  },
);
