import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { useTestStream } from '../testing/nats.ts';
import { createNatsPublisher, type NatsPublisher } from './nats.ts';

describe('createNatsPublisher, against the local NATS JetStream', () => {
  const target = useTestStream('test', 'bookings');
  let publisher: NatsPublisher;

  beforeAll(async () => {
    publisher = await createNatsPublisher(loadConfig().delivery.natsUrl);
  });
  afterAll(() => publisher?.close());

  it('stores a message once when it is published twice with the same id', async () => {
    const body = JSON.stringify({ eventId: 'e1', pattern: 'bookings.created' });
    const first = await publisher.publish(target.subject, body, 'dlv_1', {
      traceparent: '00-abc-def-01',
    });
    const again = await publisher.publish(target.subject, body, 'dlv_1');
    const other = await publisher.publish(
      target.subject,
      new TextEncoder().encode('{"n":2}'),
      'dlv_2',
    );

    expect(first).toEqual({ seq: 1, duplicate: false });
    expect(again).toEqual({ seq: 1, duplicate: true });
    expect(other).toEqual({ seq: 2, duplicate: false });
    expect((await target.jsm.streams.info(target.stream)).state.messages).toBe(2);

    const consumer = await jetstream(target.admin).consumers.get(target.stream);
    const received: { seq: number; body: string; msgId?: string; traceparent?: string }[] = [];
    for await (const message of await consumer.fetch({ max_messages: 2, expires: 2000 })) {
      received.push({
        seq: message.seq,
        body: message.string(),
        msgId: message.headers?.get('Nats-Msg-Id'),
        traceparent: message.headers?.get('traceparent') || undefined,
      });
    }
    expect(received).toEqual([
      { seq: 1, body, msgId: 'dlv_1', traceparent: '00-abc-def-01' },
      { seq: 2, body: '{"n":2}', msgId: 'dlv_2', traceparent: undefined },
    ]);
  });

  it('fails, saying why, when no stream stores the subject', async () => {
    await expect(publisher.publish(`eps-test-unbound.${target.id}`, '{}', 'dlv_x')).rejects.toThrow(
      `NATS publish to "eps-test-unbound.${target.id}" failed: no JetStream stream`,
    );
  });

  it('fails to start when the server cannot be reached', async () => {
    await expect(
      createNatsPublisher('nats://127.0.0.1:1', { connectTimeoutMs: 1000 }),
    ).rejects.toThrow();
  });
});
