import { randomUUID } from 'node:crypto';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig } from '../config.ts';

/** A JetStream stream of a test file's own on the machine's NATS server (NATS_URL). */
export interface TestStream {
  /** Unique per test file; also part of the stream and subject names. */
  id: string;
  stream: string;
  /** The one subject the stream stores. */
  subject: string;
  admin: NatsConnection;
  jsm: JetStreamManager;
}

/**
 * Registers beforeAll/afterAll hooks that create the stream (subject `eps-<name>.<id>.<leaf>`)
 * and delete it, with an admin connection; read the fields inside tests.
 */
export function useTestStream(name: string, leaf: string): TestStream {
  const id = randomUUID().replaceAll('-', '');
  const fixture = {
    id,
    stream: `eps_${name}_${id}`,
    subject: `eps-${name}.${id}.${leaf}`,
  } as TestStream;
  beforeAll(async () => {
    fixture.admin = await connect({ servers: loadConfig().delivery.natsUrl });
    fixture.jsm = await jetstreamManager(fixture.admin);
    await fixture.jsm.streams.add({ name: fixture.stream, subjects: [fixture.subject] });
  });
  afterAll(async () => {
    await fixture.jsm?.streams.delete(fixture.stream).catch(() => undefined);
    await fixture.admin?.close();
  });
  return fixture;
}
