import { createApp } from './app.ts';
import { systemClock } from './clock.ts';
import { loadConfig } from './config.ts';
import { DataDirInUse } from './db/data-dir-lock.ts';
import { loadMigrations, migrate, SchemaTooNewError } from './db/migrate.ts';
import { openDatabase } from './db/open.ts';
import { ConfigError } from './errors.ts';
import { createLogger } from './observability/logger.ts';
import { StartupTimeline } from './observability/startup.ts';

/** Starts the service: config, database, migrations, HTTP; stops cleanly on SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const timeline = new StartupTimeline();
  timeline.mark('node');
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const db = await openDatabase(config, logger, timeline);
  timeline.mark('store');
  const migrations = await loadMigrations();
  try {
    const applied = await migrate(db, migrations);
    logger.info({ backend: db.kind, applied }, 'database ready');
  } catch (error) {
    await db.close();
    throw error;
  }
  timeline.mark('migrations');
  const app = await createApp({ config, db, clock: systemClock, logger, migrations });
  timeline.mark('app');
  await app.start();
  timeline.mark('background');
  await app.server.listen({ port: config.port, host: config.host });
  timeline.mark('listen');
  logger.info({ backend: db.kind, ...timeline.summary() }, 'started');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    // Fastify stops accepting, waits for in-flight requests, then we close the database so
    // PGlite flushes its data folder and every committed write survives the restart.
    await app.close();
    await db.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  if (
    error instanceof ConfigError ||
    error instanceof SchemaTooNewError ||
    error instanceof DataDirInUse
  ) {
    process.stderr.write(`event-processing-service: ${error.message}\n`);
  } else {
    process.stderr.write(
      `event-processing-service failed to start: ${(error as Error).stack ?? String(error)}\n`,
    );
  }
  process.exit(1);
});
