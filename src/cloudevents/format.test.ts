import { CloudEvent, HTTP } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import type { EventInstance } from '../events/event.ts';
import {
  binaryMessage,
  cloudEventField,
  cloudEventToInput,
  dataschemaOf,
  encodeHeaderValue,
  instanceToCloudEvent,
  sourceFromUri,
  sourceUri,
} from './format.ts';

const instance: EventInstance = {
  eventId: 'ev-1',
  pattern: 'bookings.created',
  version: '1.2.0',
  source: { type: 'workflow', id: 'wf/42 a', name: 'Booking flow' },
  timestamp: '2026-11-27T10:00:00.000Z',
  payload: { bookingId: 'bk_1' },
  metadata: {
    correlationId: 'order-7',
    causationId: 'cause-1',
    userId: 'u-1',
    subject: 'bk_1',
    tags: { region: 'eu' },
    extensions: { tenant: 'acme', priority: 2 },
  },
};

describe('CloudEvents mapping', () => {
  it('maps sources both ways, with slashes and odd characters in the id', () => {
    expect(sourceFromUri('/workflow/wf-42')).toEqual({ type: 'workflow', id: 'wf-42' });
    expect(sourceFromUri('/integration/a/b/c')).toEqual({ type: 'integration', id: 'a/b/c' });
    expect(sourceFromUri('https://shop.example/orders')).toEqual({
      type: 'uri',
      id: 'https://shop.example/orders',
    });
    expect(sourceFromUri('/')).toBeUndefined();
    const source = { type: 'work flow', id: 'wf/42%' };
    expect(sourceFromUri(sourceUri(source))).toEqual(source);
    expect(sourceUri(undefined)).toBe('/');
  });

  it('turns a stored event into a CloudEvent the SDK accepts, and back into the same input', () => {
    const event = instanceToCloudEvent(
      instance,
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    );
    expect(event).toEqual({
      specversion: '1.0',
      id: 'ev-1',
      source: '/workflow/wf%2F42%20a',
      type: 'bookings.created',
      time: '2026-11-27T10:00:00.000Z',
      datacontenttype: 'application/json',
      dataschema: dataschemaOf('bookings.created', '1.2.0'),
      subject: 'bk_1',
      correlationid: 'order-7',
      causationid: 'cause-1',
      userid: 'u-1',
      sourcename: 'Booking flow',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tenant: 'acme',
      priority: 2,
      data: { bookingId: 'bk_1' },
    });
    // The SDK validates it strictly (its own compiled schema) without complaint.
    expect(() => new CloudEvent(event as never, true)).not.toThrow();
    expect(cloudEventToInput(event)).toEqual({
      eventId: 'ev-1',
      pattern: 'bookings.created',
      version: '1.2.0',
      source: instance.source,
      timestamp: instance.timestamp,
      payload: instance.payload,
      metadata: {
        correlationId: 'order-7',
        causationId: 'cause-1',
        userId: 'u-1',
        traceId: '0af7651916cd43dd8448eb211c80319c',
        subject: 'bk_1',
        extensions: { tenant: 'acme', priority: 2 },
      },
    });
  });

  it('writes binary mode the SDK’s HTTP parser reads back', () => {
    const message = binaryMessage(instanceToCloudEvent(instance));
    expect(message.headers['content-type']).toBe('application/json');
    const parsed = HTTP.toEvent({ headers: message.headers, body: message.body }) as CloudEvent;
    expect(parsed.id).toBe('ev-1');
    expect(parsed.type).toBe('bookings.created');
    expect(parsed.data).toEqual({ bookingId: 'bk_1' });
    expect(parsed.correlationid).toBe('order-7');
  });

  it('percent-encodes header values as the HTTP binding asks', () => {
    expect(encodeHeaderValue('plain-value')).toBe('plain-value');
    expect(encodeHeaderValue('a b"c%')).toBe('a%20b%22c%25');
    expect(encodeHeaderValue('é')).toBe('%C3%A9');
  });

  it('names native fields as a CloudEvents publisher knows them', () => {
    expect(cloudEventField('payload.items[0].id')).toBe('data.items[0].id');
    expect(cloudEventField('payload')).toBe('data');
    expect(cloudEventField('eventId')).toBe('id');
    expect(cloudEventField('source.type')).toBe('source');
    expect(cloudEventField('metadata.correlationId')).toBe('correlationid');
    expect(cloudEventField('metadata.extensions.tenant')).toBe('tenant');
    expect(cloudEventField('metadata.tags')).toBe('metadata.tags');
  });
});
