import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { openSse, type SseConnection } from '../testing/sse.ts';

describe.each(testBackends())('the live event stream on $name', (backend) => {
  let t: TestApp;
  let base: string;
  const open: SseConnection[] = [];
  const sse = async (query = '', headers: Record<string, string> = {}) => {
    const connection = await openSse(`${base}/v1/events/stream${query}`, headers);
    open.push(connection);
    return connection;
  };
  const publish = async (eventId: string, extra: Record<string, unknown> = {}) => {
    const answer = await t.request('POST', '/v1/events', {
      payload: { eventId, pattern: 'orders.placed', payload: { n: eventId }, ...extra },
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
  };
  const ids = (c: SseConnection) => c.messages.map((m) => JSON.parse(m.data).eventId);

  beforeAll(async () => {
    t = await startTestApp(backend, {
      stream: { maxClients: 3, heartbeatMs: 200, pollIntervalMs: 50, clientBufferEvents: 30 },
    });
    await t.app.server.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.server.address() as AddressInfo).port}`;
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    for (const c of open.splice(0)) c.close();
    await t.reset();
    for (const pattern of ['orders.placed', 'orders.shipped', 'big.blob']) {
      await t.request('POST', '/v1/event-definitions', { payload: openDefinition(pattern) });
    }
  });

  it('sends events committed while it is open, each with a resumable id, and heartbeats', async () => {
    const stream = await sse();
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    await publish('a');
    await publish('b');
    await stream.waitFor(2);
    expect(ids(stream)).toEqual(['a', 'b']);
    expect(stream.messages.every((m) => /^\d+-\d+$/.test(m.id ?? ''))).toBe(true);
    // Heartbeats every 200 ms here; a loaded machine may send the first one late.
    await vi.waitFor(() => expect(stream.comments).toBeGreaterThan(0), { timeout: 10_000 });
  });

  it('resumes after Last-Event-ID or ?after= with no gap and no duplicate', async () => {
    const first = await sse();
    await publish('a');
    await publish('b');
    await first.waitFor(2);
    first.close();
    const lastSeen = first.messages[0]!.id!;
    await publish('c');
    const resumed = await sse('', { 'last-event-id': lastSeen });
    await publish('d');
    await resumed.waitFor(3);
    expect(ids(resumed)).toEqual(['b', 'c', 'd']);
    const byQuery = await sse(`?after=${first.messages[1]!.id}`);
    await byQuery.waitFor(2);
    expect(ids(byQuery)).toEqual(['c', 'd']);
    expect(byQuery.messages.map((m) => m.id)).toEqual(resumed.messages.slice(1).map((m) => m.id));
  });

  it('follows commit order, not the timestamps publishers chose', async () => {
    const stream = await sse();
    await publish('late', { timestamp: '2030-01-01T00:00:00Z' });
    await publish('early', { timestamp: '2001-01-01T00:00:00Z' });
    await stream.waitFor(2);
    expect(ids(stream)).toEqual(['late', 'early']);
  });

  // PGlite has one connection, so no transaction can be open beside the stream's: the case
  // exists on PostgreSQL only (declared there only, rather than reported skipped on PGlite).
  if (backend.name === 'postgres')
    it('holds back events behind a transaction still open, then sends both in position order (no gap)', async () => {
      const stream = await sse();
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      // A writer that took its transaction id first and commits last.
      const slowWriter = t.db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO events (id, event_id, pattern, version, "timestamp", payload, metadata, partition_key)
           VALUES (gen_random_uuid(), 'held', 'orders.placed', '1.0.0', now(), '{}', '{"tags":{}}', 'x')`,
        );
        await held;
      });
      await publish('after-held');
      await new Promise((r) => setTimeout(r, 1000));
      expect(ids(stream)).toEqual([]);
      release();
      await slowWriter;
      await stream.waitFor(2);
      expect(ids(stream)).toEqual(['held', 'after-held']);
    });

  it('filters like GET /v1/events, live and when catching up', async () => {
    const all = await sse();
    const shipped = await sse('?pattern=orders.shipped');
    await publish('p1');
    await publish('s1', { pattern: 'orders.shipped', metadata: { tags: { region: 'eu' } } });
    await all.waitFor(2);
    await shipped.waitFor(1);
    expect(ids(shipped)).toEqual(['s1']);
    shipped.close();
    const tagged = await sse(`?after=${all.messages[0]!.id}&tag.region=eu&pattern=orders.*`);
    await tagged.waitFor(1);
    expect(ids(tagged)).toEqual(['s1']);
    const bad = await sse('?pattern=Bad..pattern');
    expect(bad.status).toBe(400);
    expect(JSON.parse(await bad.body()).error.details[0].field).toBe('pattern');
    const badCursor = await sse('', { 'last-event-id': 'nope' });
    expect(badCursor.status).toBe(400);
  });

  it('refuses streams beyond STREAM_MAX_CLIENTS with 503, and takes them again once one closes', async () => {
    const streams = [await sse(), await sse(), await sse()];
    const refused = await sse();
    expect(refused.status).toBe(503);
    expect(JSON.parse(await refused.body()).error.code).toBe('overloaded');
    expect(refused.headers['retry-after']).toBe('5');
    streams[0]!.close();
    await streams[0]!.ended;
    // The server frees the slot when it sees the close, which may come after the client's end.
    await vi.waitFor(
      async () => {
        const again = await sse();
        if (again.status !== 200) again.close();
        expect(again.status).toBe(200);
      },
      { timeout: 10_000, interval: 50 },
    );
  });

  it('drops a reader that does not keep up with event: overflow, and it resumes from its last id', async () => {
    const slow = await sse();
    slow.pause();
    // 100 KB events: a few dozen fill the socket buffers, then 30 more wait (the limit here).
    const blob = 'x'.repeat(100_000);
    const published: string[] = [];
    for (let batch = 0; batch < 5; batch++) {
      const events = Array.from({ length: 20 }, () => {
        published.push(`big-${published.length}`);
        return { eventId: published.at(-1), pattern: 'big.blob', payload: { blob } };
      });
      expect((await t.request('POST', '/v1/events/batch', { payload: { events } })).status).toBe(
        200,
      );
    }
    slow.resume();
    await slow.ended;
    const overflow = slow.messages.at(-1)!;
    expect(overflow.event).toBe('overflow');
    const { lastEventId } = JSON.parse(overflow.data);
    const received = slow.messages.slice(0, -1);
    expect(received.length).toBeLessThan(published.length);
    expect(received.at(-1)?.id).toBe(lastEventId);
    const resumed = await sse('', { 'last-event-id': lastEventId });
    await resumed.waitFor(published.length - received.length, 90_000);
    // Every event once; positions strictly increasing (a batch commits in whatever order the
    // statement inserts its rows, so ids within one batch need not follow eventId order).
    const all = [...received, ...resumed.messages];
    expect(ids({ messages: all } as SseConnection).sort()).toEqual([...published].sort());
    const positions = all.map((m) => m.id!.split('-').map(BigInt) as [bigint, bigint]);
    for (let i = 1; i < positions.length; i++) {
      const [[x0, s0], [x1, s1]] = [positions[i - 1]!, positions[i]!];
      expect(x1 > x0 || (x1 === x0 && s1 > s0)).toBe(true);
    }
  }, 120_000);
});
