import { CloudEvent, HTTP } from 'cloudevents';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { bookingDefinition } from '../testing/fixtures.ts';
import { CLOUDEVENTS_BATCH_JSON, CLOUDEVENTS_JSON, dataschemaOf } from './format.ts';

/**
 * Publishing CloudEvents: the official SDK's HTTP messages in every mode, and our own cases.
 * The SDK is a test dependency only. It is safe to feed: its validation is ajv *standalone*
 * code generated when the SDK is built from its own CloudEvents JSON schema
 * (`cloudevents/dist/schema/v1.js`, requiring only ajv-formats' format checks), so nothing it
 * is given is compiled, and it contains no eval or new Function.
 */
describe.each(testBackends())('CloudEvents in, on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend, { definitionCacheTtlMs: 0 });
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    await t.reset();
    expect(
      (await t.request('POST', '/v1/event-definitions', { payload: bookingDefinition() })).status,
    ).toBe(201);
  });

  const payload = { bookingId: 'bk_1', customerId: 'cu_1', amount: 120, status: 'confirmed' };
  const sdkEvent = (overrides: Record<string, unknown> = {}) =>
    new CloudEvent({
      id: 'ce-1',
      source: '/workflow/wf-42',
      type: 'bookings.created',
      time: '2026-11-27T10:00:00.000Z',
      correlationid: 'order-7',
      causationid: 'cause-1',
      region: 'eu',
      data: payload,
      ...overrides,
    });
  const send = (message: { headers: Record<string, unknown>; body: unknown }, url = '/v1/events') =>
    t.request('POST', url, {
      headers: message.headers as Record<string, string>,
      payload: message.body,
    });
  const stored = async (eventId: string) => (await t.request('GET', `/v1/events/${eventId}`)).body;

  const expectedEvent = {
    id: 'ce-1',
    eventId: 'ce-1',
    pattern: 'bookings.created',
    version: '1.0.0',
    source: { type: 'workflow', id: 'wf-42' },
    timestamp: '2026-11-27T10:00:00.000Z',
    payload,
    metadata: {
      correlationId: 'order-7',
      causationId: 'cause-1',
      extensions: { region: 'eu' },
      // The trace of the span that received it (the SDK's event carries no traceparent).
      traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
      tags: {},
    },
  };

  it('accepts the SDK’s structured mode and maps the attributes onto the event', async () => {
    const response = await send(HTTP.structured(sdkEvent()));
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ eventId: 'ce-1', status: 'accepted' });
    expect(await stored('ce-1')).toEqual(expectedEvent);
  });

  it('accepts the SDK’s binary mode, ce- headers and the data as the body', async () => {
    const message = HTTP.binary(sdkEvent());
    expect(message.headers['ce-id']).toBe('ce-1');
    const response = await send(message);
    expect(response.status).toBe(202);
    expect(await stored('ce-1')).toEqual(expectedEvent);
  });

  it('accepts a batch on both endpoints and answers like the batch endpoint', async () => {
    const batch = (ids: string[]) => ({
      headers: { 'content-type': CLOUDEVENTS_BATCH_JSON },
      body: JSON.stringify(ids.map((id) => sdkEvent({ id }))),
    });
    for (const [url, ids] of [
      ['/v1/events', ['b-1', 'b-2']],
      ['/v1/events/batch', ['b-3', 'b-4']],
    ] as const) {
      const response = await send(batch([...ids]), url);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        accepted: 2,
        duplicates: 0,
        rejected: 0,
        results: ids.map((eventId, index) => ({ index, eventId, status: 'accepted' })),
      });
    }
    // One bad event is refused on its own, named by its id and its CloudEvents field.
    const mixed = await send(
      {
        headers: { 'content-type': CLOUDEVENTS_BATCH_JSON },
        body: JSON.stringify([
          sdkEvent({ id: 'b-5' }),
          { ...JSON.parse(sdkEvent({ id: 'b-6' }).toString()), data: { bookingId: 'x' } },
        ]),
      },
      '/v1/events/batch',
    );
    expect(mixed.body).toMatchObject({ accepted: 1, rejected: 1 });
    expect(mixed.body.results[1]).toMatchObject({ index: 1, eventId: 'b-6', status: 'rejected' });
    expect(mixed.body.results[1].error.details).toContainEqual(
      expect.objectContaining({ field: 'data.customerId', code: 'required' }),
    );
  });

  it('validates exactly as a native event, naming the fields as CloudEvents name them', async () => {
    const invalid = await send(HTTP.structured(sdkEvent({ data: { bookingId: 1 } })));
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('validation_error');
    expect(invalid.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
      'data.bookingId',
      'data.customerId',
    ]);
    const unknown = await send(HTTP.binary(sdkEvent({ type: 'nobody.registered' })));
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details[0].field).toBe('type');
    const wrongSource = await send(HTTP.structured(sdkEvent({ source: 'https://shop.example' })));
    expect(wrongSource.status).toBe(400);
    expect(wrongSource.body.error.details).toContainEqual(
      expect.objectContaining({ field: 'source', code: 'enum' }),
    );
  });

  it('checks specversion, dataschema and datacontenttype', async () => {
    const structured = (event: Record<string, unknown>) =>
      send({ headers: { 'content-type': CLOUDEVENTS_JSON }, body: JSON.stringify(event) });
    const base = JSON.parse(sdkEvent().toString());
    const refusals = [
      [{ ...base, specversion: '0.3' }, 'specversion'],
      [{ ...base, dataschema: 'https://schemas.example/booking.json' }, 'dataschema'],
      [{ ...base, dataschema: dataschemaOf('other.event', '1.0.0') }, 'dataschema'],
      [{ ...base, datacontenttype: 'text/xml' }, 'datacontenttype'],
      [{ ...base, data: undefined }, 'data'],
      [{ ...base, Bad_Name: 'x' }, 'Bad_Name'],
    ] as const;
    for (const [event, field] of refusals) {
      const response = await structured(event);
      expect(response.status, field).toBe(400);
      expect(response.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    }
    // A dataschema naming this service's definition picks that version.
    const pinned = await structured({
      ...base,
      id: 'pinned',
      dataschema: dataschemaOf('bookings.created', '1.0.0'),
    });
    expect(pinned.status).toBe(202);
    // data_base64 holding JSON is the payload too.
    const encoded = await structured({
      ...base,
      id: 'b64',
      data: undefined,
      data_base64: Buffer.from(JSON.stringify(payload)).toString('base64'),
    });
    expect(encoded.status).toBe(202);
    expect((await stored('b64')).payload).toEqual(payload);
  });

  it('treats a repeated id as a native repeated eventId', async () => {
    expect((await send(HTTP.structured(sdkEvent()))).status).toBe(202);
    expect((await send(HTTP.binary(sdkEvent()))).status).toBe(200);
    const conflict = await send(HTTP.binary(sdkEvent({ data: { ...payload, amount: 1 } })));
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.details[0].field).toBe('id');
  });

  it('answers 415 for binary data that is not JSON, and validates without storing', async () => {
    const xml = await t.request('POST', '/v1/events', {
      headers: {
        'content-type': 'application/xml',
        'ce-specversion': '1.0',
        'ce-id': 'x',
        'ce-type': 'bookings.created',
        'ce-source': '/workflow/1',
      },
      payload: '<booking/>',
    });
    expect(xml.status).toBe(415);
    expect(xml.body.error.code).toBe('unsupported_media_type');
    const checked = await send(HTTP.binary(sdkEvent()), '/v1/events/validate');
    expect(checked.status).toBe(200);
    expect(checked.body).toMatchObject({ valid: true, event: { eventId: 'ce-1' } });
    expect((await t.request('GET', '/v1/events/ce-1')).status).toBe(404);
  });
});
