import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { buildConditions, type EventQuery } from './query.ts';

const PATTERNS = [
  'bookings.created',
  'bookings.cancelled',
  'user.activity.login',
  'invoice.created',
];

const PAGE_MAX_BYTES = 64 * 1024;

describe.each(testBackends())('event store on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    const partitions = { ...loadConfig({}).partitions, retentionDays: 30 };
    // A small page budget, far above the other tests' small events, so that a few large ones
    // show where a page stops.
    t = await startTestApp(backend, {
      partitions,
      definitionCacheTtlMs: 0,
      eventsPageMaxBytes: PAGE_MAX_BYTES,
    });
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    await t.reset();
    t.clock.set('2026-01-15T12:00:00Z');
    for (const pattern of PATTERNS)
      await t.request('POST', '/v1/event-definitions', { payload: openDefinition(pattern) });
  });

  const publish = async (event: Record<string, unknown>) => {
    const response = await t.request('POST', '/v1/events', { payload: { payload: {}, ...event } });
    expect(response.status).toBe(202);
    return response.body.eventId as string;
  };
  const query = async (qs: string) => {
    const response = await t.request('GET', `/v1/events?${qs}`);
    expect(response.status).toBe(200);
    return response.body;
  };
  const ids = (body: any) => body.events.map((e: any) => e.eventId);

  describe('filters', () => {
    beforeEach(async () => {
      await publish({
        eventId: 'e1',
        pattern: 'bookings.created',
        timestamp: '2026-01-01T10:00:00Z',
        payload: { status: 'confirmed', amount: 5 },
        source: { type: 'workflow', id: 'wf-1' },
        metadata: {
          correlationId: 'c1',
          userId: 'u1',
          tags: { region: 'eu', tier: 'gold' },
          context: { type: 'client', id: 'acme' },
        },
      });
      await publish({
        eventId: 'e2',
        pattern: 'bookings.cancelled',
        timestamp: '2026-01-02T10:00:00Z',
        payload: { status: 'cancelled' },
        source: { type: 'integration', id: 'crm' },
        metadata: { correlationId: 'c1', causationId: 'e1', tags: { region: 'us' } },
      });
      await publish({
        eventId: 'e3',
        pattern: 'user.activity.login',
        timestamp: '2026-01-03T10:00:00Z',
        payload: { status: 'confirmed', nested: { deep: [1, 2] } },
        metadata: { userId: 'u2', context: { type: 'user', id: 'u2' } },
      });
      await publish({
        eventId: 'e4',
        pattern: 'invoice.created',
        timestamp: '2026-01-04T10:00:00Z',
        metadata: { tags: { region: 'eu' } },
      });
    });

    it('lists newest first by default, oldest first with order=asc', async () => {
      expect(ids(await query(''))).toEqual(['e4', 'e3', 'e2', 'e1']);
      expect(ids(await query('order=asc'))).toEqual(['e1', 'e2', 'e3', 'e4']);
    });

    it.each([
      ['pattern=bookings.created', ['e1']],
      ['pattern=bookings.*', ['e2', 'e1']],
      ['pattern=*.created', ['e4', 'e1']],
      ['pattern=**.created', ['e4', 'e1']],
      ['pattern=user.**', ['e3']],
      ['pattern=**.login', ['e3']],
      ['pattern=user.*', []],
      ['pattern=**', ['e4', 'e3', 'e2', 'e1']],
      ['startTime=2026-01-02T10:00:00Z', ['e4', 'e3', 'e2']],
      ['startTime=2026-01-02T00:00:00Z&endTime=2026-01-04T10:00:00Z', ['e3', 'e2']],
      ['correlationId=c1', ['e2', 'e1']],
      ['causationId=e1', ['e2']],
      ['source.type=workflow', ['e1']],
      ['source.id=crm', ['e2']],
      ['userId=u2', ['e3']],
      ['context.type=client', ['e1']],
      ['context.type=user&context.id=u2', ['e3']],
      ['tag.region=eu', ['e4', 'e1']],
      ['tag.region=eu&tag.tier=gold', ['e1']],
      [`payload=${encodeURIComponent('{"status":"confirmed"}')}`, ['e3', 'e1']],
      [`payload=${encodeURIComponent('{"nested":{"deep":[2]}}')}`, ['e3']],
      ['pattern=bookings.*&tag.region=us', ['e2']],
    ])('%s', async (qs, expected) => {
      expect(ids(await query(qs))).toEqual(expected);
    });

    it('lists each event as reading it alone answers it (the database writes the list as JSON)', async () => {
      await publish({
        eventId: 'e5',
        pattern: 'invoice.created',
        // Microseconds (a read shows milliseconds) and a zone west of UTC that ends in year 10000.
        timestamp: '9999-12-31T23:30:00.123999-05:00',
        payload: { text: 'ünï "quoted" \\ ✓\n', numbers: [0.1, -3, 1e21], empty: {}, none: null },
        metadata: { source: { type: 'workflow', id: 'wf-9', name: 'Nine' }, extra: { a: [1] } },
      });
      await publish({
        eventId: 'e6',
        pattern: 'invoice.created',
        timestamp: '2026-01-05T10:00:00.000999Z',
      });
      const listed = await t.request('GET', '/v1/events');
      expect(listed.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(ids(listed.body)).toEqual(['e5', 'e6', 'e4', 'e3', 'e2', 'e1']);
      for (const event of listed.body.events) {
        const alone = await t.request('GET', `/v1/events/${event.eventId}`);
        expect(event).toEqual(alone.body);
      }
      expect(listed.body.events[0]).toMatchObject({
        timestamp: '+010000-01-01T04:30:00.123Z',
        source: { type: 'workflow', id: 'wf-9', name: 'Nine' },
      });
      expect(listed.body.events[1].timestamp).toBe('2026-01-05T10:00:00.000Z');
      expect(listed.body.events[2]).not.toHaveProperty('source');
    });

    it('pages with limit and offset and reports exact totals', async () => {
      const first = await query('limit=3');
      expect(ids(first)).toEqual(['e4', 'e3', 'e2']);
      expect(first.pagination).toMatchObject({
        total: 4,
        totalExact: true,
        limit: 3,
        offset: 0,
        hasMore: true,
      });
      const second = await query('limit=3&offset=3');
      expect(ids(second)).toEqual(['e1']);
      expect(second.pagination).toMatchObject({ hasMore: false, nextCursor: null });
    });

    it('pages with a stable cursor even while newer events arrive', async () => {
      const first = await query('limit=2');
      expect(ids(first)).toEqual(['e4', 'e3']);
      await publish({
        eventId: 'e5',
        pattern: 'invoice.created',
        timestamp: '2026-01-05T10:00:00Z',
      });
      const second = await query(`limit=2&cursor=${first.pagination.nextCursor}`);
      expect(ids(second)).toEqual(['e2', 'e1']);
      expect(second.pagination.hasMore).toBe(false);
      const ascending = await query('limit=3&order=asc');
      const last = await query(`order=asc&cursor=${ascending.pagination.nextCursor}`);
      expect(ids(last)).toEqual(['e4', 'e5']);
      // The last ascending page has a cursor too, so a poller resumes where it stopped.
      expect(last.pagination.hasMore).toBe(false);
      expect(last.pagination.nextCursor).toEqual(expect.any(String));
      const empty = await query(`order=asc&cursor=${last.pagination.nextCursor}`);
      expect(ids(empty)).toEqual([]);
      expect(empty.pagination.nextCursor).toBe(last.pagination.nextCursor);
      await publish({
        eventId: 'e6',
        pattern: 'invoice.created',
        timestamp: '2026-03-01T00:00:00Z',
      });
      expect(ids(await query(`order=asc&cursor=${empty.pagination.nextCursor}`))).toEqual(['e6']);
    });

    it('keeps events with the same timestamp apart in cursor order', async () => {
      for (let i = 0; i < 5; i++)
        await publish({
          eventId: `same-${i}`,
          pattern: 'invoice.created',
          timestamp: '2026-01-10T00:00:00.000001Z',
        });
      const seen: string[] = [];
      let cursor = '';
      do {
        const page = await query(
          `pattern=invoice.created&startTime=2026-01-10T00:00:00Z&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        );
        seen.push(...ids(page));
        cursor = page.pagination.nextCursor ?? '';
      } while (cursor);
      expect(seen.sort()).toEqual(['same-0', 'same-1', 'same-2', 'same-3', 'same-4']);
    });

    it.each([
      ['payload=not-json', 'payload'],
      [`payload=${encodeURIComponent('[1]')}`, 'payload'],
      ['cursor=garbage', 'cursor'],
      ['pattern=Bookings.Created', 'pattern'],
      ['pattern=bookings..created', 'pattern'],
      ['startTime=yesterday', 'startTime'],
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['order=sideways', 'order'],
      ['unknown=1', 'unknown'],
      ['tag.=x', 'tag.'],
    ])('refuses %s with 400 naming %s', async (qs, field) => {
      const response = await t.request('GET', `/v1/events?${qs}`);
      expect(response.status).toBe(400);
      expect(response.body.error.details[0].field).toBe(field);
    });

    it('refuses a cursor together with an offset', async () => {
      const { pagination } = await query('limit=1');
      const response = await t.request(
        'GET',
        `/v1/events?cursor=${pagination.nextCursor}&offset=2`,
      );
      expect(response.status).toBe(400);
      expect(response.body.error.details[0].field).toBe('offset');
    });

    it('answers 404 for an unknown event', async () => {
      const response = await t.request('GET', '/v1/events/nope');
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('not_found');
    });
  });

  describe('pages stop at the byte budget', () => {
    // Payload sizes in time order. An event's JSON is its payload plus a few hundred bytes, so
    // with a budget of 64 KiB: two of 30 KB fit and three do not; 100 KB is over it alone.
    const SIZES: [string, number][] = [
      ['a1', 30_000],
      ['a2', 30_000],
      ['a3', 30_000],
      ['a4', 100_000],
      ['a5', 1_000],
      ['a6', 1_000],
      ['a7', 50_000],
      ['a8', 30_000],
    ];
    beforeEach(async () => {
      for (const [i, [eventId, size]] of SIZES.entries())
        await publish({
          eventId,
          pattern: 'invoice.created',
          timestamp: `2026-01-0${i + 1}T10:00:00Z`,
          payload: { blob: 'x'.repeat(size) },
        });
    });

    /** Every page by cursor, as the ids of each. */
    const pages = async (qs: string) => {
      const seen: string[][] = [];
      let cursor = '';
      for (;;) {
        const page = await query(`${qs}${cursor ? `&cursor=${cursor}` : ''}`);
        const got = ids(page);
        const bytes = page.events.reduce(
          (n: number, e: unknown) => n + JSON.stringify(e).length,
          0,
        );
        // Never empty while more follow; over the budget only when one event is alone.
        if (page.pagination.hasMore) expect(got.length).toBeGreaterThan(0);
        if (got.length > 1) expect(bytes).toBeLessThanOrEqual(PAGE_MAX_BYTES);
        if (got.length > 0) seen.push(got);
        cursor = page.pagination.nextCursor ?? '';
        if (!page.pagination.hasMore) {
          // Ascending, the last page still hands back a cursor: nothing after it.
          if (cursor) expect(ids(await query(`${qs}&cursor=${cursor}`))).toEqual([]);
          return seen;
        }
        expect(cursor).not.toBe('');
      }
    };

    /** Query strings and the pages they give, as the ids of each. */
    const PAGINGS: [string, string[][]][] = [
      ['order=asc', [['a1', 'a2'], ['a3'], ['a4'], ['a5', 'a6', 'a7'], ['a8']]],
      ['order=desc', [['a8'], ['a7', 'a6', 'a5'], ['a4'], ['a3', 'a2'], ['a1']]],
      ['order=asc&limit=2', [['a1', 'a2'], ['a3'], ['a4'], ['a5', 'a6'], ['a7'], ['a8']]],
      ['order=desc&limit=2', [['a8'], ['a7', 'a6'], ['a5'], ['a4'], ['a3', 'a2'], ['a1']]],
    ];

    it.each(PAGINGS)(
      '%s: every event once, in order, fewer than limit when large',
      async (qs, expected) => {
        const got = await pages(`pattern=invoice.created&${qs}`);
        expect(got).toEqual(expected);
        const all = SIZES.map(([id]) => id);
        expect(got.flat()).toEqual(qs.includes('desc') ? all.reverse() : all);
      },
    );

    it('answers an event over the budget alone, with hasMore and a cursor after it', async () => {
      const page = await query('pattern=invoice.created&order=asc&startTime=2026-01-04T00:00:00Z');
      expect(ids(page)).toEqual(['a4']);
      expect(page.events[0].payload.blob).toHaveLength(100_000);
      expect(page.pagination).toMatchObject({ limit: 100, hasMore: true, total: 5 });
      const next = await query(
        `pattern=invoice.created&order=asc&cursor=${page.pagination.nextCursor}`,
      );
      expect(ids(next)).toEqual(['a5', 'a6', 'a7']);
    });

    it('stops offset pages too: the next offset counts the events received', async () => {
      const first = await query('pattern=invoice.created&order=asc&limit=5');
      expect(ids(first)).toEqual(['a1', 'a2']);
      expect(first.pagination.hasMore).toBe(true);
      const second = await query('pattern=invoice.created&order=asc&limit=5&offset=2');
      expect(ids(second)).toEqual(['a3']);
    });

    it('pages events stored before their size was (json_bytes NULL) exactly the same', async () => {
      // Events of every size among them: a page mixes old and new rows.
      const { rowCount } = await t.db.query(
        `UPDATE events SET json_bytes = NULL WHERE event_id IN ('a2', 'a4', 'a5', 'a8')`,
      );
      expect(rowCount).toBe(4);
      for (const [qs, expected] of PAGINGS)
        expect(await pages(`pattern=invoice.created&${qs}`)).toEqual(expected);
    });

    it("counts each event's size as the bytes of JSON a page serves of it", async () => {
      // Multibyte text, escapes and numbers jsonb writes in its own way, with and without source.
      await publish({
        eventId: 'b1',
        pattern: 'bookings.created',
        payload: { text: 'é€😀 "quoted"\n\t\u0001', n: [1e21, 1.5, -0, 0.1], deep: { a: [{}] } },
        source: { type: 'workflow', id: 'wf-é' },
        metadata: { correlationId: 'c-ü', tags: { région: 'Zürich' } },
      });
      await publish({
        eventId: 'b2',
        pattern: 'bookings.created',
        payload: { x: 'ß'.repeat(500) },
      });
      const response = await t.app.server.inject({
        method: 'GET',
        url: '/v1/events?pattern=bookings.created',
      });
      const body = response.body;
      const served = body.slice('{"events":['.length, body.lastIndexOf('],"pagination":'));
      expect(JSON.parse(`[${served}]`).map((e: { eventId: string }) => e.eventId)).toEqual([
        'b2',
        'b1',
      ]);
      const { rows } = await t.db.query<{ bytes: number }>(
        `SELECT sum(json_bytes)::int AS bytes FROM events WHERE pattern = 'bookings.created'`,
      );
      // The two events' JSON joined by one comma.
      expect(Buffer.byteLength(served)).toBe(rows[0]!.bytes + 1);
    });
  });

  describe('partitions', () => {
    const partitionsOf = async () =>
      (
        await t.db.query<{ name: string }>('SELECT name FROM event_partitions ORDER BY range_start')
      ).rows.map((r) => r.name);
    const explain = async (q: Partial<EventQuery>) => {
      const { where, params } = buildConditions({
        limit: 10,
        offset: 0,
        order: 'desc',
        ...q,
      } as EventQuery);
      const { rows } = await t.db.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT * FROM events WHERE ${where.join(' AND ')}`,
        params,
      );
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    };

    it('creates the current and next partitions ahead of time', async () => {
      const report = await t.app.maintainPartitions();
      expect(report.created).toEqual([
        'events_p2026_01',
        'events_p2026_02',
        'events_p2026_03',
        'events_p2026_04',
      ]);
      expect(await partitionsOf()).toEqual(report.created);
      expect((await t.app.maintainPartitions()).created).toEqual([]);
    });

    it('stores an event outside every partition, then gives it a partition of its own', async () => {
      await t.app.maintainPartitions();
      const old = await publish({ pattern: 'invoice.created', timestamp: '2025-12-20T00:00:00Z' });
      const future = await publish({
        pattern: 'invoice.created',
        timestamp: '2031-12-31T23:59:59.999999Z',
      });
      const inDefault = await t.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM events_default',
      );
      expect(inDefault.rows[0]!.n).toBe(2);
      const report = await t.app.maintainPartitions();
      expect(report.created).toEqual(['events_p2025_12', 'events_p2031_12']);
      expect(
        (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events_default')).rows[0]!
          .n,
      ).toBe(0);
      for (const eventId of [old, future]) {
        const found = await t.request('GET', `/v1/events/${eventId}`);
        expect({ eventId, status: found.status }).toEqual({ eventId, status: 200 });
      }
      const { rows } = await t.db.query<{ partition_key: string; table: string }>(
        `SELECT partition_key, tableoid::regclass::text AS table FROM events ORDER BY "timestamp"`,
      );
      expect(rows).toEqual([
        { partition_key: '2025-12', table: 'events_p2025_12' },
        { partition_key: '2031-12', table: 'events_p2031_12' },
      ]);
    });

    it('drops whole partitions older than retention, and their idempotency claims', async () => {
      await t.app.maintainPartitions();
      await publish({
        eventId: 'january',
        pattern: 'invoice.created',
        timestamp: '2026-01-20T00:00:00Z',
      });
      await publish({
        eventId: 'march',
        pattern: 'invoice.created',
        timestamp: '2026-03-20T00:00:00Z',
      });
      t.clock.set('2026-03-15T00:00:00Z');
      const report = await t.app.maintainPartitions();
      expect(report.dropped).toEqual(['events_p2026_01']);
      expect(await partitionsOf()).not.toContain('events_p2026_01');
      expect((await t.request('GET', '/v1/events/january')).status).toBe(404);
      expect((await t.request('GET', '/v1/events/march')).status).toBe(200);
      const again = await t.request('POST', '/v1/events', {
        payload: {
          eventId: 'january',
          pattern: 'invoice.created',
          timestamp: '2026-01-20T00:00:00Z',
          payload: {},
        },
      });
      expect(again.status).toBe(202);
    });

    it('scans only the partitions of a time range', async () => {
      await t.app.maintainPartitions();
      const plan = await explain({
        startTime: '2026-03-01T00:00:00Z',
        endTime: '2026-04-01T00:00:00Z',
      });
      expect(plan).toContain('events_p2026_03');
      for (const other of [
        'events_p2026_01',
        'events_p2026_02',
        'events_p2026_04',
        'events_default',
      ])
        expect(plan).not.toContain(other);
    });

    it('answers payload containment from the GIN index', async () => {
      await t.app.maintainPartitions();
      const events = Array.from({ length: 300 }, (_, i) => ({
        pattern: 'invoice.created',
        payload: { n: i, status: i === 7 ? 'rare' : 'common' },
      }));
      expect(
        (await t.request('POST', '/v1/events/batch', { payload: { events } })).body.accepted,
      ).toBe(300);
      await t.db.exec('ANALYZE events');
      // The table is small, so make the planner prove the index can serve the query.
      await t.db.exec('SET enable_seqscan = off');
      try {
        const plan = await explain({ payload: '{"status":"rare"}' });
        expect(plan).toMatch(/Bitmap Index Scan on events_p2026_01_payload_idx/);
      } finally {
        await t.db.exec('SET enable_seqscan = on');
      }
    });
  });

  describe('trace', () => {
    it('nests every event of the correlation under its cause, in time order', async () => {
      const at = (minute: number) => `2026-01-15T10:${String(minute).padStart(2, '0')}:00Z`;
      const meta = (causationId?: string) => ({
        correlationId: 'booking-1',
        ...(causationId ? { causationId } : {}),
      });
      await publish({
        eventId: 'root',
        pattern: 'bookings.created',
        timestamp: at(0),
        metadata: meta(),
      });
      await publish({
        eventId: 'invoice',
        pattern: 'invoice.created',
        timestamp: at(2),
        metadata: meta('root'),
      });
      await publish({
        eventId: 'login',
        pattern: 'user.activity.login',
        timestamp: at(1),
        metadata: meta('root'),
      });
      await publish({
        eventId: 'cancel',
        pattern: 'bookings.cancelled',
        timestamp: at(3),
        metadata: meta('invoice'),
      });
      await publish({
        eventId: 'unrelated',
        pattern: 'bookings.created',
        timestamp: at(4),
        metadata: { correlationId: 'other' },
      });
      const response = await t.request('GET', '/v1/events/cancel/trace');
      expect(response.status).toBe(200);
      const shape = (nodes: any[]): unknown =>
        nodes.map((n) => ({ [n.eventId]: shape(n.children) }));
      expect(response.body.correlationId).toBe('booking-1');
      expect(shape(response.body.events)).toEqual([
        { root: [{ login: [] }, { invoice: [{ cancel: [] }] }] },
      ]);
      expect(response.body.events[0]).toMatchObject({
        pattern: 'bookings.created',
        metadata: { correlationId: 'booking-1' },
      });
    });

    it('survives causation loops in bad data', async () => {
      await publish({
        eventId: 'a',
        pattern: 'invoice.created',
        metadata: { correlationId: 'loop', causationId: 'b' },
      });
      await publish({
        eventId: 'b',
        pattern: 'invoice.created',
        metadata: { correlationId: 'loop', causationId: 'a' },
      });
      const response = await t.request('GET', '/v1/events/a/trace');
      expect(response.status).toBe(200);
      const count = (nodes: any[]): number =>
        nodes.reduce((n, node) => n + 1 + count(node.children), 0);
      expect(count(response.body.events)).toBe(2);
    });

    it('answers 404 for an unknown event', async () => {
      expect((await t.request('GET', '/v1/events/missing/trace')).status).toBe(404);
    });
  });
});
