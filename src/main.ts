import { systemClock } from './clock.ts';
import { loadConfig } from './config.ts';
import { DataDirInUse } from './db/data-dir-lock.ts';
import { loadMigrations, migrate, SchemaTooNewError } from './db/migrate.ts';
import { ConfigError } from './errors.ts';
import { compileRouteSchemasOrStop } from './http/compile-routes.ts';
import { listenWhileStarting } from './http/starting.ts';
import { createLogger } from './observability/logger.ts';
import { StartupTimeline } from './observability/startup.ts';

/**
 * Starts the service: config, a listener answering 503 while starting, database, migrations,
 * HTTP; stops cleanly on SIGINT/SIGTERM. The service's modules are imported once the listener
 * answers: loading them is the longest part of a start (see README "Restarts").
 */
async function main(): Promise<void> {
  const timeline = new StartupTimeline();
  timeline.mark('node');
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const starting = await listenWhileStarting(config.port, config.host, logger);
  timeline.mark('starting listener');
  const [{ openDatabase }, { createApp }] = await Promise.all([
    import('./db/open.ts'),
    import('./app.ts'),
  ]);
  timeline.mark('modules');
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
  // The same port the starting listener bound (PORT=0: the one chosen for it), at once after it.
  starting?.close();
  await app.server.listen({ port: starting?.port ?? config.port, host: config.host });
  timeline.mark('listen');
  logger.info({ backend: db.kind, ...timeline.summary() }, 'started');

  let stopping = false;
  const stop = async (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    // Fastify stops accepting, waits for in-flight requests, then we close the database so
    // PGlite flushes its data folder and every committed write survives the restart.
    await app.close();
    await db.close();
    logger.info('stopped');
    process.exit(exitCode);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  compileRouteSchemasOrStop(app, logger, () => stop('route schema does not compile', 1));
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
