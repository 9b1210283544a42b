import { jetstream } from '@nats-io/jetstream';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';

/**
 * Delivery to queue subscribers: publish to NATS JetStream, where the subscription's endpoint
 * is the subject. Each message carries `Nats-Msg-Id` = the delivery id, so a retry after a lost
 * acknowledgement is stored once (JetStream drops a repeated id within the stream's duplicate
 * window, 2 minutes by default, and acknowledges it as a duplicate).
 */

export interface NatsPublishResult {
  /** The message's sequence number in the stream (the original one's, for a duplicate). */
  seq: number;
  /** True when the stream already had a message with this id: nothing new was stored. */
  duplicate: boolean;
}

export interface NatsPublisher {
  /**
   * Publishes and waits for the stream's acknowledgement. Rejects when no stream stores the
   * subject, when the server does not acknowledge in time, or when the connection is down;
   * each is a failed attempt, to be retried like a webhook failure.
   */
  publish(
    subject: string,
    body: string | Uint8Array,
    msgId: string,
    headers?: Readonly<Record<string, string>>,
  ): Promise<NatsPublishResult>;
  /** Waits for messages in flight, then closes the connection. */
  close(): Promise<void>;
}

export interface NatsPublisherOptions {
  /** How long to wait for a stream's acknowledgement, in ms. Default 5000. */
  ackTimeoutMs?: number;
  /** How long to wait for the first connection, in ms. Default 5000. */
  connectTimeoutMs?: number;
}

/**
 * Connects to `serverUrl` (`NATS_URL`). The client reconnects by itself after a lost
 * connection; a publish that gets no acknowledgement within `ackTimeoutMs` meanwhile fails, and
 * the delivery's retry policy decides when to try again.
 */
export async function createNatsPublisher(
  serverUrl: string,
  { ackTimeoutMs = 5000, connectTimeoutMs = 5000 }: NatsPublisherOptions = {},
): Promise<NatsPublisher> {
  const connection = await connect({
    servers: serverUrl,
    name: 'event-processing-service',
    timeout: connectTimeoutMs,
  });
  const js = jetstream(connection, { timeout: ackTimeoutMs });

  return {
    async publish(subject, body, msgId, headers = {}) {
      const extra = natsHeaders();
      for (const [name, value] of Object.entries(headers)) extra.set(name, value);
      try {
        const ack = await js.publish(subject, body, { msgID: msgId, headers: extra });
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (error) {
        // The client reports "no stream listens" as JetStream not being enabled: say what it means here.
        const reason =
          (error as Error).name === 'JetStreamNotEnabled'
            ? 'no JetStream stream stores this subject (or JetStream is off)'
            : (error as Error).message;
        throw new Error(`NATS publish to "${subject}" failed: ${reason}`, { cause: error });
      }
    },
    async close() {
      await connection.drain();
    },
  };
}
