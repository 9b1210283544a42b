import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { bookingDefinition, bookingEvent } from '../testing/fixtures.ts';
import { scanJsonText } from './json-body.ts';

const expectEnvelope = (body: unknown, code?: string) => {
  expect(body).toMatchObject({
    error: { code: code ?? expect.any(String), message: expect.any(String) },
  });
  expect((body as { error: { details: unknown } }).error.details).toEqual(expect.any(Array));
};

/** Sends raw bytes (what no HTTP client library would send) and reads the whole answer. */
function rawRequest(port: number, text: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('utf8');
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head, body = ''] = answer.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head ?? '')?.[1]);
      try {
        resolve({ status, body: JSON.parse(body) });
      } catch {
        resolve({ status, body });
      }
    });
    socket.write(text);
  });
}

describe('scanJsonText', () => {
  it.each([
    ['{"a":"\\u0000"}', 'unsupported_character'],
    ['{"\\u0000":1}', 'unsupported_character'],
    ['["\\ud800"]', 'unsupported_character'],
    ['["\\ud800x"]', 'unsupported_character'],
    ['["\\udc00"]', 'unsupported_character'],
    ['["\\ud800\\u0041"]', 'unsupported_character'],
    ['["\\ud83d\\ude00"]', undefined],
    ['["\\\\u0000"]', undefined],
    ['["{{{{{{"]', undefined],
    ['[[[[1]]]]', undefined],
    ['[[[[[1]]]]]', 'max_depth'],
  ])('%s → %s', (text, breach) => {
    expect(scanJsonText(text, 4)).toBe(breach);
  });
});

describe.each(testBackends())('framework and input-class answers on $name', (backend) => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await startTestApp(backend);
    await t.request('POST', '/v1/event-definitions', { payload: bookingDefinition() });
    await t.app.server.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.server.address() as AddressInfo).port;
  });
  afterAll(() => t.close());

  it.each([
    '/v1/events?offset=10000000000000000000',
    '/v1/event-definitions?offset=10000000000000000000',
    '/v1/workflow-definitions?offset=100001',
    '/v1/workflow-triggers?offset=-1',
    '/v1/subscriptions?limit=10000000000000000000',
  ])('bounds every integer query parameter: %s → 400', async (url) => {
    const response = await t.request('GET', url);
    expect(response.status).toBe(400);
    expectEnvelope(response.body, 'validation_error');
  });

  it('bounds a trigger priority', async () => {
    const response = await t.request('POST', '/v1/workflow-triggers', {
      payload: {
        eventPattern: 'bookings.created',
        workflowDefinitionId: 'wf-1',
        triggerType: 'START',
        priority: 77613469056,
      },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.details).toContainEqual(
      expect.objectContaining({ field: 'priority', code: 'maximum' }),
    );
  });

  it.each([
    ['POST', '/v1/event-definitions', { ...bookingDefinition(), description: 'a\u0000b' }],
    ['POST', '/v1/workflow-definitions', { name: 'n\u0000', version: '1.0.0' }],
    [
      'POST',
      '/v1/subscriptions',
      {
        event_pattern: 'bookings.*',
        subscriber: { id: 'svc\ud800', type: 'webhook', endpoint: 'https://example.com/hook' },
      },
    ],
  ])('refuses U+0000 and lone surrogates in any JSON body: %s %s', async (method, url, body) => {
    const response = await t.request(method, url, {
      payload: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expectEnvelope(response.body, 'validation_error');
    expect(response.body.error.details[0].code).toBe('unsupported_character');
    expect(response.body.error.details[0].field).not.toBe('(root)');
  });

  it.each([
    '/v1/event-definitions/%00',
    '/v1/events?userId=%00',
    '/v1/events/%00/trace',
    '/v1/events/%ED%A0%80',
    '/v1/workflow-triggers?name=a%00',
  ])('refuses U+0000 and lone surrogates in paths and queries: %s', async (url) => {
    const response = await t.request('GET', url);
    expect(response.status).toBe(400);
    expectEnvelope(response.body);
  });

  it.each([
    ['/v1/workflow-definitions', (deep: unknown) => ({ name: 'deep', inputSchema: deep })],
    [
      '/v1/event-definitions',
      (deep: unknown) => ({ ...bookingDefinition(), payload_schema: deep }),
    ],
    ['/v1/events', (deep: unknown) => bookingEvent({ payload: deep })],
  ])('refuses JSON nested 5,000 levels deep while parsing: %s', async (url, wrap) => {
    // Built as text: JSON.stringify itself overflows the stack on such a value.
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    const response = await t.request('POST', url, {
      payload: JSON.stringify(wrap('DEEP')).replace('"DEEP"', deep),
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.details[0].code).toBe('max_depth');
  });

  it('reads back an event whose id is 255 characters long', async () => {
    const eventId = 'e'.repeat(255);
    const published = await t.request('POST', '/v1/events', { payload: bookingEvent({ eventId }) });
    expect(published.status).toBe(202);
    const read = await t.request('GET', `/v1/events/${eventId}`);
    expect(read.status).toBe(200);
    expect(read.body.eventId).toBe(eventId);
    const tooLong = await t.request('GET', `/v1/events/${'e'.repeat(3000)}`);
    expect(tooLong.status).toBe(414);
    expectEnvelope(tooLong.body, 'uri_too_long');
  });

  it.each(['/v1/events/no-such-event/triggers', '/v1/events/no-such-event/deliveries'])(
    'answers 404 for the consequences of an unknown event: %s',
    async (url) => {
      const response = await t.request('GET', url);
      expect(response.status).toBe(404);
      expectEnvelope(response.body, 'not_found');
    },
  );

  it('answers 405 with Allow for a known path and another method', async () => {
    const response = await t.request('DELETE', '/v1/events');
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('GET, HEAD, POST');
    expectEnvelope(response.body, 'method_not_allowed');
    const unknown = await t.request('DELETE', '/v1/nothing-here');
    expect(unknown.status).toBe(404);
  });

  it('refuses unknown query parameters on every API route', async () => {
    for (const url of ['/v1/events?patern=x', '/v1/me?x=1', '/v1/event-definitions/x?y=1']) {
      const response = await t.request('GET', url);
      expect(response.status, url).toBe(400);
      expect(response.body.error.details[0]).toMatchObject({ code: 'additionalProperties' });
    }
  });

  it.each([
    [
      'a bad %-encoding in the path',
      'GET /v1/events/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      400,
    ],
    ['an unknown method', 'FROB /v1/events HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    [
      'headers too large',
      `GET /v1/events HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
    ],
    ['a malformed request line', 'GET\r\n\r\n', 400],
  ])('answers %s in the envelope', async (_what, text, status) => {
    const response = await rawRequest(port, text);
    expect(response.status).toBe(status);
    expectEnvelope(response.body);
  });
});
