import pg from 'pg';

/** Options of {@link listen}. */
export interface ListenOptions {
  connectionString: string;
  /** A channel name of the service's code (identifier characters only). */
  channel: string;
  /**
   * Called on every notification with its payload, and once after each (re)connection without
   * one: notifications sent while the connection was down are lost, so a listener treats a
   * reconnection as one it cannot attribute.
   */
  onNotify(payload?: string): void;
  /** Told every failure of the connection (it reconnects by itself). */
  onError(error: unknown): void;
  /** How long a connection attempt may take, in ms. Default 5,000. */
  connectTimeoutMs?: number;
  /** First wait before reconnecting, in ms; doubled per failed attempt. Default 100. */
  retryMinMs?: number;
  /** Longest wait between reconnection attempts, in ms. Default 5,000. */
  retryMaxMs?: number;
}

/** A running {@link listen}. */
export interface Listening {
  /** Stops listening and closes the connection. */
  close(): Promise<void>;
}

/**
 * LISTENs on a dedicated PostgreSQL connection (a pooled one would be handed to other queries
 * and lose its LISTEN). The connection reconnects by itself after any failure — the server
 * restarting, the connection being terminated — with a growing pause; no failure escapes as
 * an exception, so the process never crashes because of it.
 */
export function listen(options: ListenOptions): Listening {
  const minMs = options.retryMinMs ?? 100;
  const maxMs = options.retryMaxMs ?? 5_000;
  if (!/^[a-z_][a-z0-9_]*$/.test(options.channel))
    throw new Error(`not a channel name: ${options.channel}`);
  let closed = false;
  let client: pg.Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let delayMs = minMs;

  const scheduleReconnect = () => {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, delayMs);
    delayMs = Math.min(maxMs, delayMs * 2);
  };

  const fail = (failed: pg.Client, error: unknown) => {
    // A client fails once; its later 'error' and 'end' events change nothing.
    if (client !== failed) return;
    client = undefined;
    failed.removeAllListeners('notification');
    failed.end().catch(() => {});
    if (closed) return;
    options.onError(error);
    scheduleReconnect();
  };

  const connect = async () => {
    const next = new pg.Client({
      connectionString: options.connectionString,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      // A connection cut without a word (a host gone, a firewall) ends instead of idling forever.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    client = next;
    next.on('error', (error) => fail(next, error));
    next.on('end', () => fail(next, new Error('the listening connection ended')));
    next.on('notification', (message) => options.onNotify(message.payload));
    try {
      await next.connect();
      await next.query(`LISTEN ${options.channel}`);
    } catch (error) {
      fail(next, error);
      return;
    }
    if (closed) {
      await next.end().catch(() => {});
      return;
    }
    delayMs = minMs;
    options.onNotify();
  };

  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      const open = client;
      client = undefined;
      await open?.end().catch(() => {});
    },
  };
}
