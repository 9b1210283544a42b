import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../testing/backends.ts';
import { eps, runEps, serviceOn } from '../testing/eps-process.ts';
import { startReceiver, type TestReceiver } from '../testing/receiver.ts';
import { openSse, type SseMessage } from '../testing/sse.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/booking', import.meta.url));
const TSC = fileURLToPath(new URL('../../node_modules/.bin/tsc', import.meta.url));

const confirmed = (bookingId: string) =>
  JSON.stringify({ bookingId, customerId: 'cu_1', amount: 120, status: 'confirmed' });

/** Waits until `check` answers something truthy (the routing works asynchronously). */
async function eventually<T>(check: () => Promise<T | undefined | false>, what: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The event commands (`publish`, `events`, `trace`, …) as real processes against a real service. */
describe.each(testBackends())('eps event commands against a service on $name', (backend) => {
  let service: Awaited<ReturnType<typeof serviceOn>>;
  let receiver: TestReceiver;
  let files: string;
  beforeAll(async () => {
    files = await mkdtemp(join(tmpdir(), 'eps-events-'));
    receiver = await startReceiver();
    // The tests poll the management API while the routing works; the per-minute limits of a
    // management class (60) are not what they test.
    service = await serviceOn(backend, {
      EGRESS_ALLOWLIST: '127.0.0.1',
      RATE_LIMIT_TRIGGERS: '0',
      RATE_LIMIT_SUBSCRIPTIONS: '0',
    });
    const applied = await eps(service.url, 'apply', '-f', EXAMPLES);
    expect(applied.code, applied.stderr).toBe(0);
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
  }, 200_000);
  afterAll(async () => {
    await service?.close();
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

  it('publishes from --data, a file and standard input, prints the receipt, and reports refusals', async () => {
    const byFlags = [
      'publish',
      'bookings.created',
      '--data',
      confirmed('bk_flag'),
      '--source',
      'workflow:wf_1',
      '--event-id',
      'ev-flag',
      '--tag',
      'team=sales',
    ];
    const fromFlag = await eps(service.url, ...byFlags);
    expect(fromFlag).toMatchObject({ code: 0, stderr: '' });
    expect(fromFlag.stdout).toMatch(/^accepted ev-flag at \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
    expect(await get('/v1/events/ev-flag')).toMatchObject({
      payload: { bookingId: 'bk_flag' },
      source: { type: 'workflow', id: 'wf_1' },
      metadata: { tags: { team: 'sales' } },
    });

    // The same eventId again: idempotent, answered as a duplicate.
    const again = await eps(service.url, ...byFlags, '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ eventId: 'ev-flag', status: 'duplicate' });

    const file = join(files, 'payload.json');
    await writeFile(file, confirmed('bk_file'));
    const fromFile = await eps(
      service.url,
      'publish',
      'bookings.created',
      '-f',
      file,
      '--source',
      'integration:crm',
    );
    expect(fromFile.code, fromFile.stderr).toBe(0);
    const fileEventId = /^accepted (\S+) at/.exec(fromFile.stdout)![1]!;
    expect((await get(`/v1/events/${fileEventId}`)).payload.bookingId).toBe('bk_file');

    const fromStdin = await runEps(
      service.url,
      ['publish', 'bookings.cancelled', '--source', 'integration:crm', '--event-id', 'ev-stdin'],
      {},
      JSON.stringify({ bookingId: 'bk_file', reason: 'changed plans' }),
    ).exited;
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    expect((await get('/v1/events/ev-stdin')).payload.reason).toBe('changed plans');

    const invalid = await eps(
      service.url,
      'publish',
      'bookings.created',
      '--data',
      '{"bookingId": 1}',
      '--source',
      'workflow:wf_1',
    );
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toBe('');
    expect(invalid.stderr).toMatch(/^error: publishing bookings.created: .+\n/);
    expect(invalid.stderr).toContain('  payload.customerId: ');
    expect(invalid.stderr).toContain('  payload.bookingId: ');

    const misuse = await eps(service.url, 'publish', 'bookings.created', '--source', 'crm');
    expect(misuse.code).toBe(2);
    expect(misuse.stderr).toContain('--source crm: expected type:id');
  }, 120_000);

  it('lists events as a table or JSON lines, filtered like GET /v1/events', async () => {
    for (const id of ['ev-list-1', 'ev-list-2']) {
      const published = await eps(
        service.url,
        'publish',
        'bookings.created',
        '--data',
        confirmed(id),
        '--source',
        'workflow:lister',
        '--event-id',
        id,
        '--correlation-id',
        'corr-list',
      );
      expect(published.code, published.stderr).toBe(0);
    }
    const listed = await eps(service.url, 'events', 'bookings.*', '--source', 'workflow:lister');
    expect(listed.code, listed.stderr).toBe(0);
    const [header, ...rows] = listed.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^TIME\s+EVENT ID\s+PATTERN\s+VERSION\s+SOURCE\s+PAYLOAD$/);
    expect(rows.map((row) => row.split(/\s+/)[1])).toEqual(['ev-list-2', 'ev-list-1']);
    expect(rows[0]).toContain('bookings.created  1.0.0    workflow:lister');

    const json = await eps(
      service.url,
      'events',
      '--correlation-id',
      'corr-list',
      '--order',
      'asc',
      '--since',
      '1h',
      '--json',
    );
    expect(json.code, json.stderr).toBe(0);
    const lines = json.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((e) => e.eventId)).toEqual(['ev-list-1', 'ev-list-2']);

    const none = await eps(
      service.url,
      'events',
      '--until',
      '1h',
      '--json',
      '--source',
      'workflow:lister',
    );
    expect(none).toMatchObject({ code: 0, stdout: '' });
    const limited = await eps(service.url, 'events', '--limit', '1', '--json');
    expect(limited.stdout.trimEnd().split('\n')).toHaveLength(1);
  }, 120_000);

  it('tails events as they commit and resumes across a service restart and its own restart, with no gap and no duplicate', async () => {
    const publish = async (eventId: string) => {
      const answer = await fetch(`${service.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          eventId,
          pattern: 'bookings.cancelled',
          source: { type: 'integration', id: 'tail' },
          payload: { bookingId: eventId },
        }),
      });
      expect(answer.status, await answer.text()).toBe(202);
    };
    const eventIds = (stdout: string) =>
      stdout
        .trimEnd()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line).eventId);
    const waitFor = (tail: ReturnType<typeof runEps>, ids: string[]) =>
      eventually(
        async () => eventIds(tail.stdout()).length >= ids.length,
        `${ids.join(', ')} in ${tail.stdout()} / ${tail.stderr()}`,
      );
    const resumeFile = join(files, 'tail.position');
    const tail = () =>
      runEps(service.url, [
        'tail',
        'bookings.cancelled',
        '--source',
        'integration:tail',
        '--resume-file',
        resumeFile,
        '--json',
      ]);

    const first = tail();
    await eventually(async () => first.stderr().includes('following events'), 'tail to connect');
    await publish('tail-a');
    await publish('tail-b');
    await waitFor(first, ['tail-a', 'tail-b']);

    // The service goes away under a running tail and comes back on the same address.
    await service.restart({ samePort: true });
    await publish('tail-c');
    await waitFor(first, ['tail-a', 'tail-b', 'tail-c']);
    expect(first.stderr()).toMatch(/reconnecting/);

    // tail itself is killed without warning; events committed meanwhile come with the next one.
    // It prints an event, then records its position: killed between the two it prints that event
    // again (at least once, as documented), so the kill waits until tail-c's position is on file.
    // Without this wait a loaded machine could stall tail in that gap and the next tail would
    // repeat tail-c, which is the resume file's documented behaviour and not a stream duplicate.
    const positions = await openSse(
      `${service.url}/v1/events/stream?after=0-0&pattern=bookings.cancelled&source.id=tail`,
    );
    const [, , tailC] = await positions.waitFor(3, 60_000);
    positions.close();
    expect(JSON.parse(tailC!.data).eventId).toBe('tail-c');
    await eventually(
      async () => (await readFile(resumeFile, 'utf8')).trim() === tailC!.id,
      "tail-c's position in the resume file",
    );
    first.child.kill('SIGKILL');
    await first.exited;
    await publish('tail-d');
    await publish('tail-e');
    const second = tail();
    await waitFor(second, ['tail-d', 'tail-e']);
    expect(second.stderr()).toMatch(/following events after \d+-\d+/);
    await publish('tail-f');
    await waitFor(second, ['tail-d', 'tail-e', 'tail-f']);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);

    expect(eventIds(first.stdout())).toEqual(['tail-a', 'tail-b', 'tail-c']);
    expect(eventIds(second.stdout())).toEqual(['tail-d', 'tail-e', 'tail-f']);

    // Plain lines, and --count: stops by itself after that many events.
    const counted = runEps(service.url, ['tail', 'bookings.*', '--after', '0-0', '--count', '2']);
    const { code, stdout } = await counted.exited;
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^\S+Z {2}bookings\.(created|cancelled)@1\.0\.0 {2}\S+ {2}\S+:\S+ {2}\{/,
    );
  }, 240_000);

  it('resumes a raw SSE stream with Last-Event-ID across a SIGKILL of the service, with no gap and no duplicate', async () => {
    const publish = async (eventId: string) => {
      const answer = await fetch(`${service.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          eventId,
          pattern: 'bookings.cancelled',
          source: { type: 'integration', id: 'raw-sse' },
          payload: { bookingId: eventId },
        }),
      });
      expect(answer.status, await answer.text()).toBe(202);
    };
    const stream = (headers: Record<string, string> = {}, query = '') =>
      openSse(
        `${service.url}/v1/events/stream?pattern=bookings.cancelled&source.id=raw-sse${query}`,
        headers,
      );
    const eventIds = (messages: SseMessage[]) => messages.map((m) => JSON.parse(m.data).eventId);

    await publish('raw-1');
    await publish('raw-2');
    // From the start of the store: only this test's events pass the filters.
    const before = await stream({}, '&after=0-0');
    expect(before.status).toBe(200);
    const [first, second] = await before.waitFor(2, 60_000);
    expect(eventIds([first!, second!])).toEqual(['raw-1', 'raw-2']);
    before.close();
    // Committed while nobody listens, then the service dies without a chance to clean up.
    await publish('raw-3');
    await service.restart({ signal: 'SIGKILL' });
    await publish('raw-4');

    // Resumed after raw-1: raw-2 again (the reader said it had only raw-1), then what it missed.
    const resumed = await stream({ 'last-event-id': first!.id! });
    expect(resumed.status).toBe(200);
    await resumed.waitFor(3, 60_000);
    await publish('raw-5');
    await resumed.waitFor(4, 60_000);
    expect(eventIds(resumed.messages)).toEqual(['raw-2', 'raw-3', 'raw-4', 'raw-5']);
    // Positions survive the crash: raw-2 has the id it had before.
    expect(resumed.messages[0]!.id).toBe(second!.id);
    const byQuery = await stream({}, `&after=${resumed.messages[1]!.id}`);
    await byQuery.waitFor(2, 60_000);
    expect(eventIds(byQuery.messages)).toEqual(['raw-4', 'raw-5']);
    resumed.close();
    byQuery.close();
  }, 240_000);

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

  it('generates payload types and a publish() the compiler checks', async () => {
    const out = join(files, 'types.ts');
    const generated = await eps(service.url, 'codegen', '--out', out);
    expect(generated).toMatchObject({ code: 0, stdout: `${out}: 3 payload types\n` });
    const usage = (payload: string) =>
      [
        "import { typedPublish, type EventPayload } from './types';",
        'const publish = typedPublish(async () => ({ eventId: "e", status: "accepted", timestamp: "t" }));',
        `void publish('bookings.created', ${payload});`,
        "const cancelled: EventPayload<'bookings.cancelled'> = { bookingId: 'bk_1' };",
        'void cancelled;',
      ].join('\n');
    const tsc = (file: string) =>
      new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn(
          TSC,
          [
            '--noEmit',
            '--strict',
            '--target',
            'es2022',
            '--module',
            'esnext',
            '--moduleResolution',
            'bundler',
            file,
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let output = '';
        child.stdout.on('data', (chunk) => (output += chunk));
        child.on('close', (code) => resolve({ code, output }));
      });
    await writeFile(
      join(files, 'good.ts'),
      usage("{ bookingId: 'bk_1', customerId: 'cu_1', status: 'confirmed' }"),
    );
    await writeFile(join(files, 'bad.ts'), usage("{ bookingId: 'bk_1', status: 'maybe' }"));
    const good = await tsc(join(files, 'good.ts'));
    expect(good, good.output).toMatchObject({ code: 0 });
    const bad = await tsc(join(files, 'bad.ts'));
    expect(bad.code).not.toBe(0);
    expect(bad.output).toMatch(/bad\.ts\(3,/);
    // Two tsc runs: on a loaded machine each takes most of a minute.
  }, 240_000);
});
