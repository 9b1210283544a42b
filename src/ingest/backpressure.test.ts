import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';

describe.each(testBackends())('backpressure on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    const { ingest } = loadConfig({});
    t = await startTestApp(backend, {
      ingest: {
        ...ingest,
        queue: { ...ingest.queue, highWatermark: 2, maxQueueDepth: 3, concurrentCommits: 1 },
      },
    });
    await t.request('POST', '/v1/event-definitions', { payload: openDefinition('load.test') });
  });
  afterAll(() => t.close());

  /** Holds the events table until `release` is called: commits queue up behind it. */
  async function blockWrites(): Promise<() => Promise<void>> {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = t.db.transaction(async (tx) => {
      await tx.exec('LOCK TABLE event_ids IN EXCLUSIVE MODE');
      locked();
      await released;
    });
    await isLocked;
    return async () => {
      release();
      await holder;
    };
  }

  it('answers 503 overloaded above the high watermark, and stores every event it answered 202', async () => {
    const publish = (i: number) =>
      t.request('POST', '/v1/events', {
        payload: { eventId: `load-${i}`, pattern: 'load.test', payload: { i } },
      });
    // The definition is resolved (and cached) before the store is blocked.
    expect((await publish(-1)).status).toBe(202);
    const release = await blockWrites();
    const pending = Array.from({ length: 8 }, (_, i) => publish(i));
    const responses = await Promise.race([
      Promise.all(pending),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 500)),
    ]);
    // The first requests wait for their commit; the rest were refused without waiting.
    expect(responses).toBeUndefined();
    await release();
    const settled = await Promise.all(pending);
    const overloaded = settled.filter((r) => r.status === 503);
    const accepted = settled.filter((r) => r.status === 202);
    expect(overloaded.length).toBeGreaterThan(0);
    expect(accepted.length).toBeGreaterThan(0);
    expect(accepted.length + overloaded.length).toBe(8);
    expect(overloaded[0]!.body.error.code).toBe('overloaded');
    expect(overloaded[0]!.headers['retry-after']).toBe('1');
    for (const response of accepted) {
      expect((await t.request('GET', `/v1/events/${response.body.eventId}`)).status).toBe(200);
    }
  });
});
