import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { TestClock } from '../testing/clock.ts';
import { useTestStream } from '../testing/nats.ts';
import { createEgressDispatcher } from './egress.ts';
import { parseAllowlist } from './ip.ts';
import { createNatsPublisher, type NatsPublisher } from './nats.ts';
import {
  createQueueSender,
  createWebhookSender,
  type DeliveryRequest,
  MAX_RESPONSE_BODY_BYTES,
  WEBHOOK_USER_AGENT,
} from './senders.ts';
import { generateSecret, verifySignature } from './signature.ts';

// Only servers on 127.0.0.1 are ever connected to, through the production egress dispatcher
// with 127.0.0.1 allowlisted (and, for the refusal, with nothing allowlisted).

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  remotePort: number | undefined;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const eventBody = JSON.stringify({
  eventId: '0190f5d6-7c1e-7000-8000-000000000001',
  pattern: 'bookings.created',
  payload: { bookingId: 'bk_1', note: 'café' },
});

describe('webhook sender against local receivers', () => {
  const clock = new TestClock();
  const allowLoopback = createEgressDispatcher({ allowlist: parseAllowlist('127.0.0.1') });
  const allowNothing = createEgressDispatcher({ allowlist: [] });
  const secret = generateSecret();
  let receiver: Server;
  let receiverUrl: string;
  let connections: number;
  let received: Received[];
  let handler: Handler;
  let elsewhere: Server;
  let elsewhereUrl: string;
  let elsewhereHits: number;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({
          method: req.method!,
          url: req.url!,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          remotePort: req.socket.remotePort,
        });
        handler(req, res);
      });
    });
    receiver.on('connection', () => {
      connections += 1;
    });
    receiverUrl = await listen(receiver);
    elsewhere = createServer((_req, res) => {
      elsewhereHits += 1;
      res.end('ok');
    });
    elsewhereUrl = await listen(elsewhere);
  });

  afterAll(async () => {
    await stop(receiver);
    await stop(elsewhere);
    await allowLoopback.close();
    await allowNothing.close();
  });

  beforeEach(() => {
    received = [];
    connections = 0;
    elsewhereHits = 0;
    handler = (_req, res) => res.writeHead(200).end('thanks');
  });

  const send = createWebhookSender({ dispatcher: allowLoopback, clock });
  const request = (overrides: Partial<DeliveryRequest> = {}): DeliveryRequest => ({
    deliveryId: 'dlv_0190f5d6_sub1',
    endpoint: `${receiverUrl}/hooks/bookings?x=1`,
    headers: {},
    secrets: [secret],
    body: eventBody,
    timeoutMs: 2000,
    ...overrides,
  });
  const only = (): Received => {
    expect(received).toHaveLength(1);
    return received[0]!;
  };

  it('POSTs the body as JSON, signed so that a Standard Webhooks receiver verifies it', async () => {
    const outcome = await send(request());
    expect(outcome).toMatchObject({ kind: 'delivered', statusCode: 200 });
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(0);
    const call = only();
    expect(call).toMatchObject({ method: 'POST', url: '/hooks/bookings?x=1', body: eventBody });
    expect(call.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': WEBHOOK_USER_AGENT,
      'webhook-id': 'dlv_0190f5d6_sub1',
      'webhook-timestamp': String(clock.now().getTime() / 1000),
    });
    expect(call.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(call.headers.traceparent).toBeUndefined();
    expect(
      verifySignature({ headers: call.headers, body: call.body, secret, now: clock.now() }),
    ).toEqual({ valid: true });
  });

  it('signs with both secrets during a rotation: receivers holding either one verify', async () => {
    const previous = generateSecret();
    await send(request({ secrets: [secret, previous] }));
    const { headers, body } = only();
    expect(String(headers['webhook-signature']).split(' ')).toHaveLength(2);
    for (const held of [secret, previous]) {
      expect(verifySignature({ headers, body, secret: held, now: clock.now() })).toEqual({
        valid: true,
      });
    }
    expect(verifySignature({ headers, body, secret: generateSecret(), now: clock.now() })).toEqual({
      valid: false,
      reason: 'no_matching_signature',
    });
  });

  it('stamps each attempt with the time of that attempt', async () => {
    await send(request());
    clock.advance(60_000);
    await send(request());
    expect(received.map((r) => Number(r.headers['webhook-timestamp']))).toEqual([
      clock.now().getTime() / 1000 - 60,
      clock.now().getTime() / 1000,
    ]);
    expect(new Set(received.map((r) => r.headers['webhook-id']))).toEqual(
      new Set(['dlv_0190f5d6_sub1']),
    );
  });

  it('forwards traceparent', async () => {
    await send(request({ traceparent }));
    expect(only().headers.traceparent).toBe(traceparent);
  });

  it('sends custom headers, but never lets them replace the headers the service sets', async () => {
    await send(
      request({
        traceparent,
        headers: {
          'X-Tenant': 'acme',
          'x-empty': '',
          Accept: 'application/json',
          'Webhook-Id': 'forged',
          'WEBHOOK-SIGNATURE': 'v1,forged',
          'Content-Type': 'text/plain',
          'User-Agent': 'curl/8',
          traceparent: '00-00000000000000000000000000000001-0000000000000001-01',
          Host: 'internal.example',
        },
      }),
    );
    const { headers, body } = only();
    expect(headers).toMatchObject({
      'x-tenant': 'acme',
      'x-empty': '',
      accept: 'application/json',
      'webhook-id': 'dlv_0190f5d6_sub1',
      'content-type': 'application/json',
      'user-agent': WEBHOOK_USER_AGENT,
      traceparent,
      host: new URL(receiverUrl).host,
    });
    expect(verifySignature({ headers, body, secret, now: clock.now() })).toEqual({ valid: true });
  });

  it.each([
    ['bearer', 'tok_123', 'authorization', 'Bearer tok_123'],
    [
      'basic',
      'ada:pa:ss wörd',
      'authorization',
      `Basic ${Buffer.from('ada:pa:ss wörd').toString('base64')}`,
    ],
    ['api-key', 'key_abc', 'x-api-key', 'key_abc'],
  ] as const)(
    'sends %s authentication, over a custom header of the same name',
    async (type, credentials, name, value) => {
      await send(
        request({
          authentication: { type, credentials },
          headers: { Authorization: 'Custom forged', 'X-API-Key': 'forged' },
        }),
      );
      const { headers } = only();
      expect(headers[name]).toBe(value);
      if (type === 'api-key') expect(headers.authorization).toBe('Custom forged');
      else expect(headers['x-api-key']).toBe('forged');
    },
  );

  it('lets a custom Authorization through when no authentication is configured', async () => {
    await send(request({ headers: { Authorization: 'Token abc' } }));
    expect(only().headers.authorization).toBe('Token abc');
  });

  it.each([201, 202, 204, 299])('calls %i delivered', async (status) => {
    handler = (_req, res) => res.writeHead(status).end();
    expect(await send(request())).toMatchObject({ kind: 'delivered', statusCode: status });
  });

  it('calls a 500 failed, quoting the start of the body', async () => {
    handler = (_req, res) => res.writeHead(500).end('database\n  is down');
    const outcome = await send(request());
    expect(outcome).toEqual({
      kind: 'failed',
      statusCode: 500,
      latencyMs: expect.any(Number),
      error: 'HTTP 500: database is down',
    });
  });

  it.each([400, 401, 404, 408, 413, 422, 502, 503])('calls %i failed', async (status) => {
    handler = (_req, res) => res.writeHead(status).end();
    expect(await send(request())).toMatchObject({ kind: 'failed', statusCode: status });
  });

  it('reads at most 4 KiB of a large body, then closes that connection instead of stalling it', async () => {
    let socket: Socket | undefined;
    handler = (req, res) => {
      socket = req.socket;
      res.writeHead(500).end('x'.repeat(8 * 1024 * 1024));
    };
    const outcome = await send(request());
    expect(outcome.kind).toBe('failed');
    const error = (outcome as { error: string }).error;
    expect(error).toBe(`HTTP 500: ${'x'.repeat(MAX_RESPONSE_BODY_BYTES)}`);
    // An unread body would leave the server blocked on a full socket; a destroyed one closes it.
    const closed = await new Promise<boolean>((resolve) => {
      if (socket!.destroyed) resolve(true);
      socket!.once('close', () => resolve(true));
      setTimeout(() => resolve(false), 2000);
    });
    expect(closed).toBe(true);
  });

  it('keeps the connection for the next attempt after a small answer, failures included', async () => {
    // A tick between attempts, as between real deliveries: undici marks the connection idle
    // just after the body ends, and a request dispatched in the same tick opens another one.
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    handler = (_req, res) => res.writeHead(500).end('no');
    await send(request());
    await tick();
    handler = (_req, res) => res.writeHead(200).end('ok');
    await send(request());
    await tick();
    await send(request());
    expect(received).toHaveLength(3);
    expect(new Set(received.map((r) => r.remotePort)).size).toBe(1);
  });

  it('does not follow a redirect, even to an allowed server, and calls it failed', async () => {
    handler = (_req, res) => res.writeHead(302, { location: `${elsewhereUrl}/hook` }).end();
    const outcome = await send(request());
    expect(outcome).toMatchObject({ kind: 'failed', statusCode: 302 });
    expect((outcome as { error: string }).error).toBe(
      `HTTP 302 redirect to ${elsewhereUrl}/hook (redirects are not followed)`,
    );
    expect(received).toHaveLength(1);
    expect(elsewhereHits).toBe(0);
  });

  it('calls 410 gone', async () => {
    handler = (_req, res) => res.writeHead(410).end('unsubscribed');
    expect(await send(request())).toEqual({
      kind: 'gone',
      statusCode: 410,
      latencyMs: expect.any(Number),
    });
  });

  it('passes on Retry-After, in seconds or as an HTTP date', async () => {
    handler = (_req, res) => res.writeHead(429, { 'retry-after': '7' }).end();
    expect(await send(request())).toMatchObject({
      kind: 'failed',
      statusCode: 429,
      retryAfterMs: 7000,
    });
    const at = new Date(clock.now().getTime() + 30_000).toUTCString();
    handler = (_req, res) => res.writeHead(503, { 'retry-after': at }).end();
    expect(await send(request())).toMatchObject({ statusCode: 503, retryAfterMs: 30_000 });
  });

  it('has no retryAfterMs without a usable Retry-After', async () => {
    handler = (_req, res) => res.writeHead(503).end();
    expect(await send(request())).not.toHaveProperty('retryAfterMs');
    handler = (_req, res) => res.writeHead(503, { 'retry-after': 'soon' }).end();
    expect(await send(request())).not.toHaveProperty('retryAfterMs');
  });

  it('fails after timeoutMs when the receiver never answers', async () => {
    handler = () => {};
    const before = performance.now();
    const outcome = await send(request({ timeoutMs: 200 }));
    const took = performance.now() - before;
    expect(outcome).toEqual({
      kind: 'failed',
      latencyMs: expect.any(Number),
      error: 'timeout: no response within 200 ms',
    });
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(190);
    // The attempt ends at its own timeout, not at a later one along the way (undici's are
    // minutes): far below those, far above what a loaded machine adds to 200 ms.
    expect(took).toBeLessThan(10_000);
  });

  it('calls a 2xx delivered even when its body never ends, giving up on the body at the timeout', async () => {
    handler = (_req, res) => {
      res.writeHead(200);
      res.write('still going');
    };
    const before = performance.now();
    expect(await send(request({ timeoutMs: 200 }))).toMatchObject({
      kind: 'delivered',
      statusCode: 200,
    });
    // As above: it gives up on the body at this timeout, not at undici's (minutes).
    expect(performance.now() - before).toBeLessThan(10_000);
  });

  it('calls a refused connection failed', async () => {
    const closed = createServer();
    const url = await listen(closed);
    await stop(closed);
    const outcome = await send(request({ endpoint: `${url}/hook` }));
    expect(outcome.kind).toBe('failed');
    expect((outcome as { error: string }).error).toMatch(/^connection failed: .*ECONNREFUSED/);
  });

  it('refuses 127.0.0.1 when it is not allowlisted, without connecting', async () => {
    const strict = createWebhookSender({ dispatcher: allowNothing, clock });
    const outcome = await strict(request());
    expect(outcome).toEqual({
      kind: 'refused',
      latencyMs: expect.any(Number),
      error: 'egress_denied: 127.0.0.1 is loopback and not in EGRESS_ALLOWLIST',
    });
    expect(connections).toBe(0);
    expect(received).toHaveLength(0);
  });

  it.each([
    ['not a URL', 'egress_denied: not a valid URL'],
    ['ftp://127.0.0.1/hook', 'egress_denied: only http and https endpoints are allowed, not ftp'],
  ])('refuses the endpoint %j', async (endpoint, error) => {
    expect(await send(request({ endpoint }))).toEqual({
      kind: 'refused',
      latencyMs: expect.any(Number),
      error,
    });
  });

  it('refuses what it cannot send or sign, without connecting', async () => {
    const lineBreak = await send(request({ headers: { 'x-note': 'a\r\nx-injected: 1' } }));
    expect(lineBreak).toMatchObject({ kind: 'refused' });
    expect((lineBreak as { error: string }).error).toMatch(/^invalid request: /);
    expect(await send(request({ deliveryId: 'a.b' }))).toMatchObject({
      kind: 'refused',
      error: 'cannot sign the delivery: webhook-id must be non-empty and contain no "."',
    });
    expect(await send(request({ secrets: [] }))).toMatchObject({ kind: 'refused' });
    expect(await send(request({ secrets: ['whsec_short'] }))).toMatchObject({ kind: 'refused' });
    expect(connections).toBe(0);
  });
});

