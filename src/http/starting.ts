import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

/** What a client is told to wait, in seconds, before asking again while the service starts. */
export const STARTING_RETRY_AFTER_SECONDS = 1;

/** The port answering while the service starts, handed over to the service once it is ready. */
export interface StartingListener {
  /** The port bound (the configured one; the one the system chose for PORT=0). */
  port: number;
  /** Stops accepting connections, so the service can listen on the same port at once. */
  close(): void;
}

const answer = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    // Retried by the client on a new connection, which then reaches the service once it listens.
    connection: 'close',
    ...(status === 503 ? { 'retry-after': String(STARTING_RETRY_AFTER_SECONDS) } : {}),
  });
  response.end(JSON.stringify(body));
};

const unavailable = (code: string, message: string) => ({ error: { code, message, details: [] } });

function answerWhileStarting(request: IncomingMessage, response: ServerResponse): void {
  const path = (request.url ?? '/').split('?')[0];
  if (path === '/healthz') answer(response, 200, { status: 'ok' });
  else if (path === '/readyz')
    answer(response, 503, unavailable('not_ready', 'the service is starting'));
  else answer(response, 503, unavailable('unavailable', 'the service is starting; retry shortly'));
}

/**
 * Listens on the service's port from the first moment of a start, before the modules are loaded
 * and the store is opened (seconds after a crash: see README "Restarts"), so that clients get an
 * answer in the envelope, 503 `unavailable` with `Retry-After` (`/readyz`: 503 `not_ready`;
 * `/healthz`: 200, the process is up), instead of a refused connection, as a load balancer in
 * front of a restarting instance would answer. Nothing is read or acknowledged here.
 *
 * Best effort: when the port cannot be bound (in use) the start goes on without it, so the
 * error the service gives (a data folder in use names its holder) stays the one it gave before.
 */
export function listenWhileStarting(
  port: number,
  host: string,
  logger: Pick<Logger, 'debug' | 'warn'>,
): Promise<StartingListener | undefined> {
  const server = createServer(answerWhileStarting);
  return new Promise((resolve) => {
    server.once('error', (error) => {
      logger.warn({ err: error }, 'could not listen while starting; listening once ready');
      resolve(undefined);
    });
    server.listen({ port, host }, () => {
      const bound = (server.address() as AddressInfo).port;
      // Debug only: a start that fails (a data folder in use) says so in one line.
      logger.debug({ port: bound }, 'starting: answering 503 until ready');
      resolve({
        port: bound,
        close() {
          // Stops listening at once; answers in progress end by themselves (connection: close).
          server.close();
          server.closeIdleConnections();
        },
      });
    });
  });
}
