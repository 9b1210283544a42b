import { beforeEach, describe, expect, it } from 'vitest';
import { verifySignature } from '../delivery/signature.ts';
import { claimWork } from '../routing/work-store.ts';
import { useAppWithReceiver } from '../testing/app-and-receiver.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { startReceiver } from '../testing/receiver.ts';

describe.each(testBackends())('subscriptions and delivery on $name', (backend) => {
  const t = useAppWithReceiver(backend, { definitionCacheTtlMs: 0 });
  beforeEach(async () => {
    for (const pattern of ['orders.created', 'orders.cancelled']) {
      await t.request('POST', '/v1/event-definitions', { payload: openDefinition(pattern) });
    }
  });

  const subscribe = (
    overrides: Record<string, unknown> = {},
    subscriber: Record<string, unknown> = {},
  ) =>
    t.request('POST', '/v1/subscriptions', {
      payload: {
        event_pattern: 'orders.*',
        subscriber: {
          id: 'shop',
          type: 'webhook',
          endpoint: `${t.receiver.url}/hook`,
          ...subscriber,
        },
        retry_policy: {
          max_attempts: 3,
          initial_delay_ms: 1000,
          backoff_factor: 2,
          max_delay_ms: 60_000,
        },
        ...overrides,
      },
    });
  const publish = async (event: Record<string, unknown> = {}) => {
    const response = await t.request('POST', '/v1/events', {
      payload: { pattern: 'orders.created', payload: { id: 'o-1' }, ...event },
    });
    expect(response.status).toBe(202);
    return response.body.eventId as string;
  };
  const drain = async () => {
    while ((await t.app.workers.runOnce()) > 0) {}
  };
  /** Runs due work, moving the clock past each retry delay, `rounds` times. */
  const runRetries = async (rounds: number, stepMs = 70_000) => {
    for (let i = 0; i < rounds; i++) {
      await drain();
      t.clock.advance(stepMs);
    }
    await drain();
  };
  const deliveries = async (id: string) =>
    (await t.request('GET', `/v1/subscriptions/${id}/deliveries`)).body.deliveries;

  describe('managing', () => {
    it('creates with a signing secret shown once, masks and encrypts credentials', async () => {
      const created = await subscribe(
        { description: 'shop orders' },
        {
          headers: { 'X-Shop': 'one' },
          authentication: { type: 'bearer', credentials: 'tok-secret-1234' },
        },
      );
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        subscription_id: expect.any(String),
        event_pattern: 'orders.*',
        status: 'active',
        created_at: t.clock.now().toISOString(),
        signing_secret: expect.stringMatching(/^whsec_/),
        subscriber: {
          id: 'shop',
          type: 'webhook',
          headers: { 'X-Shop': 'one' },
          authentication: {
            type: 'bearer',
            credentials: expect.not.stringContaining('tok-secret'),
          },
        },
        retry_policy: {
          max_attempts: 3,
          backoff_factor: 2,
          initial_delay_ms: 1000,
          max_delay_ms: 60_000,
        },
        circuit_breaker: {
          failure_threshold: 5,
          reset_timeout_ms: 30_000,
          half_open_max_calls: 1,
          state: 'closed',
        },
      });
      const read = await t.request('GET', `/v1/subscriptions/${created.body.subscription_id}`);
      expect(read.body.signing_secret).toBeUndefined();
      expect(read.body.subscriber.authentication.credentials).toMatch(/1234$/);
      const { rows } = await t.db.query<{ row: string }>(
        'SELECT row_to_json(s)::text AS row FROM subscriptions s',
      );
      expect(rows[0]!.row).not.toContain('tok-secret-1234');
      expect(rows[0]!.row).not.toContain(created.body.signing_secret);
    });

    it('defaults to the spec delivery policy', async () => {
      const created = await t.request('POST', '/v1/subscriptions', {
        payload: {
          event_pattern: 'orders.created',
          subscriber: { id: 's', type: 'webhook', endpoint: t.receiver.url },
        },
      });
      expect(created.body.retry_policy).toEqual({
        max_attempts: 5,
        backoff_factor: 2,
        initial_delay_ms: 1000,
        max_delay_ms: 3_600_000,
      });
    });

    it.each([
      [{ event_pattern: 'Orders.*' }, {}, 'event_pattern'],
      [{}, { type: 'email' }, 'subscriber.type'],
      [{}, { endpoint: 'ftp://127.0.0.1/x' }, 'subscriber.endpoint'],
      [{}, { endpoint: 'not a url' }, 'subscriber.endpoint'],
      [{}, { type: 'queue', endpoint: 'orders.>' }, 'subscriber.endpoint'],
      [{}, { headers: { 'webhook-signature': 'x' } }, 'subscriber.headers.webhook-signature'],
      [
        {},
        { authentication: { type: 'oauth', credentials: 'x' } },
        'subscriber.authentication.type',
      ],
      [{ filter: { expression: 'payload.total >' } }, {}, 'filter.expression'],
      [{ retry_policy: { max_attempts: 0 } }, {}, 'retry_policy.max_attempts'],
      [
        { retry_policy: { initial_delay_ms: 5000, max_delay_ms: 100 } },
        {},
        'retry_policy.max_delay_ms',
      ],
    ])('refuses %j %j naming %s', async (overrides, subscriber, field) => {
      const response = await subscribe(overrides, subscriber);
      expect(response.status).toBe(400);
      expect(response.body.error.details.map((d: any) => d.field)).toContain(field);
    });

    it('lists with filters, patches with If-Match, pauses, resumes and deletes', async () => {
      const a = (await subscribe()).body;
      await subscribe({ event_pattern: 'orders.created' }, { id: 'other' });
      const list = async (qs: string) => (await t.request('GET', `/v1/subscriptions?${qs}`)).body;
      expect((await list('')).pagination.total).toBe(2);
      expect((await list('subscriber_id=other')).subscriptions).toHaveLength(1);
      expect((await list('event_pattern=orders.*')).subscriptions).toHaveLength(1);
      const path = `/v1/subscriptions/${a.subscription_id}`;
      expect((await t.request('PATCH', path, { payload: { description: 'x' } })).status).toBe(428);
      const patched = await t.request('PATCH', path, {
        payload: { description: 'x', subscriber: { headers: { 'X-New': '1' } } },
        headers: { 'if-match': '"1"' },
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({
        description: 'x',
        revision: 2,
        subscriber: { endpoint: a.subscriber.endpoint, headers: { 'X-New': '1' } },
      });
      expect(
        (
          await t.request('PATCH', path, {
            payload: { description: 'y' },
            headers: { 'if-match': '"1"' },
          })
        ).status,
      ).toBe(412);
      expect((await t.request('POST', `${path}/pause`)).body.status).toBe('paused');
      expect((await list('status=paused')).subscriptions).toHaveLength(1);
      expect((await t.request('POST', `${path}/resume`)).body.status).toBe('active');
      expect((await t.request('DELETE', path)).status).toBe(204);
      expect((await t.request('GET', path)).status).toBe(404);
    });
  });

  describe('delivering', () => {
    it('POSTs the event with Standard Webhooks headers a receiver can verify, once', async () => {
      const { body: s } = await subscribe(
        {},
        {
          headers: { 'X-Shop': 'one' },
          authentication: { type: 'basic', credentials: 'user:pass' },
        },
      );
      // The trace comes in as W3C propagates it; the webhook continues it.
      const published = await t.request('POST', '/v1/events', {
        payload: { pattern: 'orders.created', payload: { id: 'o-1' } },
        headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      });
      expect(published.status).toBe(202);
      const eventId = published.body.eventId as string;
      await publish({ pattern: 'orders.cancelled' });
      await drain();
      expect(t.receiver.received).toHaveLength(2);
      const [first] = t.receiver.received;
      expect(JSON.parse(first!.body)).toMatchObject({
        eventId,
        pattern: 'orders.created',
        payload: { id: 'o-1' },
      });
      expect(first!.headers).toMatchObject({
        'content-type': 'application/json',
        'x-shop': 'one',
        authorization: `Basic ${Buffer.from('user:pass').toString('base64')}`,
        traceparent: expect.stringMatching(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/),
      });
      expect(
        verifySignature({
          headers: first!.headers as any,
          body: first!.body,
          secret: s.signing_secret,
          now: t.clock.now(),
        }),
      ).toEqual({ valid: true });
      const log = await deliveries(s.subscription_id);
      expect(log).toHaveLength(2);
      expect(log[0]).toMatchObject({
        outcome: 'delivered',
        status_code: 200,
        attempt: 1,
        latency_ms: expect.any(Number),
      });
      expect(
        (await t.request('GET', `/v1/events/${eventId}/deliveries`)).body.deliveries,
      ).toHaveLength(1);
    });

    it('retries a failing receiver until it succeeds, with the same webhook-id', async () => {
      const { body: s } = await subscribe();
      t.receiver.script.push(500, 502);
      await publish();
      await runRetries(2);
      expect(t.receiver.received.map((r) => r.headers['webhook-id'])).toEqual(
        Array(3).fill(t.receiver.received[0]!.headers['webhook-id']),
      );
      const log = await deliveries(s.subscription_id);
      expect(log.map((d: any) => [d.attempt, d.outcome, d.status_code])).toEqual([
        [3, 'delivered', 200],
        [2, 'failed', 502],
        [1, 'failed', 500],
      ]);
      expect(log[2].next_attempt_at).not.toBeNull();
      // The delivery log is the record: once delivered, the delivery's work row is gone.
      const { rows } = await t.db.query(
        `SELECT count(*)::int AS n FROM routing_work WHERE kind = 'delivery'`,
      );
      expect(rows).toEqual([{ n: 0 }]);
    });

    it('dead-letters after max attempts, and redelivers one or all', async () => {
      const { body: s } = await subscribe();
      t.receiver.script.push(500, 500, 500, 500, 500, 500);
      await publish();
      await publish();
      await runRetries(3);
      const dead = (await t.request('GET', `/v1/dead-letters?subscriptionId=${s.subscription_id}`))
        .body.deadLetters;
      expect(dead).toHaveLength(2);
      expect(dead[0]).toMatchObject({
        subscription_id: s.subscription_id,
        attempts: 3,
        error: expect.stringMatching(/500/),
      });
      expect((await t.request('POST', `/v1/dead-letters/${dead[0].id}/redeliver`)).status).toBe(
        202,
      );
      await drain();
      expect(t.receiver.received).toHaveLength(7);
      const bulk = await t.request(
        'POST',
        `/v1/subscriptions/${s.subscription_id}/dead-letters/redeliver`,
      );
      expect(bulk.body).toEqual({ requeued: 1 });
      await drain();
      expect(t.receiver.received).toHaveLength(8);
      expect((await t.request('GET', '/v1/dead-letters')).body.deadLetters).toEqual([]);
    });

    it('honours Retry-After', async () => {
      const { body: s } = await subscribe();
      t.receiver.script.push({ status: 429, headers: { 'retry-after': '7' } });
      await publish();
      await drain();
      const [attempt] = await deliveries(s.subscription_id);
      expect(Date.parse(attempt.next_attempt_at) - t.clock.now().getTime()).toBe(7000);
    });

    it('does not follow redirects', async () => {
      const { body: s } = await subscribe();
      t.receiver.script.push({ status: 302, headers: { location: `${t.receiver.url}/elsewhere` } });
      await publish();
      await drain();
      expect(t.receiver.received.map((r) => r.headers.host)).toHaveLength(1);
      expect((await deliveries(s.subscription_id))[0]).toMatchObject({
        outcome: 'failed',
        status_code: 302,
      });
    });

    it('disables the subscription on 410 and publishes subscription.disabled', async () => {
      const { body: s } = await subscribe();
      t.receiver.script.push(410);
      await publish();
      await drain();
      await publish();
      await drain();
      const read = (await t.request('GET', `/v1/subscriptions/${s.subscription_id}`)).body;
      expect(read).toMatchObject({
        status: 'disabled',
        disabled_reason: expect.stringMatching(/410/),
      });
      expect(t.receiver.received).toHaveLength(1);
      const events = (await t.request('GET', '/v1/events?pattern=subscription.disabled')).body
        .events;
      expect(events).toEqual([
        expect.objectContaining({
          payload: expect.objectContaining({ subscriptionId: s.subscription_id }),
          source: expect.objectContaining({ type: 'system' }),
        }),
      ]);
    });

    it('disables a subscription failing for longer than the allowed period', async () => {
      const { body: s } = await subscribe({
        retry_policy: { max_attempts: 50, initial_delay_ms: 1000, max_delay_ms: 86_400_000 },
      });
      t.receiver.script.push(...Array(20).fill(500));
      await publish();
      for (
        let i = 0;
        i < 8 &&
        (await t.request('GET', `/v1/subscriptions/${s.subscription_id}`)).body.status === 'active';
        i++
      ) {
        await drain();
        t.clock.advance(86_400_000);
      }
      expect((await t.request('GET', `/v1/subscriptions/${s.subscription_id}`)).body).toMatchObject(
        { status: 'disabled', disabled_reason: expect.stringMatching(/failing since/) },
      );
    });

    it('opens the circuit after failures, spends no attempts while open, probes half-open, closes on success', async () => {
      const { body: s } = await subscribe({
        retry_policy: { max_attempts: 10, initial_delay_ms: 10, max_delay_ms: 10 },
        circuit_breaker: { failure_threshold: 2, reset_timeout_ms: 60_000 },
      });
      t.receiver.script.push(500, 500);
      await publish();
      await publish();
      await drain();
      const state = async () =>
        (await t.request('GET', `/v1/subscriptions/${s.subscription_id}`)).body.circuit_breaker
          .state;
      expect(await state()).toBe('open');
      t.clock.advance(1000);
      await drain();
      expect(t.receiver.received).toHaveLength(2);
      const attemptsBefore = (await deliveries(s.subscription_id)).length;
      expect(attemptsBefore).toBe(2);
      // Half-open: one probe goes through and closes the circuit; the other waits its turn. The
      // probe's answer is slow, so the other delivery asks while the probe is still out (were it
      // to ask after the circuit closed, it would rightly go through at once).
      t.receiver.script.push({ status: 200, headers: {}, delayMs: 300 });
      t.clock.advance(60_000);
      await drain();
      expect(await state()).toBe('closed');
      expect(t.receiver.received).toHaveLength(3);
      t.clock.advance(60_000);
      await drain();
      expect(t.receiver.received).toHaveLength(4);
      const log = await deliveries(s.subscription_id);
      expect(log.filter((d: any) => d.outcome === 'delivered')).toHaveLength(2);
      expect(Math.max(...log.map((d: any) => d.attempt))).toBe(2);
    });

    it('stops a round’s later attempts once the circuit opens during it (a lane’s worth go out)', async () => {
      const { body: s } = await subscribe({
        retry_policy: { max_attempts: 10, initial_delay_ms: 5000, max_delay_ms: 5000 },
        circuit_breaker: { failure_threshold: 2, reset_timeout_ms: 60_000 },
      });
      t.receiver.status = 500;
      try {
        // One failure: the circuit is closed but the subscription is no longer healthy.
        await publish();
        await drain();
        expect(t.receiver.received).toHaveLength(1);
        for (let i = 0; i < 40; i++) await publish();
        await drain();
        // The round's attempts decide, send and settle in lanes (ROUTING_CONCURRENCY, 16): the
        // first failure settled opens the circuit, and the decisions after it defer.
        const sent = t.receiver.received.length - 1;
        expect(sent).toBeGreaterThan(0);
        expect(sent).toBeLessThanOrEqual(16);
        const pending = (await t.request('GET', `/v1/subscriptions/${s.subscription_id}/pending`))
          .body.pending;
        expect(pending.filter((p: any) => p.reason === 'circuit_open')).toHaveLength(40 - sent);
      } finally {
        t.receiver.status = 200;
      }
    });

    it('lists pending deliveries with their next attempt time and why they wait', async () => {
      const { body: s } = await subscribe({
        retry_policy: { max_attempts: 10, initial_delay_ms: 5000, max_delay_ms: 5000 },
        circuit_breaker: { failure_threshold: 2, reset_timeout_ms: 60_000 },
      });
      const pending = async () =>
        (await t.request('GET', `/v1/subscriptions/${s.subscription_id}/pending`)).body.pending;
      t.receiver.script.push(500);
      const first = await publish();
      await drain();
      expect(await pending()).toEqual([
        expect.objectContaining({
          event_id: first,
          reason: 'retry_backoff',
          attempts: 1,
          max_attempts: 10,
          last_error: expect.stringContaining('500'),
          next_attempt_at: expect.any(String),
        }),
      ]);
      const [waiting] = await pending();
      const due = Date.parse(waiting.next_attempt_at) - t.clock.now().getTime();
      expect(due).toBeGreaterThan(0);
      expect(due).toBeLessThanOrEqual(5000);
      // The second failure opens the circuit: the next delivery waits for the breaker.
      t.receiver.script.push(500);
      t.clock.advance(5000);
      await drain();
      const second = await publish();
      await drain();
      const byEvent = Object.fromEntries((await pending()).map((p: any) => [p.event_id, p]));
      expect(byEvent[second]).toMatchObject({ reason: 'circuit_open', attempts: 0 });
      expect(Date.parse(byEvent[second].next_attempt_at)).toBe(t.clock.now().getTime() + 60_000);
      expect(
        (await t.request('GET', '/v1/subscriptions/00000000-0000-4000-8000-000000000000/pending'))
          .status,
      ).toBe(404);
    });

    it("fans an event's deliveries out in one work row; each keeps its webhook-id across a crashed worker and retries", async () => {
      const failing = await startReceiver();
      failing.status = 500;
      try {
        const { body: a } = await subscribe();
        const { body: b } = await subscribe({}, { endpoint: `${failing.url}/hook` });
        const pendingOf = async (s: { subscription_id: string }) =>
          (await t.request('GET', `/v1/subscriptions/${s.subscription_id}/pending`)).body.pending;
        const eventId = await publish();
        // One work row holds both deliveries (the storage layout of issue #13's fan-out).
        const work = async () =>
          (await t.db.query('SELECT kind, status, attempts FROM routing_work ORDER BY kind')).rows;
        expect(await work()).toEqual([{ kind: 'fanout', status: 'pending', attempts: 0 }]);
        const [toA] = await pendingOf(a);
        const [toB] = await pendingOf(b);
        expect(toA).toMatchObject({ event_id: eventId, reason: 'queued', attempts: 0 });
        expect(toB).toMatchObject({ event_id: eventId, reason: 'queued', attempts: 0 });
        expect(toA.id).not.toBe(toB.id);

        // A worker claims them and dies: once its lease ran out, another sends them under the
        // same ids.
        await claimWork(t.db, 'dead-worker', t.clock.now(), 1_000, 10);
        expect(await pendingOf(a)).toEqual([
          expect.objectContaining({ id: toA.id, reason: 'in_flight' }),
        ]);
        t.clock.advance(1_001);
        await drain();
        expect(t.receiver.received.map((r) => r.headers['webhook-id'])).toEqual([toA.id]);
        expect(failing.received.map((r) => r.headers['webhook-id'])).toEqual([toB.id]);
        // The delivered one leaves no row; the failed one has a row of its own, retrying.
        expect(await pendingOf(a)).toEqual([]);
        expect(await pendingOf(b)).toEqual([
          expect.objectContaining({
            id: toB.id,
            event_id: eventId,
            reason: 'retry_backoff',
            attempts: 2,
          }),
        ]);
        expect(await work()).toEqual([{ kind: 'delivery', status: 'pending', attempts: 2 }]);

        failing.status = 200;
        await runRetries(1);
        expect(failing.received.map((r) => r.headers['webhook-id'])).toEqual([toB.id, toB.id]);
        expect(await work()).toEqual([]);
        expect((await deliveries(b.subscription_id)).map((d: any) => d.outcome)).toEqual([
          'delivered',
          'failed',
        ]);
      } finally {
        await failing.close();
      }
    });

    it('holds deliveries while paused without spending attempts', async () => {
      const { body: s } = await subscribe();
      await t.request('POST', `/v1/subscriptions/${s.subscription_id}/pause`);
      await publish();
      await drain();
      t.clock.advance(20_000);
      await drain();
      expect(t.receiver.received).toHaveLength(0);
      await t.request('POST', `/v1/subscriptions/${s.subscription_id}/resume`);
      t.clock.advance(20_000);
      await drain();
      expect(t.receiver.received).toHaveLength(1);
      expect((await deliveries(s.subscription_id))[0]).toMatchObject({
        attempt: 1,
        outcome: 'delivered',
      });
    });

    it('delivers only events that pass the filter', async () => {
      await subscribe({ filter: { expression: 'payload.total > 100' } });
      await publish({ payload: { total: 50 } });
      await publish({ payload: { total: 150 } });
      await drain();
      expect(t.receiver.received.map((r) => JSON.parse(r.body).payload.total)).toEqual([150]);
      // The filtered event made no attempt, so its work row stays as the record of why; the
      // delivered one is in the delivery log, and its row is gone.
      const { rows } = await t.db.query(
        `SELECT status, outcome->>'status' AS outcome FROM routing_work WHERE kind = 'delivery'`,
      );
      expect(rows).toEqual([{ status: 'done', outcome: 'filtered' }]);
    });

    it('signs with both secrets for a day after a rotation', async () => {
      const { body: s } = await subscribe();
      const rotated = await t.request(
        'POST',
        `/v1/subscriptions/${s.subscription_id}/rotate-secret`,
      );
      expect(rotated.body.signing_secret).not.toBe(s.signing_secret);
      await publish();
      await drain();
      const [request] = t.receiver.received;
      for (const secret of [s.signing_secret, rotated.body.signing_secret]) {
        expect(
          verifySignature({
            headers: request!.headers as any,
            body: request!.body,
            secret,
            now: t.clock.now(),
          }),
        ).toEqual({ valid: true });
      }
      t.clock.advance(25 * 3_600_000);
      await publish();
      await drain();
      const later = t.receiver.received[1]!;
      expect(
        verifySignature({
          headers: later.headers as any,
          body: later.body,
          secret: s.signing_secret,
          now: t.clock.now(),
        }).valid,
      ).toBe(false);
      expect(
        verifySignature({
          headers: later.headers as any,
          body: later.body,
          secret: rotated.body.signing_secret,
          now: t.clock.now(),
        }),
      ).toEqual({ valid: true });
    });

    it('replays stored events of a range, marked as replays', async () => {
      await publish({ timestamp: '2026-01-10T00:00:00Z' });
      const { body: s } = await subscribe();
      await drain();
      expect(t.receiver.received).toHaveLength(0);
      const replay = await t.request('POST', `/v1/subscriptions/${s.subscription_id}/replay`, {
        payload: { startTime: '2026-01-01T00:00:00Z', endTime: '2026-02-01T00:00:00Z' },
      });
      expect(replay.body).toEqual({ matched: 1, queued: 1 });
      await drain();
      expect(t.receiver.received).toHaveLength(1);
      expect(t.receiver.received[0]!.headers['x-eps-replay']).toBe('true');
      expect((await deliveries(s.subscription_id))[0].replay).toBe(true);
    });
  });
});
