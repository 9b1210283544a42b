import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { bookingDefinition, bookingEvent } from '../testing/fixtures.ts';

describe.each(testBackends())('event receiver on $name', (backend) => {
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

  const publish = (body: unknown, headers: Record<string, string> = {}) =>
    t.request('POST', '/v1/events', { payload: body, headers });
  const fields = (response: { body: any }) =>
    response.body.error.details.map((d: any) => d.field).sort();
  const storedCount = async () =>
    (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events')).rows[0]!.n;
  const register = (overrides: object) =>
    t.request('POST', '/v1/event-definitions', {
      payload: { ...bookingDefinition(), ...overrides },
    });

  describe('accepting', () => {
    it('answers 202 once stored, and normalises the event', async () => {
      const response = await publish(bookingEvent());
      expect(response.status).toBe(202);
      expect(response.body).toEqual({
        eventId: expect.any(String),
        status: 'accepted',
        timestamp: t.clock.now().toISOString(),
      });
      // A generated eventId is a time-ordered UUID (v7).
      expect(response.body.eventId).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      const stored = await t.request('GET', `/v1/events/${response.body.eventId}`);
      expect(stored.body).toEqual({
        id: response.body.eventId,
        eventId: response.body.eventId,
        pattern: 'bookings.created',
        version: '1.0.0',
        source: { type: 'workflow', id: 'wf-42', name: 'Booking flow' },
        timestamp: t.clock.now().toISOString(),
        payload: bookingEvent().payload,
        // The trace of the span that received it (a new one: no traceparent came in).
        metadata: {
          correlationId: response.body.eventId,
          traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
          tags: {},
        },
      });
    });

    it('keeps given ids, timestamps (microseconds stored, milliseconds returned in UTC) and metadata', async () => {
      const metadata = {
        correlationId: 'corr-1',
        causationId: 'cause-1',
        traceId: 'trace-1',
        userId: 'user-9',
        context: { type: 'client', id: 'acme' },
        tags: { region: 'eu' },
      };
      const response = await publish(
        bookingEvent({
          eventId: 'evt-given',
          timestamp: '2026-03-04T07:08:09.123456+02:00',
          metadata,
        }),
      );
      expect(response.status).toBe(202);
      expect(response.body.timestamp).toBe('2026-03-04T05:08:09.123Z');
      const { rows } = await t.db.query<{ t: string; partition_key: string }>(
        `SELECT to_char("timestamp", 'YYYY-MM-DD HH24:MI:SS.US') AS t, partition_key FROM events WHERE event_id = 'evt-given'`,
      );
      expect(rows[0]).toEqual({ t: '2026-03-04 05:08:09.123456', partition_key: '2026-03' });
      expect((await t.request('GET', '/v1/events/evt-given')).body.metadata).toEqual(metadata);
    });

    it('takes the trace id from an incoming traceparent when metadata has none', async () => {
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const response = await publish(bookingEvent(), { traceparent });
      const stored = await t.request('GET', `/v1/events/${response.body.eventId}`);
      expect(stored.body.metadata.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    });

    it('accepts source inside metadata from existing publishers', async () => {
      const { source, ...rest } = bookingEvent();
      const response = await publish({ ...rest, metadata: { source } });
      expect(response.status).toBe(202);
      const stored = await t.request('GET', `/v1/events/${response.body.eventId}`);
      expect(stored.body.source).toEqual(source);
      expect(stored.body.metadata.source).toBeUndefined();
    });

    it('resolves the highest active version, or the given one', async () => {
      await register({ version: '1.2.0' });
      await register({ version: '2.0.0', status: 'draft' });
      expect(
        (await t.request('GET', `/v1/events/${(await publish(bookingEvent())).body.eventId}`)).body
          .version,
      ).toBe('1.2.0');
      const pinned = await publish(bookingEvent({ version: '1.0.0' }));
      expect((await t.request('GET', `/v1/events/${pinned.body.eventId}`)).body.version).toBe(
        '1.0.0',
      );
    });
  });

  describe('refusing', () => {
    it.each([
      [{ ...bookingEvent(), pattern: 'nobody.registered' }, ['pattern'], 'unknown_pattern'],
      [{ ...bookingEvent(), version: '9.9.9' }, ['version'], 'unknown_version'],
      [{ ...bookingEvent(), timestamp: '2026-02-30T00:00:00Z' }, ['timestamp'], 'format'],
      [{ ...bookingEvent(), source: { type: 'robot', id: 'r1' } }, ['source.type'], 'enum'],
      [{ pattern: 'bookings.created', payload: bookingEvent().payload }, ['source'], 'required'],
    ])('refuses %j naming the field', async (body, expectedFields, code) => {
      const response = await publish(body);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('validation_error');
      expect(fields(response)).toEqual(expectedFields);
      expect(response.body.error.details[0].code).toBe(code);
      expect(await storedCount()).toBe(0);
    });

    it('reports every failing payload path with its keyword', async () => {
      const response = await publish(
        bookingEvent({ payload: { bookingId: 7, amount: -1, status: 'lost' } }),
      );
      expect(response.status).toBe(400);
      expect(response.body.error.details).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ field: 'payload.customerId', code: 'required' }),
          expect.objectContaining({ field: 'payload.bookingId', code: 'type' }),
          expect.objectContaining({ field: 'payload.amount', code: 'minimum' }),
          expect.objectContaining({ field: 'payload.status', code: 'enum' }),
        ]),
      );
    });

    it('refuses a pattern with only drafts, and a draft version', async () => {
      await register({ event_id: 'Drafty.created', pattern: 'drafty.created', status: 'draft' });
      const draftOnly = await publish(bookingEvent({ pattern: 'drafty.created' }));
      expect(draftOnly.status).toBe(400);
      expect(fields(draftOnly)).toEqual(['pattern']);
      await register({ version: '3.0.0', status: 'draft' });
      const draftVersion = await publish(bookingEvent({ version: '3.0.0' }));
      expect(draftVersion.status).toBe(400);
      expect(draftVersion.body.error.details[0]).toMatchObject({
        field: 'version',
        code: 'draft_version',
      });
    });

    it.each([
      [{ payload: bookingEvent().payload }, 'pattern'],
      [{ pattern: 'bookings.created' }, 'payload'],
      [{ ...bookingEvent(), payload: [1, 2] }, 'payload'],
      [{ ...bookingEvent(), eventId: 'x'.repeat(256) }, 'eventId'],
      [{ ...bookingEvent(), metadata: { tags: { region: 5 } } }, 'metadata.tags.region'],
      [{ ...bookingEvent(), metadata: { context: { type: 'client' } } }, 'metadata.context.id'],
      [{ ...bookingEvent(), colour: 'red' }, 'colour'],
    ])('refuses a malformed envelope %j', async (body, field) => {
      const response = await publish(body);
      expect(response.status).toBe(400);
      expect(fields(response)).toContain(field);
    });

    it('bounds payload depth and key count, and refuses text PostgreSQL cannot store', async () => {
      let deep: Record<string, unknown> = { leaf: true };
      for (let i = 0; i < 40; i++) deep = { nested: deep };
      const tooDeep = await publish(bookingEvent({ payload: { ...bookingEvent().payload, deep } }));
      expect(tooDeep.status).toBe(400);
      expect(tooDeep.body.error.details[0].code).toBe('max_depth');
      const wide = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`k${i}`, i]));
      const tooWide = await publish(bookingEvent({ payload: { ...bookingEvent().payload, wide } }));
      expect(tooWide.status).toBe(400);
      expect(tooWide.body.error.details[0].code).toBe('max_keys');
      const nul = await publish(
        bookingEvent({ payload: { ...bookingEvent().payload, note: 'a\u0000b' } }),
      );
      expect(nul.status).toBe(400);
      expect(nul.body.error.details[0]).toMatchObject({
        field: 'payload.note',
        code: 'unsupported_character',
      });
      expect(await storedCount()).toBe(0);
    });

    it('answers an oversized body with 413', async () => {
      const response = await publish(
        bookingEvent({ payload: { ...bookingEvent().payload, blob: 'x'.repeat(1024 * 1024) } }),
      );
      expect(response.status).toBe(413);
      expect(response.body.error.code).toBe('payload_too_large');
    });
  });

  describe('idempotency', () => {
    it('answers a repeated eventId with 200 duplicate and the original timestamp, storing nothing', async () => {
      const first = await publish(bookingEvent({ eventId: 'evt-1' }));
      t.clock.advance(5_000);
      const again = await publish(bookingEvent({ eventId: 'evt-1' }));
      expect(again.status).toBe(200);
      expect(again.body).toEqual({
        eventId: 'evt-1',
        status: 'duplicate',
        timestamp: first.body.timestamp,
      });
      expect(await storedCount()).toBe(1);
    });

    it('answers the same eventId with another body with 409', async () => {
      await publish(bookingEvent({ eventId: 'evt-1' }));
      const other = await publish(
        bookingEvent({ eventId: 'evt-1', payload: { bookingId: 'other', customerId: 'c' } }),
      );
      expect(other.status).toBe(409);
      expect(other.body.error.code).toBe('conflict');
      expect(await storedCount()).toBe(1);
    });

    it('stores one row for 10 concurrent posts of one eventId', async () => {
      const responses = await Promise.all(
        Array.from({ length: 10 }, () => publish(bookingEvent({ eventId: 'evt-race' }))),
      );
      expect(responses.map((r) => r.status).sort()).toEqual([
        200, 200, 200, 200, 200, 200, 200, 200, 200, 202,
      ]);
      expect(await storedCount()).toBe(1);
    });

    it('recognises a duplicate whose original sits in another partition', async () => {
      await t.app.maintainPartitions();
      const first = await publish(
        bookingEvent({ eventId: 'evt-old', timestamp: '2019-05-05T00:00:00Z' }),
      );
      expect(first.status).toBe(202);
      t.clock.advance(40 * 86_400_000);
      await t.app.maintainPartitions();
      const again = await publish(
        bookingEvent({ eventId: 'evt-old', timestamp: '2019-05-05T00:00:00Z' }),
      );
      expect(again.status).toBe(200);
      expect(again.body.timestamp).toBe('2019-05-05T00:00:00.000Z');
      expect(await storedCount()).toBe(1);
    });
  });

  describe('batches', () => {
    it('validates each event on its own and commits the accepted ones together', async () => {
      await publish(bookingEvent({ eventId: 'seen-before' }));
      const response = await t.request('POST', '/v1/events/batch', {
        payload: {
          events: [
            bookingEvent({ eventId: 'b-1' }),
            bookingEvent({ eventId: 'b-2', payload: { bookingId: 'x' } }),
            bookingEvent({ eventId: 'seen-before' }),
            'not an event',
            bookingEvent({ eventId: 'b-1' }),
            bookingEvent({ eventId: 'seen-before', payload: { bookingId: 'y', customerId: 'z' } }),
          ],
        },
      });
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ accepted: 1, duplicates: 2, rejected: 3 });
      expect(response.body.results.map((r: any) => [r.index, r.status, r.error?.code])).toEqual([
        [0, 'accepted', undefined],
        [1, 'rejected', 'validation_error'],
        [2, 'duplicate', undefined],
        [3, 'rejected', 'validation_error'],
        [4, 'duplicate', undefined],
        [5, 'rejected', 'conflict'],
      ]);
      expect(response.body.results[1].error.details[0].field).toBe('payload.customerId');
      expect(await storedCount()).toBe(2);
    });

    it('limits the batch size', async () => {
      const events = Array.from({ length: 1001 }, (_, i) => bookingEvent({ eventId: `e${i}` }));
      const response = await t.request('POST', '/v1/events/batch', { payload: { events } });
      expect(response.status).toBe(400);
      expect(response.body.error.details[0].field).toBe('events');
    });
  });

  describe('validate only', () => {
    it('runs the same checks and stores nothing', async () => {
      const ok = await t.request('POST', '/v1/events/validate', {
        payload: bookingEvent({ eventId: 'dry' }),
      });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ valid: true, event: { eventId: 'dry', version: '1.0.0' } });
      const bad = await t.request('POST', '/v1/events/validate', {
        payload: bookingEvent({ payload: {} }),
      });
      expect(bad.status).toBe(400);
      expect(fields(bad)).toEqual(['payload.bookingId', 'payload.customerId']);
      expect(await storedCount()).toBe(0);
    });
  });

  describe('deprecated versions', () => {
    it('accepts them with Deprecation and Sunset headers and records the producers', async () => {
      const definition = (await t.request('GET', '/v1/event-definitions/bookings.created')).body;
      t.clock.set('2026-02-01T00:00:00Z');
      const deprecated = await t.request('PATCH', `/v1/event-definitions/${definition.id}`, {
        payload: { status: 'deprecated', sunset_at: '2026-06-30T00:00:00Z' },
        headers: { 'if-match': '"1"' },
      });
      expect(deprecated.body).toMatchObject({
        deprecated_at: '2026-02-01T00:00:00.000Z',
        sunset_at: '2026-06-30T00:00:00.000Z',
      });
      await register({ version: '2.0.0' });
      const response = await publish(bookingEvent({ version: '1.0.0' }));
      expect(response.status).toBe(202);
      expect(response.headers.deprecation).toBe(`@${Date.parse('2026-02-01T00:00:00Z') / 1000}`);
      expect(response.headers.sunset).toBe('Tue, 30 Jun 2026 00:00:00 GMT');
      await publish(bookingEvent({ version: '1.0.0' }));
      t.clock.advance(1000);
      await publish(bookingEvent({ version: '1.0.0', source: { type: 'integration', id: 'crm' } }));
      const current = await publish(bookingEvent());
      expect(current.headers.deprecation).toBeUndefined();
      const producers = await t.request('GET', '/v1/event-definitions/bookings.created/producers');
      expect(producers.body.producers).toEqual([
        expect.objectContaining({
          version: '1.0.0',
          source_type: 'integration',
          source_id: 'crm',
          count: 1,
          last_seen_at: '2026-02-01T00:00:01.000Z',
        }),
        expect.objectContaining({
          version: '1.0.0',
          source_type: 'workflow',
          source_id: 'wf-42',
          count: 2,
          last_seen_at: '2026-02-01T00:00:00.000Z',
        }),
      ]);
    });
  });
});
