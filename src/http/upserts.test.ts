import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { bookingDefinition } from '../testing/fixtures.ts';

/**
 * Natural keys and upserts of every revisioned resource: `PUT …/by-name/…` creates (201) or
 * replaces (200), honours If-Match when sent, and a write that changes nothing — PUT or PATCH —
 * answers 200 with the same revision and ETag.
 */
describe.each(testBackends())('natural keys and upserts on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend);
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await t.reset();
    expect(
      (await t.request('POST', '/v1/event-definitions', { payload: bookingDefinition() })).status,
    ).toBe(201);
  });

  const put = (url: string, payload: unknown, ifMatch?: string) =>
    t.request('PUT', url, { payload, headers: ifMatch ? { 'if-match': ifMatch } : {} });
  const patch = (url: string, payload: unknown, ifMatch = '*') =>
    t.request('PATCH', url, { payload, headers: { 'if-match': ifMatch } });

  const workflow = { description: 'confirms bookings', labels: { team: 'bookings' } };
  const trigger = {
    workflowDefinition: 'confirm-booking',
    eventPattern: 'bookings.created',
    triggerType: 'START',
    eventCondition: "payload.status == 'confirmed'",
  };
  const subscription = {
    event_pattern: 'bookings.*',
    subscriber: { id: 'billing', type: 'queue', endpoint: 'billing.bookings' },
    signing_secret: `whsec_${Buffer.alloc(32, 7).toString('base64')}`,
  };

  it('workflow definitions: PUT by name and version creates, then replaces; ?name= lists its versions', async () => {
    const url = '/v1/workflow-definitions/by-name/confirm-booking/1.0.0';
    const created = await put(url, workflow);
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/v1/workflow-definitions/${created.body.id}`);
    expect(created.body).toMatchObject({ name: 'confirm-booking', version: '1.0.0', revision: 1 });

    const again = await put(url, workflow);
    expect(again.status).toBe(200);
    expect(again.body.revision).toBe(1);
    expect(again.headers.etag).toBe('"1"');

    const replaced = await put(url, { labels: { team: 'bookings' } });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ description: '', revision: 2 });

    expect((await put('/v1/workflow-definitions/by-name/confirm-booking/2.0.0', {})).status).toBe(
      201,
    );
    expect((await put('/v1/workflow-definitions/by-name/other/1.0.0', {})).status).toBe(201);
    const listed = await t.request('GET', '/v1/workflow-definitions?name=confirm-booking');
    expect(listed.body.workflowDefinitions.map((d: any) => d.version).sort()).toEqual([
      '1.0.0',
      '2.0.0',
    ]);
    expect(listed.body.pagination.total).toBe(2);
  });

  it('PUT honours If-Match when sent: stale → 412, current → applied, on a missing resource → 412', async () => {
    const url = '/v1/workflow-definitions/by-name/confirm-booking/1.0.0';
    expect((await put(url, workflow, '"1"')).status).toBe(412);
    await put(url, workflow);
    expect((await put(url, { description: 'x' }, '"7"')).status).toBe(412);
    const applied = await put(url, { description: 'x' }, '"1"');
    expect(applied.status).toBe(200);
    expect(applied.body.revision).toBe(2);
  });

  it('triggers: PUT by name resolves name@version or the highest version, and unchanged keeps the revision', async () => {
    const v1 = await put('/v1/workflow-definitions/by-name/confirm-booking/1.0.0', {});
    const v2 = await put('/v1/workflow-definitions/by-name/confirm-booking/1.10.0', {});
    await put('/v1/workflow-definitions/by-name/confirm-booking/1.9.0', {});
    const url = '/v1/workflow-triggers/by-name/start-confirmation';
    const created = await put(url, trigger);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'start-confirmation',
      workflowDefinitionId: v2.body.id,
      revision: 1,
    });
    const same = await put(url, trigger);
    expect(same.status).toBe(200);
    expect(same.body.revision).toBe(1);

    const pinned = await put(url, { ...trigger, workflowDefinition: 'confirm-booking@1.0.0' });
    expect(pinned.body).toMatchObject({ workflowDefinitionId: v1.body.id, revision: 2 });

    const byName = await t.request('GET', '/v1/workflow-triggers?name=start-confirmation');
    expect(byName.body.triggers).toHaveLength(1);
    expect(byName.body.triggers[0].id).toBe(created.body.id);

    const unknown = await put(url, { ...trigger, workflowDefinition: 'nope@1.0.0' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.details[0].field).toBe('workflowDefinition');
  });

  it('triggers: names are unique and well-formed; POST takes a name and a workflow reference', async () => {
    await put('/v1/workflow-definitions/by-name/confirm-booking/1.0.0', {});
    const first = await t.request('POST', '/v1/workflow-triggers', {
      payload: { ...trigger, name: 'one' },
    });
    expect(first.status).toBe(201);
    const taken = await t.request('POST', '/v1/workflow-triggers', {
      payload: { ...trigger, name: 'one' },
    });
    expect(taken.status).toBe(409);
    expect(taken.body.error.details[0].field).toBe('name');
    const malformed = await put('/v1/workflow-triggers/by-name/Not_Valid', trigger);
    expect(malformed.status).toBe(400);
    const neither = await t.request('POST', '/v1/workflow-triggers', {
      payload: { eventPattern: 'bookings.created', triggerType: 'START' },
    });
    expect(neither.status).toBe(400);
    expect(neither.body.error.details[0].field).toBe('workflowDefinitionId');
  });

  it('subscriptions: PUT by name keeps a supplied secret write-only, and an apply without it keeps it', async () => {
    const url = '/v1/subscriptions/by-name/billing';
    const created = await put(url, subscription);
    expect(created.status).toBe(201);
    expect(created.body.signing_secret).toBeUndefined();
    expect(created.body).toMatchObject({ name: 'billing', revision: 1 });

    const same = await put(url, subscription);
    expect(same.status).toBe(200);
    expect(same.body.revision).toBe(1);
    const { signing_secret: _omitted, ...withoutSecret } = subscription;
    const kept = await put(url, withoutSecret);
    expect(kept.status).toBe(200);
    expect(kept.body.revision).toBe(1);
    const stored = await t.app.server.inject({
      method: 'GET',
      url: `/v1/subscriptions/${created.body.subscription_id}`,
    });
    expect(stored.body).not.toContain('whsec_');

    const generated = await put('/v1/subscriptions/by-name/audit', withoutSecret);
    expect(generated.status).toBe(201);
    expect(generated.body.signing_secret).toMatch(/^whsec_/);

    const bad = await put(url, { ...subscription, signing_secret: 'whsec_short' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('signing_secret');

    const changed = await put(url, { ...withoutSecret, description: 'to billing' });
    expect(changed.body.revision).toBe(2);
    const listed = await t.request('GET', '/v1/subscriptions?name=billing');
    expect(listed.body.subscriptions.map((s: any) => s.name)).toEqual(['billing']);
  });

  it('a PATCH that changes nothing answers 200 with the same revision and ETag, for every resource', async () => {
    const definition = await t.request('GET', '/v1/event-definitions/bookings.created');
    const wf = await put('/v1/workflow-definitions/by-name/confirm-booking/1.0.0', workflow);
    const tr = await put('/v1/workflow-triggers/by-name/start-confirmation', trigger);
    const sub = await put('/v1/subscriptions/by-name/billing', subscription);
    const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
      [
        `/v1/event-definitions/${definition.body.id}`,
        { name: definition.body.name, ui_metadata: definition.body.ui_metadata, status: 'active' },
        { description: 'changed' },
      ],
      [
        `/v1/workflow-definitions/${wf.body.id}`,
        { description: workflow.description },
        { description: 'changed' },
      ],
      [
        `/v1/workflow-triggers/${tr.body.id}`,
        { eventCondition: trigger.eventCondition, enabled: true },
        { enabled: false },
      ],
      [
        `/v1/subscriptions/${sub.body.subscription_id}`,
        {
          event_pattern: 'bookings.*',
          retry_policy: { max_attempts: 5 },
          signing_secret: subscription.signing_secret,
        },
        { event_pattern: 'bookings.created' },
      ],
    ];
    for (const [url, unchanged, change] of cases) {
      const before = await t.request('GET', url);
      const same = await patch(url, unchanged, before.headers.etag as string);
      expect(same.status, url).toBe(200);
      expect(same.headers.etag, url).toBe(before.headers.etag);
      expect(same.body.revision, url).toBe(before.body.revision);
      expect(same.body.updated_at ?? same.body.updatedAt, url).toBe(
        before.body.updated_at ?? before.body.updatedAt,
      );
      // A stale If-Match is still refused, changed or not.
      expect((await patch(url, unchanged, '"999"')).status, url).toBe(412);
      const changed = await patch(url, change, before.headers.etag as string);
      expect(changed.status, url).toBe(200);
      expect(changed.body.revision, url).toBe(before.body.revision + 1);
    }
  });
});
