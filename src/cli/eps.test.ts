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

  it('applies the booking flow, finds nothing to change, shows an edited field, applies it and prunes', async () => {
    const first = await eps(service.url, 'apply', '-f', files);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('+ create    EventDefinition BookingEvents.created@1.0.0');
    expect(first.stdout).toContain('+ create    WorkflowTrigger start-booking-confirmation');
    expect(first.stdout).toContain('Applied: 6 created, 0 updated, 0 deleted.');
    const [trigger] = (await get('/v1/workflow-triggers?name=start-booking-confirmation')).triggers;
    expect(trigger).toMatchObject({ priority: 1, labels: { 'eps.dev/managed-by': 'eps' } });

    const clean = await eps(service.url, 'diff', '--exit-code', '-f', files);
    expect(clean).toMatchObject({ code: 0, stdout: 'No changes: 6 resources unchanged.\n' });

    await edit('workflows.yaml', 'priority: 1', 'priority: 7');
    const changed = await eps(service.url, 'diff', '--exit-code', '-f', files);
    expect(changed.code).toBe(2);
    expect(changed.stdout).toBe(
      [
        '~ update    WorkflowTrigger start-booking-confirmation',
        '    priority: 1 → 7',
        'Plan: 0 to create, 1 to update, 0 to delete, 5 unchanged.',
        '',
      ].join('\n'),
    );

    await rm(join(files, 'subscriptions.yaml'));
    const pruned = await eps(service.url, 'apply', '--prune', '-f', files);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toContain('- delete    Subscription billing-bookings');
    expect(pruned.stdout).toContain('Applied: 0 created, 1 updated, 1 deleted.');
    expect(
      (await get('/v1/workflow-triggers?name=start-booking-confirmation')).triggers[0],
    ).toMatchObject({
      priority: 7,
      revision: trigger.revision + 1,
    });
    expect((await get('/v1/subscriptions?name=billing-bookings')).subscriptions).toEqual([]);

    const again = await eps(service.url, 'apply', '--prune', '-f', files);
    expect(again).toMatchObject({ code: 0, stdout: 'No changes: 5 resources unchanged.\n' });
  }, 240_000);

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
