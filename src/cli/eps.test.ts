import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../testing/backends.ts';
import { eps, serviceOn } from '../testing/eps-process.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/booking', import.meta.url));

/** `eps` as a real process against a real service process, on every backend. */
describe.each(testBackends())('eps against a service on $name', (backend) => {
  let service: Awaited<ReturnType<typeof serviceOn>>;
  let files: string;
  beforeAll(async () => {
    files = await mkdtemp(join(tmpdir(), 'eps-files-'));
    await cp(EXAMPLES, files, { recursive: true });
    service = await serviceOn(backend);
  }, 200_000);
  afterAll(async () => {
    await service?.close();
    await rm(files, { recursive: true, force: true });
  });

  const edit = async (file: string, from: string, to: string) => {
    const path = join(files, file);
    const text = await readFile(path, 'utf8');
    expect(text).toContain(from);
    await writeFile(path, text.replace(from, to));
  };
  const get = async (path: string) => (await fetch(`${service.url}${path}`)).json() as Promise<any>;

  const send = async (method: string, path: string, body: unknown) => {
    const answer = await fetch(`${service.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(answer.status, await answer.clone().text()).toBeLessThan(300);
    return answer.json() as Promise<any>;
  };

  it('applies the booking flow, finds nothing to change, shows edited fields, applies them and prunes only what it manages', async () => {
    const first = await eps(service.url, 'apply', '-f', files);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('+ create    EventDefinition BookingEvents.created@1.0.0');
    expect(first.stdout).toContain('+ create    WorkflowTrigger start-booking-confirmation');
    expect(first.stdout).toContain('+ create    EventProcessor flag-high-value-bookings');
    // Dependency order: the processor's output definition is written before the processor.
    expect(first.stdout.indexOf('EventDefinition BookingEvents.high-value@1.0.0')).toBeLessThan(
      first.stdout.indexOf('EventProcessor flag-high-value-bookings'),
    );
    expect(first.stdout).toContain('Applied: 8 created, 0 updated, 0 deleted.');
    const [trigger] = (await get('/v1/workflow-triggers?name=start-booking-confirmation')).triggers;
    expect(trigger).toMatchObject({ priority: 1, labels: { 'eps.dev/managed-by': 'eps' } });
    const [processor] = (await get('/v1/event-processors?name=flag-high-value-bookings'))
      .processors;
    expect(processor).toMatchObject({
      eventPattern: 'bookings.created',
      output: { pattern: 'bookings.high-value', version: '1.0.0' },
      labels: { 'eps.dev/managed-by': 'eps' },
    });

    const clean = await eps(service.url, 'diff', '--exit-code', '-f', files);
    expect(clean).toMatchObject({ code: 0, stdout: 'No changes: 8 resources unchanged.\n' });

    await edit('workflows.yaml', 'priority: 1', 'priority: 7');
    await edit('processors.yaml', 'payload.amount > 1000', 'payload.amount > 2000');
    const expectedPlan = [
      '~ update    WorkflowTrigger start-booking-confirmation',
      '    priority: 1 → 7',
      '~ update    EventProcessor flag-high-value-bookings',
      `    eventCondition: "payload.status == 'confirmed' && payload.amount > 1000" → "payload.status == 'confirmed' && payload.amount > 2000"`,
    ];
    const changed = await eps(service.url, 'diff', '--exit-code', '-f', files);
    expect(changed.code).toBe(2);
    expect(changed.stdout).toBe(
      [...expectedPlan, 'Plan: 0 to create, 2 to update, 0 to delete, 6 unchanged.', ''].join('\n'),
    );
    const dryRun = await eps(service.url, 'apply', '--dry-run', '-f', files);
    expect(dryRun).toMatchObject({ code: 0, stdout: changed.stdout });
    expect((await get(`/v1/event-processors/${processor.id}`)).revision).toBe(processor.revision);

    // Resources apply did not create: one without the label, one labelled by another owner.
    const handMade = await send('POST', '/v1/event-processors', {
      name: 'hand-made-copy',
      eventPattern: 'bookings.created',
      output: {
        pattern: 'bookings.high-value',
        payload: {
          bookingId: 'payload.bookingId',
          customerId: 'payload.customerId',
          reason: { const: 'copy' },
        },
      },
    });
    const othersSubscription = await send('PUT', '/v1/by-name/subscriptions/other-repo-audit', {
      event_pattern: 'bookings.*',
      subscriber: { id: 'audit', type: 'queue', endpoint: 'audit.bookings' },
      labels: { 'eps.dev/managed-by': 'other-repo' },
    });
    const othersTrigger = await send('PUT', '/v1/by-name/workflow-triggers/unlabelled-start', {
      workflowDefinition: 'booking-confirmation@1.0.0',
      eventPattern: 'bookings.cancelled',
      triggerType: 'CANCEL',
      correlationKey: 'payload.bookingId',
    });

    await rm(join(files, 'subscriptions.yaml'));
    const pruned = await eps(service.url, 'apply', '--prune', '-f', files);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toBe(
      [
        ...expectedPlan,
        '- delete    Subscription billing-bookings',
        'Plan: 0 to create, 2 to update, 1 to delete, 5 unchanged.',
        'Applied: 0 created, 2 updated, 1 deleted.',
        '',
      ].join('\n'),
    );
    expect(
      (await get('/v1/workflow-triggers?name=start-booking-confirmation')).triggers[0],
    ).toMatchObject({
      priority: 7,
      revision: trigger.revision + 1,
    });
    expect((await get(`/v1/event-processors/${processor.id}`)).revision).toBe(
      processor.revision + 1,
    );
    expect((await get('/v1/subscriptions?name=billing-bookings')).subscriptions).toEqual([]);

    await rm(join(files, 'processors.yaml'));
    const prunedProcessor = await eps(service.url, 'apply', '--prune', '-f', files);
    expect(prunedProcessor).toMatchObject({
      code: 0,
      stdout: [
        '- delete    EventProcessor flag-high-value-bookings',
        'Plan: 0 to create, 0 to update, 1 to delete, 6 unchanged.',
        'Applied: 0 created, 0 updated, 1 deleted.',
        '',
      ].join('\n'),
    });
    expect((await get('/v1/event-processors?name=flag-high-value-bookings')).processors).toEqual(
      [],
    );
    // What apply did not create is still there, unchanged.
    expect(await get(`/v1/event-processors/${handMade.id}`)).toMatchObject({
      revision: handMade.revision,
    });
    expect(await get(`/v1/subscriptions/${othersSubscription.subscription_id}`)).toMatchObject({
      revision: othersSubscription.revision,
    });
    expect(await get(`/v1/workflow-triggers/${othersTrigger.id}`)).toMatchObject({
      revision: othersTrigger.revision,
    });

    const again = await eps(service.url, 'apply', '--prune', '-f', files);
    expect(again).toMatchObject({ code: 0, stdout: 'No changes: 6 resources unchanged.\n' });
  }, 240_000);

  it('validate --against reports an incompatible change to a released version and passes a compatible one', async () => {
    const room = (version: string, properties: string) =>
      [
        'kind: EventDefinition',
        'event_id: Rooms.reserved',
        'name: Room reserved',
        'pattern: rooms.reserved',
        `version: ${version}`,
        'payload_schema:',
        '  type: object',
        '  required: [roomId]',
        `  properties: ${properties}`,
      ].join('\n');
    const released = join(files, 'rooms.yaml');
    await writeFile(
      released,
      room('1.0.0', '{ roomId: { type: string }, nights: { type: integer, minimum: 1 } }'),
    );
    const applied = await eps(service.url, 'apply', '-f', released);
    expect(applied.code, applied.stderr).toBe(0);
    expect((await get('/v1/event-definitions?pattern=rooms.reserved')).definitions).toMatchObject([
      { version: '1.0.0', status: 'active' },
    ]);
    const next = join(files, 'rooms-next.yaml');
    try {
      // roomId becomes a number: data written with 1.0.0 cannot be read with 1.1.0.
      await writeFile(
        next,
        room('1.1.0', '{ roomId: { type: integer }, nights: { type: integer, minimum: 1 } }'),
      );
      const offline = await eps('http://127.0.0.1:9', 'validate', '-f', next);
      expect(offline).toMatchObject({ code: 0, stdout: '1 resources valid.\n' });
      const breaking = await eps(service.url, 'validate', '-f', next, '--against', service.url);
      expect(breaking.code).toBe(1);
      expect(breaking.stdout).toBe('');
      // The line of the schema's first field, its change as the service's check words it.
      expect(breaking.stderr).toBe(
        [
          'error: 1 problem in the files',
          `  ${next}:7: EventDefinition Rooms.reserved@1.1.0 payload_schema#/properties/roomId: TYPE_CHANGED against 1.0.0 (BACKWARD, backward)`,
          '',
        ].join('\n'),
      );
      // A loosened bound is compatible.
      await writeFile(
        next,
        room('1.1.0', '{ roomId: { type: string }, nights: { type: integer } }'),
      );
      const compatible = await eps(service.url, 'validate', '-f', next, '--against', service.url);
      expect(compatible).toMatchObject({ code: 0, stdout: '1 resources valid.\n', stderr: '' });
    } finally {
      await rm(next, { force: true });
      await rm(released);
    }
  }, 120_000);

  it('names file and line of every bad document and applies nothing', async () => {
    const bad = join(files, 'bad.yaml');
    await writeFile(
      bad,
      ['kind: Workflow', '---', 'kind: WorkflowTrigger', 'name: Not A Name', '---', 'a: [1'].join(
        '\n',
      ),
    );
    try {
      const result = await eps(service.url, 'apply', '-f', bad);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(`${bad}:1: kind must be one of EventDefinition`);
      expect(result.stderr).toContain(`${bad}:4: name must be lowercase letters`);
      expect(result.stderr).toMatch(new RegExp(`${bad}:[67]: `));
    } finally {
      await rm(bad);
    }
  }, 60_000);

  it('prints the error envelope as field: message and exits 1', async () => {
    const bad = join(files, 'invalid.yaml');
    await writeFile(
      bad,
      [
        'kind: WorkflowTrigger',
        'name: broken',
        'workflowDefinition: nowhere@9.9.9',
        'eventPattern: bookings.created',
        'triggerType: START',
      ].join('\n'),
    );
    try {
      const result = await eps(service.url, 'apply', '-f', bad);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^error: create WorkflowTrigger broken: .+\n {2}workflowDefinition: .+/m,
      );
    } finally {
      await rm(bad);
    }
  }, 60_000);
});
