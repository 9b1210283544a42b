import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { createApp } from '../app.ts';
import { systemClock } from '../clock.ts';
import { loadConfig } from '../config.ts';
import type { Database } from '../db/database.ts';

/**
 * The routes need no data to describe themselves, and starting even an in-memory PGlite takes
 * seconds (tens on a busy machine), so the app is built over a database that refuses every
 * statement. Should building the app ever read the database, generation fails loudly here.
 */
const noDatabase: Database = {
  kind: 'pglite',
  query: () => Promise.reject(new Error('the OpenAPI document is built without a database')),
  exec: () => Promise.reject(new Error('the OpenAPI document is built without a database')),
  transaction: () => Promise.reject(new Error('the OpenAPI document is built without a database')),
  close: async () => {},
};

/**
 * The service's OpenAPI document as its routes describe it right now, built in process with the
 * default configuration (never the caller's environment, so the document is the same on every
 * machine), without listening on a port.
 */
export async function buildOpenApiDocument(): Promise<Record<string, unknown>> {
  const defaults = loadConfig({});
  const config = {
    ...defaults,
    // A throwaway key: with none configured, a key file would be written under DATA_DIR.
    delivery: { ...defaults.delivery, encryptionKey: randomBytes(32) },
  };
  const app = await createApp({
    config,
    db: noDatabase,
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    migrations: [],
  });
  try {
    return app.server.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}
