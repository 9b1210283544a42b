import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEgressDispatcher } from '../delivery/egress.ts';
import { parseAllowlist } from '../delivery/ip.ts';
import { TestClock } from '../testing/clock.ts';
import { HttpExecutor, MAX_RESPONSE_BYTES } from './http-executor.ts';
import { WORKFLOW_TRIGGER_RETRY_POLICY, WorkflowExecutorError } from './port.ts';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A real engine on 127.0.0.1: records every request and answers with the current handler. */
describe('http workflow executor against a local engine', () => {
  let server: Server;
  let baseUrl: string;
  let handler: Handler;
  let received: Received[];
  // The service's own egress guard, with the engine's loopback address allowlisted.
  const dispatcher = createEgressDispatcher({ allowlist: parseAllowlist('127.0.0.1') });
  const clock = new TestClock();

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        received.push({
          method: req.method!,
          url: req.url!,
          headers: req.headers,
          body: text ? JSON.parse(text) : undefined,
        });
        handler(req, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/engine`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await dispatcher.close();
  });
  beforeEach(() => {
    received = [];
    handler = (_req, res) => json(res, 200, { instanceId: 'wf-1' });
  });

  const json = (res: ServerResponse, status: number, body: unknown, headers = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const executor = (timeoutMs = 2000, url = baseUrl) =>
    new HttpExecutor({ url, timeoutMs }, { dispatcher, clock });
  const start = (overrides: object = {}, timeoutMs?: number) =>
    executor(timeoutMs).startWorkflow({
      definitionId: 'def-1',
      input: { bookingId: 'bk_1' },
      triggerId: 'tr-1',
      triggerEventId: 'ev-1',
      correlationKey: 'bk_1',
      idempotencyKey: 'ev-1/tr-1',
      ...overrides,
    });
  const failure = async (call: Promise<unknown>): Promise<WorkflowExecutorError> => {
    const error = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkflowExecutorError);
    return error as WorkflowExecutorError;
  };

  it('starts: POST {url}/start with the contract body and headers, answers the instanceId', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(await start({ traceparent })).toEqual({ instanceId: 'wf-1', created: true });
    expect(received).toHaveLength(1);
    const [call] = received;
    expect(call).toMatchObject({ method: 'POST', url: '/engine/start' });
    expect(call!.body).toEqual({
      definitionId: 'def-1',
      input: { bookingId: 'bk_1' },
      triggerId: 'tr-1',
      triggerEventId: 'ev-1',
      correlationKey: 'bk_1',
    });
    expect(call!.headers).toMatchObject({
      'idempotency-key': 'ev-1/tr-1',
      'content-type': 'application/json',
      traceparent,
    });
  });

  it('sends the same Idempotency-Key on a repeated start, and no traceparent unless given', async () => {
    await start();
    await start();
    expect(received.map((r) => r.headers['idempotency-key'])).toEqual(['ev-1/tr-1', 'ev-1/tr-1']);
    expect(received[0]!.headers.traceparent).toBeUndefined();
  });

  it('leaves absent optional fields out of the start body', async () => {
    await executor().startWorkflow({ definitionId: 'def-1', input: {}, idempotencyKey: 'k' });
    expect(received[0]!.body).toEqual({ definitionId: 'def-1', input: {} });
  });

  it('cancels: POST {url}/cancel, answers the cancelled instance ids', async () => {
    handler = (_req, res) => json(res, 200, { cancelledInstanceIds: ['wf-1', 'wf-2'] });
    const result = await executor().cancelWorkflowsByCorrelation({
      definitionId: 'def-1',
      correlationKey: 'bk_1',
      eventId: 'ev-9',
      idempotencyKey: 'ev-9/tr-2',
    });
    expect(result).toEqual({ cancelledInstanceIds: ['wf-1', 'wf-2'] });
    expect(received[0]).toMatchObject({
      url: '/engine/cancel',
      body: { definitionId: 'def-1', correlationKey: 'bk_1', eventId: 'ev-9' },
      headers: { 'idempotency-key': 'ev-9/tr-2' },
    });
  });

  it.each([500, 502, 503, 504])('calls %i retryable, quoting the engine', async (status) => {
    handler = (_req, res) => json(res, status, { message: 'engine is sad' });
    const error = await failure(start());
    expect(error).toMatchObject({ retryable: true, code: 'http_status', status });
    expect(error.message).toContain('engine is sad');
    expect(received).toHaveLength(1);
  });

  it.each([408, 429])('calls %i retryable', async (status) => {
    handler = (_req, res) => json(res, status, {});
    expect(await failure(start())).toMatchObject({ retryable: true, status });
  });

  it('passes on Retry-After in seconds and as an HTTP date', async () => {
    handler = (_req, res) => json(res, 503, {}, { 'retry-after': '7' });
    expect((await failure(start())).retryAfterMs).toBe(7000);
    const at = new Date(clock.now().getTime() + 30_000).toUTCString();
    handler = (_req, res) => json(res, 429, {}, { 'retry-after': at });
    expect((await failure(start())).retryAfterMs).toBe(30_000);
  });

  it.each([400, 401, 403, 404, 409, 422])('calls %i permanent', async (status) => {
    handler = (_req, res) => json(res, status, { error: 'bad input' }, { 'retry-after': '5' });
    const error = await failure(start());
    expect(error).toMatchObject({ retryable: false, code: 'http_status', status });
    expect(error.retryAfterMs).toBeUndefined();
    expect(error.message).toContain('bad input');
  });

  it('never follows a redirect, and calls it permanent', async () => {
    handler = (_req, res) => {
      res.writeHead(307, { location: `${baseUrl}/elsewhere` });
      res.end();
    };
    const error = await failure(start());
    expect(error).toMatchObject({ retryable: false, code: 'redirect', status: 307 });
    expect(received.map((r) => r.url)).toEqual(['/engine/start']);
  });

  it('calls a timeout retryable: no answer at all, or a body that never ends', async () => {
    handler = () => {};
    const silent = await failure(start({}, 200));
    expect(silent).toMatchObject({ retryable: true, code: 'timeout' });
    expect(silent.message).toContain('200 ms');
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"instanceId":');
    };
    expect(await failure(start({}, 200))).toMatchObject({ retryable: true, code: 'timeout' });
  });

  it('calls a refused connection retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await failure(
      executor(2000, `http://127.0.0.1:${port}`).startWorkflow({
        definitionId: 'd',
        input: {},
        idempotencyKey: 'k',
      }),
    );
    expect(error).toMatchObject({ retryable: true, code: 'unreachable' });
  });

  it('fails for good, without a request, when the egress policy refuses the engine address', async () => {
    const guarded = createEgressDispatcher({ allowlist: [] });
    const error = await failure(
      new HttpExecutor(
        { url: baseUrl, timeoutMs: 2000 },
        { dispatcher: guarded, clock },
      ).startWorkflow({ definitionId: 'd', input: {}, idempotencyKey: 'k' }),
    );
    expect(error).toMatchObject({ retryable: false, code: 'egress_denied' });
    expect(error.message).toContain('127.0.0.1 is loopback and not in EGRESS_ALLOWLIST');
    expect(received).toEqual([]);
    await guarded.close();
  });

  // Decision (README): a malformed success is retryable. The engine may have acted; asking again
  // under the same Idempotency-Key is the safe way to learn the instance id.
  it.each([
    ['not JSON', (res: ServerResponse) => res.end('<html>ok</html>')],
    ['no instanceId', (res: ServerResponse) => json(res, 200, { id: 'wf-1' })],
    ['an empty instanceId', (res: ServerResponse) => json(res, 201, { instanceId: '' })],
    ['a numeric instanceId', (res: ServerResponse) => json(res, 200, { instanceId: 7 })],
    ['null', (res: ServerResponse) => json(res, 200, null)],
    ['no body', (res: ServerResponse) => res.writeHead(204).end()],
    [
      'a body over the limit',
      (res: ServerResponse) =>
        json(res, 200, { instanceId: 'wf-1', pad: 'x'.repeat(MAX_RESPONSE_BYTES) }),
    ],
  ])('calls a success with %s malformed and retryable', async (_what, answer) => {
    handler = (_req, res) => answer(res);
    expect(await failure(start())).toMatchObject({
      retryable: true,
      code: 'malformed_response',
    });
  });

  it('calls a cancel answer without an id list malformed', async () => {
    handler = (_req, res) => json(res, 200, { cancelledInstanceIds: [1] });
    const error = await failure(
      executor().cancelWorkflowsByCorrelation({
        definitionId: 'd',
        correlationKey: 'k',
        eventId: 'e',
        idempotencyKey: 'i',
      }),
    );
    expect(error.code).toBe('malformed_response');
  });

  it('calls a key no HTTP header can carry permanent, without calling', async () => {
    const error = await failure(start({ idempotencyKey: 'line\nbreak' }));
    expect(error).toMatchObject({ retryable: false, code: 'invalid_request' });
    expect(received).toHaveLength(0);
  });
});

describe('the retry policy', () => {
  it('is the spec policy: 3 attempts, 2x backoff from 500 ms', () => {
    expect(WORKFLOW_TRIGGER_RETRY_POLICY).toEqual({
      maxAttempts: 3,
      backoffFactor: 2,
      initialDelayMs: 500,
      maxDelayMs: 60_000,
    });
  });
});
