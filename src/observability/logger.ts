import pino, { type DestinationStream, type LevelWithSilent, type Logger } from 'pino';

/**
 * Fields that could hold an API key, censored wherever they appear in a log line. Nothing logs
 * them today (the request line has no headers); this keeps a future `log.debug({ headers })`
 * or a logged error carrying a request from writing a secret.
 */
export const REDACTED_PATHS = [
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'request.headers.authorization',
  'request.headers["x-api-key"]',
  'err.config.headers.authorization',
  'err.config.headers["x-api-key"]',
  'key',
  'apiKey',
  'bootstrapAdminKey',
  'config.bootstrapAdminKey',
];

/** The service's structured JSON logger (pino), with secrets redacted. */
export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
