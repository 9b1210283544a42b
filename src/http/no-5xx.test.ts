import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { bookingDefinition, bookingEvent } from '../testing/fixtures.ts';

/** Bodies near the real shape (so validation goes deep), mixed with arbitrary JSON and bytes. */
const eventLike = fc.record(
  {
    eventId: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
    pattern: fc.oneof(fc.constant('bookings.created'), fc.string(), fc.integer()),
    version: fc.oneof(fc.constant('1.0.0'), fc.string()),
    source: fc.oneof(fc.constant(bookingEvent().source), fc.anything()),
    timestamp: fc.oneof(
      fc
        .date({ noInvalidDate: false })
        .map((d) => (Number.isNaN(d.getTime()) ? 'NaN' : d.toISOString())),
      fc.string(),
    ),
    payload: fc.oneof(fc.constant(bookingEvent().payload), fc.jsonValue(), fc.object()),
    metadata: fc.oneof(
      fc.record({ tags: fc.dictionary(fc.string(), fc.anything()), correlationId: fc.anything() }),
      fc.anything(),
    ),
  },
  { requiredKeys: [] },
);

const body = fc.oneof(
  eventLike.map((e) => JSON.stringify(e)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string(),
  fc.string({ unit: 'binary' }),
);

const queryString = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom(
          'pattern',
          'startTime',
          'endTime',
          'payload',
          'cursor',
          'limit',
          'offset',
          'order',
          'tag.region',
          'source.type',
          'latest',
          'q',
          'version',
        ),
        fc.string(),
      ),
      fc.oneof(
        fc.string(),
        fc.jsonValue().map((v) => JSON.stringify(v)),
      ),
    ),
    { maxLength: 4 },
  )
  .map((pairs) =>
    pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'),
  );

describe.each(testBackends())('no input reaches a 5xx on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend);
    await t.request('POST', '/v1/event-definitions', { payload: bookingDefinition() });
  });
  afterAll(() => t.close());

  const expectClientError = (status: number, what: string) => {
    expect(status, what).toBeLessThan(500);
  };

  it('POST bodies to every write endpoint', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          '/v1/events',
          '/v1/events/batch',
          '/v1/events/validate',
          '/v1/event-definitions',
          '/v1/workflow-definitions',
          '/v1/workflow-triggers',
          '/v1/workflow-triggers/00000000-0000-4000-8000-000000000000/replay',
        ),
        body,
        async (url, payload) => {
          const wrapped =
            url.endsWith('batch') && payload.startsWith('{') ? `{"events":[${payload}]}` : payload;
          const response = await t.request('POST', url, {
            payload: wrapped,
            headers: { 'content-type': 'application/json' },
          });
          expectClientError(response.status, `${url} ${wrapped}`);
          if (response.status >= 400) expect(response.body.error.code).toEqual(expect.any(String));
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each(['/v1/events', '/v1/events/batch', '/v1/events/validate'])(
    'POST %s with no body answers 400, and with an undescribed media type 415',
    async (url) => {
      const empty = await t.app.server.inject({ method: 'POST', url });
      expect(empty.statusCode).toBe(400);
      expect(empty.json().error.details[0]).toMatchObject({ field: 'body', code: 'required' });
      const other = await t.app.server.inject({
        method: 'POST',
        url,
        headers: {
          'content-type': url.endsWith('batch')
            ? 'application/cloudevents+json'
            : 'application/cloudevents-batch+json',
        },
        payload: 'null',
      });
      expect(other.statusCode, other.body).toBe(url.endsWith('/v1/events') ? 400 : 415);
    },
  );

  it('query strings on every read endpoint', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          '/v1/events',
          '/v1/event-definitions',
          '/v1/event-definitions/bookings.created',
          '/v1/events/x/trace',
          '/v1/workflow-triggers',
          '/v1/workflow-instances',
          '/v1/subscriptions',
          '/v1/dead-letters',
        ),
        queryString,
        async (url, qs) => {
          const response = await t.request('GET', `${url}?${qs}`);
          expectClientError(response.status, `${url}?${qs}`);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('path parameters', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          'GET /v1/events/',
          'GET /v1/event-definitions/',
          'PATCH /v1/event-definitions/',
          'DELETE /v1/event-definitions/',
        ),
        fc.string({ minLength: 1 }),
        async (route, param) => {
          const [method, prefix] = route.split(' ') as [string, string];
          const response = await t.request(method, `${prefix}${encodeURIComponent(param)}`, {
            payload: method === 'PATCH' ? { name: 'x' } : undefined,
            headers: method === 'PATCH' ? { 'if-match': '"1"' } : {},
          });
          expectClientError(response.status, `${route}${param}`);
        },
      ),
      { numRuns: 200 },
    );
  });

  it.each([
    ['GET', '/v1/dead-letters?subscriptionId=urn:uuid:00000000-0000-4000-8000-000000000000'],
    ['DELETE', '/v1/api-keys/urn:uuid:00000000-0000-4000-8000-000000000000'],
  ])('refuses a urn:uuid: id (PostgreSQL cannot read it) with 400: %s %s', async (method, url) => {
    const response = await t.request(method, url);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('validation_error');
  });

  it.each([
    ['/v1/workflow-triggers', 'triggers'],
    ['/v1/workflow-instances', 'workflowInstances'],
  ])('finds nothing in %s for a urn:uuid: workflow id (opaque to clients)', async (path, key) => {
    const response = await t.request(
      'GET',
      `${path}?workflowDefinitionId=urn:uuid:00000000-0000-4000-8000-000000000000`,
    );
    expect(response.status).toBe(200);
    expect(response.body[key]).toEqual([]);
  });
});
