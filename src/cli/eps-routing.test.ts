import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../testing/backends.ts';
import { confirmed, eps, eventually, useBookingService } from '../testing/eps-process.ts';
import { startReceiver, type TestReceiver } from '../testing/receiver.ts';

/**
 * The routing commands (`trace`, `dlq`, `replay`) as real processes against a real service,
 * whose webhooks and workflow engines are real receivers.
 */
describe.each(testBackends())('eps routing commands against a service on $name', (backend) => {
  const service = useBookingService(backend);
  let receiver: TestReceiver;
  let files: string;
  beforeAll(async () => {
    files = await mkdtemp(join(tmpdir(), 'eps-routing-'));
    receiver = await startReceiver();
    // A webhook that answers 500 once: its delivery is dead after its one attempt.
    await writeFile(
      join(files, 'audit.yaml'),
      [
        'kind: Subscription',
        'name: audit-bookings',
        'event_pattern: bookings.created',
        `subscriber: { id: audit, type: webhook, endpoint: "${receiver.url}/audit" }`,
        'retry_policy: { max_attempts: 1 }',
      ].join('\n'),
    );
    const audit = await eps(service.url, 'apply', '-f', join(files, 'audit.yaml'));
    expect(audit.code, audit.stderr).toBe(0);
  });
  afterAll(async () => {
    await receiver?.close();
    await rm(files, { recursive: true, force: true });
  });

  const get = async (path: string) => (await fetch(`${service.url}${path}`)).json() as Promise<any>;
  const post = async (path: string, body: unknown) =>
    (
      await fetch(`${service.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    ).json() as Promise<any>;

  it('draws the correlation as a tree with the firings and deliveries of each event', async () => {
    receiver.script.push(500);
    const created = await eps(
      service.url,
      'publish',
      'bookings.created',
      '--data',
      confirmed('bk_trace'),
      '--source',
      'workflow:wf_1',
      '--event-id',
      'ev-trace',
    );
    expect(created.code, created.stderr).toBe(0);
    const cancelled = await eps(
      service.url,
      'publish',
      'bookings.cancelled',
      '--data',
      '{"bookingId":"bk_trace"}',
      '--source',
      'integration:crm',
      '--event-id',
      'ev-trace-cancel',
      '--correlation-id',
      'ev-trace',
      '--causation-id',
      'ev-trace',
    );
    expect(cancelled.code, cancelled.stderr).toBe(0);
    await eventually(async () => {
      const [firings, deliveries, cancelFirings] = await Promise.all([
        get('/v1/events/ev-trace/triggers'),
        get('/v1/events/ev-trace/deliveries'),
        get('/v1/events/ev-trace-cancel/triggers'),
      ]);
      return (
        firings.firings.some((f: any) => f.status === 'done') &&
        cancelFirings.firings.some((f: any) => f.status === 'done') &&
        deliveries.deliveries.some((d: any) => d.subscription_id && d.outcome === 'failed')
      );
    }, 'the firings and the failed delivery');

    const traced = await eps(service.url, 'trace', 'ev-trace-cancel');
    expect(traced.code, traced.stderr).toBe(0);
    const lines = traced.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('correlation ev-trace');
    expect(lines[1]).toMatch(
      /^bookings\.created@1\.0\.0 {2}ev-trace {2}\S+ {2}from workflow:wf_1$/,
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^├─ trigger start-booking-confirmation: started → instance [0-9a-f-]{36}$/,
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^├─ delivery audit-bookings: failed 500, 1 attempt/),
    );
    const child = lines.findIndex((line) =>
      line.startsWith('└─ bookings.cancelled@1.0.0  ev-trace-cancel'),
    );
    expect(child, traced.stdout).toBeGreaterThan(1);
    expect(lines[child]).toMatch(/◀$/);
    expect(lines.slice(child + 1)).toContainEqual(
      expect.stringMatching(
        /^ {3}(├|└)─ trigger cancel-booking-confirmation: cancelled → instance /,
      ),
    );

    const missing = await eps(service.url, 'trace', 'no-such-event');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: tracing no-such-event: .*not found/);
  }, 120_000);

  it('lists and redelivers the dead letters of every kind, each through its own retry', async () => {
    // Dead letters of each kind from one cancellation: a trigger whose engine answers 500, a
    // processor whose output its definition refuses, a wait whose URL answers 410 Gone; and a
    // delivery of the audit subscription that answers 500.
    const engine = await startReceiver();
    engine.status = 500;
    const gone = await startReceiver();
    gone.status = 410;
    try {
      await writeFile(
        join(files, 'dlq.yaml'),
        [
          'kind: WorkflowDefinition',
          'name: remote-refund',
          'version: 1.0.0',
          'executor: http',
          `executorUrl: "${engine.url}"`,
          '---',
          'kind: WorkflowTrigger',
          'name: start-remote-refund',
          'workflowDefinition: remote-refund@1.0.0',
          'eventPattern: bookings.cancelled',
          'triggerType: START',
          `eventCondition: "$.payload.reason == 'engine down'"`,
        ].join('\n'),
      );
      const applied = await eps(service.url, 'apply', '-f', join(files, 'dlq.yaml'));
      expect(applied.code, applied.stderr).toBe(0);
      const source = { type: 'integration', id: 'rebooking' };
      const processor = await post('/v1/event-processors?check=warn', {
        name: 'rebook-cancelled',
        eventPattern: 'bookings.cancelled',
        eventCondition: "payload.reason == 'engine down'",
        output: {
          pattern: 'bookings.created',
          payload: { bookingId: 'payload.bookingId' },
          source,
        },
      });
      expect(processor.id, JSON.stringify(processor)).toBeDefined();
      const wait = await post('/v1/waits', {
        pattern: 'bookings.cancelled',
        correlationKey: 'bk_dlq',
        correlationKeyPath: 'payload.bookingId',
        timeout: 'PT1H',
        notify: { url: `${gone.url}/resume` },
      });
      expect(wait.id, JSON.stringify(wait)).toBeDefined();

      receiver.script.push(500);
      for (const [pattern, data, eventId] of [
        ['bookings.created', confirmed('bk_dead'), 'ev-dead'],
        ['bookings.cancelled', '{"bookingId":"bk_dlq","reason":"engine down"}', 'ev-dlq'],
      ] as const) {
        const published = await eps(
          service.url,
          'publish',
          pattern,
          '--data',
          data,
          '--source',
          'workflow:wf_1',
          '--event-id',
          eventId,
        );
        expect(published.code, published.stderr).toBe(0);
      }
      const listed = async (...flags: string[]) => {
        const run = await eps(service.url, 'dlq', 'ls', '--json', ...flags);
        expect(run.code, run.stderr).toBe(0);
        return run.stdout
          .trimEnd()
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line));
      };
      const ours = (letters: any[]) =>
        letters.filter((l) => l.eventId === 'ev-dead' || l.eventId === 'ev-dlq');
      const dead = await eventually(async () => {
        const letters = ours(await listed());
        return letters.length === 4 && letters;
      }, 'a dead letter of each kind');
      const byKind = Object.fromEntries(dead.map((l: any) => [l.kind, l]));
      expect(byKind).toMatchObject({
        subscription: { eventId: 'ev-dead', attempts: 1, error: expect.stringMatching(/500/) },
        trigger: { eventId: 'ev-dlq', attempts: 3, error: expect.stringMatching(/500/) },
        processor: { eventId: 'ev-dlq', targetId: processor.id, attempts: 3 },
        wait: { id: wait.id, eventId: 'ev-dlq', attempts: 1, error: expect.stringMatching(/410/) },
      });

      const table = await eps(service.url, 'dlq', 'ls');
      expect(table.stdout).toMatch(
        /^KIND\s+ID\s+TARGET\s+EVENT ID\s+ATTEMPTS\s+DEAD SINCE\s+ERROR\n/,
      );
      const row = (kind: string) =>
        table.stdout.split('\n').find((line) => line.includes(byKind[kind].id));
      expect(row('subscription')).toMatch(/^subscription\s+\S+\s+audit-bookings\s+ev-dead\s+1\s/);
      expect(row('trigger')).toMatch(/^trigger\s+\S+\s+start-remote-refund\s+ev-dlq\s+3\s/);
      expect(row('processor')).toMatch(/^processor\s+\S+\s+rebook-cancelled\s+ev-dlq\s+3\s/);
      expect(row('wait')).toMatch(
        /^wait\s+\S+\s+bookings\.cancelled key=bk_dlq\s+ev-dlq\s+1\s+\S+\s+.*410/,
      );
      for (const kind of ['trigger', 'wait']) {
        expect((await listed('--kind', kind)).map((l) => l.kind)).toEqual([kind]);
      }
      expect((await eps(service.url, 'dlq', 'ls', '--kind', 'firing')).code).toBe(2);

      // One by id: each kind through its own retry, found without saying the kind.
      const deliveredBefore = receiver.received.length;
      const redelivered = await eps(service.url, 'dlq', 'redeliver', byKind.subscription.id);
      expect(redelivered).toMatchObject({
        code: 0,
        stdout: `subscription ${byKind.subscription.id} queued again\n`,
      });
      await eventually(
        async () =>
          receiver.received.slice(deliveredBefore).some((r) => r.body.includes('bk_dead')),
        'the redelivery',
      );
      const engineCalls = engine.received.length;
      const retried = await eps(service.url, 'dlq', 'redeliver', byKind.trigger.id);
      expect(retried).toMatchObject({
        code: 0,
        stdout: `trigger ${byKind.trigger.id} queued again\n`,
      });
      // The engine is called again, fails three times more, and the firing is dead again.
      await eventually(async () => {
        const [again] = await listed('--kind', 'trigger');
        return engine.received.length >= engineCalls + 3 && again?.id === byKind.trigger.id;
      }, 'the retried firing to fail again');
      const unknown = await eps(
        service.url,
        'dlq',
        'redeliver',
        '00000000-0000-4000-8000-000000000000',
      );
      expect(unknown).toMatchObject({
        code: 1,
        stderr: 'error: no dead letter 00000000-0000-4000-8000-000000000000\n',
      });
      expect((await eps(service.url, 'dlq', 'redeliver')).code).toBe(2);

      // Fixed where they failed, and every dead letter retried at once.
      gone.status = 200;
      const fixed = await fetch(`${service.url}/v1/event-processors/${processor.id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', 'if-match': `"${processor.revision}"` },
        body: JSON.stringify({
          output: {
            pattern: 'bookings.created',
            payload: { bookingId: 'payload.bookingId', customerId: 'payload.bookingId' },
            source,
          },
        }),
      });
      expect(fixed.status, await fixed.text()).toBe(200);
      const all = await eps(service.url, 'dlq', 'redeliver', '--all');
      expect(all.code, all.stderr).toBe(0);
      expect(all.stdout).toMatch(
        /^\d+ dead letters queued again: (\d+ subscription, )?1 trigger, 1 processor, 1 wait\n$/,
      );
      await eventually(
        async () => gone.received.some((r) => r.body.includes(wait.id)),
        'the wait notification',
      );
      await eventually(async () => {
        const { firings } = await get(`/v1/event-processors/${processor.id}/firings`);
        return firings[0]?.action === 'derived';
      }, 'the derived event');
      await eventually(
        async () => (await listed('--kind', 'wait')).length === 0,
        'no dead wait notification',
      );
      expect(await listed('--kind', 'processor')).toEqual([]);
    } finally {
      await engine.close();
      await gone.close();
    }
  }, 240_000);

  it('replays a time range to a subscription and a trigger', async () => {
    const replayedBefore = receiver.received.length;
    const replayed = await eps(
      service.url,
      'replay',
      'subscription/audit-bookings',
      '--since',
      '1h',
    );
    expect(replayed.code, replayed.stderr).toBe(0);
    const [, matched, queued] =
      /^subscription audit-bookings: (\d+) events matched, (\d+) queued\n$/.exec(replayed.stdout)!;
    expect(Number(matched)).toBeGreaterThanOrEqual(1);
    expect(queued).toBe(matched);
    await eventually(
      async () =>
        receiver.received
          .slice(replayedBefore)
          .some((r) => r.headers['x-eps-replay'] === 'true' && r.body.includes('bk_dead')),
      'a replayed delivery',
    );

    const fired = await eps(
      service.url,
      'replay',
      'start-booking-confirmation',
      '--since',
      'PT1H',
      '--force',
    );
    expect(fired.code, fired.stderr).toBe(0);
    expect(fired.stdout).toMatch(
      /^trigger start-booking-confirmation: [1-9]\d* events matched, [1-9]\d* queued\n$/,
    );
    const unknown = await eps(service.url, 'replay', 'nothing-here', '--since', '1h');
    expect(unknown).toMatchObject({
      code: 1,
      stderr: 'error: no trigger or subscription named nothing-here\n',
    });
    const badSince = await eps(service.url, 'replay', 'audit-bookings', '--since', 'yesterday');
    expect(badSince.code).toBe(2);
  }, 240_000);
});
