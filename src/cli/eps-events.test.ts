import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../testing/backends.ts';
import { confirmed, eps, eventually, runEps, useBookingService } from '../testing/eps-process.ts';
import { openSse, type SseMessage } from '../testing/sse.ts';

const TSC = fileURLToPath(new URL('../../node_modules/.bin/tsc', import.meta.url));

/**
 * The event commands (`publish`, `events`, `tail`, `codegen`) and the raw event stream as real
 * processes against a real service. The routing commands (`trace`, `dlq`, `replay`) are in
 * eps-routing.test.ts: a file of their own, so that vitest runs the two at the same time.
 */
describe.each(testBackends())('eps event commands against a service on $name', (backend) => {
  const service = useBookingService(backend);
  let files: string;
  beforeAll(async () => {
    files = await mkdtemp(join(tmpdir(), 'eps-events-'));
  });
  afterAll(async () => {
    await rm(files, { recursive: true, force: true });
  });

  const get = async (path: string) => (await fetch(`${service.url}${path}`)).json() as Promise<any>;

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
    const good = join(files, 'good.ts');
    const bad = join(files, 'bad.ts');
    await writeFile(good, usage("{ bookingId: 'bk_1', customerId: 'cu_1', status: 'confirmed' }"));
    await writeFile(bad, usage("{ bookingId: 'bk_1', status: 'maybe' }"));
    // One tsc run over both files (each run costs seconds of CPU): it reports every error of
    // every file it reads, so errors in bad.ts alone mean good.ts and the generated types.ts
    // compile, as a run over good.ts alone exiting 0 would.
    const checked = await new Promise<{ code: number | null; output: string }>((resolve) => {
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
          'good.ts',
          'bad.ts',
        ],
        // In their folder, so that it names them bad.ts, not by a path relative to elsewhere.
        { cwd: files, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.on('close', (code) => resolve({ code, output }));
    });
    expect(checked.code).not.toBe(0);
    const errors = checked.output.split('\n').filter((line) => /error TS\d+/.test(line));
    expect(errors, checked.output).toContainEqual(expect.stringMatching(/^bad\.ts\(3,/));
    for (const error of errors) expect(error, checked.output).toMatch(/^bad\.ts\(/);
  }, 240_000);
});
