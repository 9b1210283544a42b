import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TestClock } from '../testing/clock.ts';
import { startReceiver, type TestReceiver } from '../testing/receiver.ts';
import { parseAllowlist } from './ip.ts';
import { startWebhookThreads, type WebhookThreads } from './sender-threads.ts';
import type { DeliveryRequest } from './senders.ts';
import { generateSecret, verifySignature } from './signature.ts';

// Worker threads load the source through tsx: give the first attempt of each thread time.
const STARTUP_MS = 60_000;

describe('webhook attempts sent from worker threads', () => {
  const clock = new TestClock();
  const logger = pino({ level: 'silent' });
  const secret = generateSecret();
  let receiver: TestReceiver;
  let threads: WebhookThreads;
  let guarded: WebhookThreads;
  /** Threads whose egress policy allows the loopback receiver (`allowlist` `[]` refuses it). */
  const start = (count: number, inFlight: number, allowlist = parseAllowlist('127.0.0.1')) =>
    startWebhookThreads({ threads: count, inFlight, egress: { allowlist }, clock, logger });

  beforeAll(async () => {
    receiver = await startReceiver();
    threads = start(2, 16);
    guarded = start(1, 16, []);
  });
  afterAll(async () => {
    await threads.close();
    await guarded.close();
    await receiver.close();
  });
  beforeEach(() => {
    receiver.received.length = 0;
    receiver.script.length = 0;
  });

  const request = (n: number, overrides: Partial<DeliveryRequest> = {}): DeliveryRequest => ({
    deliveryId: `dlv_${n}`,
    endpoint: `${receiver.url}/hook/${n}`,
    headers: { 'X-Tenant': 'acme' },
    secrets: [secret],
    body: JSON.stringify({ n }),
    timeoutMs: 5000,
    ...overrides,
  });

  it(
    'sends each attempt once, signed at the main clock’s time, and answers with its outcome',
    async () => {
      const outcomes = await Promise.all(
        Array.from({ length: 40 }, (_, n) => threads.send(request(n))),
      );
      expect(outcomes.map((o) => o.kind)).toEqual(Array(40).fill('delivered'));
      expect(receiver.received).toHaveLength(40);
      const ids = receiver.received.map((r) => r.headers['webhook-id']).sort();
      expect(ids).toEqual(Array.from({ length: 40 }, (_, n) => `dlv_${n}`).sort());
      for (const { headers, body } of receiver.received) {
        expect(headers['x-tenant']).toBe('acme');
        expect(headers['webhook-timestamp']).toBe(String(clock.now().getTime() / 1000));
        expect(verifySignature({ headers, body, secret, now: clock.now() })).toEqual({
          valid: true,
        });
      }
    },
    STARTUP_MS,
  );

  it('classifies answers as the main-loop sender does (retryable, gone, Retry-After)', async () => {
    receiver.script.push(503, 410, { status: 429, headers: { 'retry-after': '7' } });
    const failed = await threads.send(request(1));
    const gone = await threads.send(request(2));
    const limited = await threads.send(request(3));
    expect(failed).toMatchObject({ kind: 'failed', statusCode: 503, error: 'HTTP 503' });
    expect(gone).toMatchObject({ kind: 'gone', statusCode: 410 });
    expect(limited).toMatchObject({ kind: 'failed', statusCode: 429, retryAfterMs: 7000 });
  });

  it(
    'keeps the egress guard inside the threads: a denied address is refused, never reached',
    async () => {
      const outcome = await guarded.send(request(1));
      expect(outcome).toMatchObject({ kind: 'refused' });
      expect(outcome.kind === 'refused' && outcome.error).toMatch(
        /^egress_denied: 127\.0\.0\.1 is loopback/,
      );
      expect(receiver.received).toHaveLength(0);
    },
    STARTUP_MS,
  );

  it(
    'keeps at most `inFlight` attempts in flight across its threads, starting the rest as they end',
    async () => {
      const limited = start(2, 3);
      try {
        // Warm: both threads are up (the least loaded takes each attempt) before the slow ones.
        await Promise.all([limited.send(request(0)), limited.send(request(1))]);
        receiver.received.length = 0;
        for (let n = 0; n < 9; n++)
          receiver.script.push({ status: 200, headers: {}, delayMs: 1000 });
        const outcomes = Promise.all(
          Array.from({ length: 9 }, (_, n) => limited.send(request(10 + n))),
        );
        while (receiver.received.length < 3) await new Promise((r) => setTimeout(r, 10));
        // The first answers come a second after their requests: none more may arrive before.
        await new Promise((r) => setTimeout(r, 300));
        expect(receiver.received).toHaveLength(3);
        expect((await outcomes).map((o) => o.kind)).toEqual(Array(9).fill('delivered'));
        expect(receiver.received).toHaveLength(9);
      } finally {
        await limited.close();
      }
    },
    STARTUP_MS,
  );

  it(
    'fails the attempts of a thread that stops as retryable, and sends the next from a new one',
    async () => {
      const single = start(1, 16);
      try {
        // Warm: the thread is up before the attempt it loses.
        expect((await single.send(request(0))).kind).toBe('delivered');
        receiver.script.push({ status: 200, headers: {}, delayMs: 5000 });
        const lost = single.send(request(1));
        while (receiver.received.length < 2) await new Promise((r) => setTimeout(r, 10));
        await single.close();
        expect(await lost).toMatchObject({
          kind: 'failed',
          error: expect.stringMatching(/thread stopped .* before the attempt's outcome was known/),
        });
        expect(await single.send(request(2))).toMatchObject({ kind: 'delivered' });
        expect(receiver.received.map((r) => r.headers['webhook-id'])).toEqual([
          'dlv_0',
          'dlv_1',
          'dlv_2',
        ]);
      } finally {
        await single.close();
      }
    },
    STARTUP_MS,
  );
});
