import { jetstream } from '@nats-io/jetstream';
import { type CloudEvent, HTTP } from 'cloudevents';
import { beforeEach, describe, expect, it } from 'vitest';
import { useAppWithReceiver } from '../testing/app-and-receiver.ts';
import { testBackends } from '../testing/backends.ts';
import { bookingDefinition, bookingEvent } from '../testing/fixtures.ts';
import { useTestStream } from '../testing/nats.ts';
import { dataschemaOf } from './format.ts';

/**
 * Subscribers asking for CloudEvents: every format's request is read back by the official
 * SDK's HTTP parser (`HTTP.toEvent`), which must find the event that was published. See
 * ingest.test.ts for why the SDK is safe to feed.
 */
describe.each(testBackends())('CloudEvents out, on $name', (backend) => {
  const queue = useTestStream('cloudevents', 'bookings');
  const t = useAppWithReceiver(backend, { definitionCacheTtlMs: 0 });
  beforeEach(async () => {
    await t.request('POST', '/v1/event-definitions', { payload: bookingDefinition() });
  });

  const subscribe = async (format: string | undefined, subscriber: Record<string, unknown>) => {
    const response = await t.request('POST', '/v1/subscriptions', {
      payload: { event_pattern: 'bookings.*', ...(format ? { format } : {}), subscriber },
    });
    expect(response.status).toBe(201);
    return response.body;
  };
  const publish = async () => {
    const response = await t.request('POST', '/v1/events', {
      payload: bookingEvent({
        eventId: 'bk-event-1',
        timestamp: '2026-11-27T10:00:00Z',
        metadata: { correlationId: 'order-7', causationId: 'cause-1', userId: 'u-1' },
      }),
    });
    expect(response.status).toBe(202);
    while ((await t.app.workers.runOnce()) > 0) {}
  };
  const expectTheBooking = (event: CloudEvent) => {
    expect(event.specversion).toBe('1.0');
    expect(event.id).toBe('bk-event-1');
    expect(event.type).toBe('bookings.created');
    expect(event.source).toBe('/workflow/wf-42');
    expect(event.time).toBe('2026-11-27T10:00:00.000Z');
    expect(event.dataschema).toBe(dataschemaOf('bookings.created', '1.0.0'));
    expect(event.data).toEqual(bookingEvent().payload);
    expect(event.correlationid).toBe('order-7');
    expect(event.causationid).toBe('cause-1');
    expect(event.userid).toBe('u-1');
    // Header values are percent-encoded as the HTTP binding (1.0.2) asks; the SDK (10.0) does
    // not decode them, so a value with a space arrives encoded from the binary mode.
    expect(decodeURIComponent(String(event.sourcename))).toBe('Booking flow');
  };

  it('delivers native, structured and binary webhooks, each signed, each read by the SDK', async () => {
    const [native, structured, binary] = await Promise.all(
      [undefined, 'cloudevents-structured', 'cloudevents-binary'].map((format) =>
        subscribe(format, {
          id: format ?? 'native',
          type: 'webhook',
          endpoint: `${t.receiver.url}/${format ?? 'native'}`,
        }),
      ),
    );
    expect(native.format).toBe('native');
    expect(structured.format).toBe('cloudevents-structured');
    await publish();
    expect(t.receiver.received).toHaveLength(3);
    // Told apart by what each format sends: the media type, the ce- headers.
    const modeOf = (r: (typeof t.receiver.received)[number]) =>
      r.headers['content-type'] === 'application/cloudevents+json'
        ? 'structured'
        : r.headers['ce-id']
          ? 'binary'
          : 'native';
    const byPath = (mode: string) => t.receiver.received.find((r) => modeOf(r) === mode);
    const nativeRequest = byPath('native')!;
    expect(nativeRequest.headers['content-type']).toBe('application/json');
    expect(JSON.parse(nativeRequest.body).eventId).toBe('bk-event-1');
    for (const mode of ['structured', 'binary']) {
      const request = byPath(mode)!;
      expect(request.headers['webhook-signature'], mode).toMatch(/^v1,/);
      expectTheBooking(
        HTTP.toEvent({
          headers: request.headers as Record<string, string>,
          body: request.body,
        }) as CloudEvent,
      );
    }
    expect(byPath('binary')!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(byPath('binary')!.body)).toEqual(bookingEvent().payload);
    // A PATCH that does not name the format keeps it.
    const patched = await t.request('PATCH', `/v1/subscriptions/${binary.subscription_id}`, {
      headers: { 'if-match': '*' },
      payload: { description: 'binary' },
    });
    expect(patched.body.format).toBe('cloudevents-binary');
  });

  it('publishes the CloudEvents NATS binding to queue subscribers', async () => {
    for (const format of ['cloudevents-structured', 'cloudevents-binary'])
      await subscribe(format, { id: format, type: 'queue', endpoint: queue.subject });
    await publish();
    const consumer = await jetstream(queue.admin).consumers.get(queue.stream);
    const messages = [];
    for await (const message of await consumer.fetch({ max_messages: 2, expires: 2000 }))
      messages.push(message);
    expect(messages).toHaveLength(2);
    for (const message of messages) {
      // NATS headers carry the HTTP binding's names (ce- attributes, content-type).
      const headers: Record<string, string> = {};
      for (const name of message.headers?.keys() ?? []) {
        headers[name.toLowerCase()] = message.headers!.get(name);
      }
      expectTheBooking(HTTP.toEvent({ headers, body: message.string() }) as CloudEvent);
    }
  });
});
