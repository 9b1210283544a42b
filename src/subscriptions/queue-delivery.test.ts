import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { useTestStream } from '../testing/nats.ts';

// A queue subscriber on the NATS JetStream server of this machine.
describe.each(testBackends())('queue subscribers (NATS JetStream) on $name', (backend) => {
  const target = useTestStream('queue', 'orders');
  const { subject, stream } = target;
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(backend, { definitionCacheTtlMs: 0 });
  });
  afterAll(() => t.close());

  it('publishes each event once, deduplicated by delivery id', async () => {
    await t.request('POST', '/v1/event-definitions', { payload: openDefinition('orders.created') });
    const created = await t.request('POST', '/v1/subscriptions', {
      payload: {
        event_pattern: 'orders.created',
        subscriber: { id: 'warehouse', type: 'queue', endpoint: subject },
      },
    });
    expect(created.status).toBe(201);
    const eventIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await t.request('POST', '/v1/events', {
        payload: { pattern: 'orders.created', payload: { n: i } },
      });
      eventIds.push(response.body.eventId);
    }
    // A delivery made twice (a worker died after publishing, before recording) is one message:
    // one work row, put back as it was once its delivery is done, publishes again.
    const [redelivered] = (
      await t.db.query<Record<string, unknown>>(
        `SELECT * FROM routing_work WHERE kind = 'delivery' LIMIT 1`,
      )
    ).rows;
    while ((await t.app.workers.runOnce()) > 0) {}
    await t.db.query(
      'INSERT INTO routing_work SELECT * FROM json_populate_record(NULL::routing_work, $1::json)',
      [JSON.stringify(redelivered)],
    );
    while ((await t.app.workers.runOnce()) > 0) {}

    expect((await target.jsm.streams.info(stream)).state.messages).toBe(3);
    const consumer = await jetstream(target.admin).consumers.get(stream);
    const received: string[] = [];
    for await (const message of await consumer.fetch({ max_messages: 3, expires: 2000 })) {
      received.push((message.json() as { eventId: string }).eventId);
      expect(message.headers?.get('Nats-Msg-Id')).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(received.sort()).toEqual([...eventIds].sort());
  });
});