describe('queue sender against the local NATS JetStream', () => {
  const target = useTestStream('senders', 'bookings');
  let publisher: NatsPublisher;

  beforeAll(async () => {
    publisher = await createNatsPublisher(loadConfig().delivery.natsUrl, { ackTimeoutMs: 2000 });
  });
  afterAll(() => publisher?.close());

  const request = (overrides: Partial<DeliveryRequest> = {}): DeliveryRequest => ({
    deliveryId: `dlv_${target.id}`,
    endpoint: target.subject,
    headers: {},
    secrets: [],
    body: eventBody,
    timeoutMs: 2000,
    ...overrides,
  });

  it('delivers once to the stream when sent twice with the same delivery id', async () => {
    const send = createQueueSender({ publisher });
    const first = await send(request({ traceparent }));
    const again = await send(request({ traceparent }));
    expect(first).toEqual({ kind: 'delivered', latencyMs: expect.any(Number) });
    expect(again).toEqual({ kind: 'delivered', latencyMs: expect.any(Number) });
    expect((await target.jsm.streams.info(target.stream)).state.messages).toBe(1);

    const consumer = await jetstream(target.admin).consumers.get(target.stream);
    const message = await consumer.next({ expires: 2000 });
    expect(message?.string()).toBe(eventBody);
    expect(message?.headers?.get('Nats-Msg-Id')).toBe(`dlv_${target.id}`);
    expect(message?.headers?.get('traceparent')).toBe(traceparent);
  });

  it('calls a subject no stream stores failed', async () => {
    const outcome = await createQueueSender({ publisher })(
      request({ endpoint: `eps-senders-unbound.${target.id}` }),
    );
    expect(outcome).toMatchObject({ kind: 'failed' });
    expect((outcome as { error: string }).error).toContain('no JetStream stream stores');
  });

  it('refuses a subject no NATS message can have', async () => {
    expect(
      await createQueueSender({ publisher })(request({ endpoint: 'has space' })),
    ).toMatchObject({ kind: 'refused' });
  });
});
