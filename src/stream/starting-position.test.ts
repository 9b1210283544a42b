import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../app.ts';
import type { Database } from '../db/database.ts';
import { loadMigrations } from '../db/migrate.ts';
import { localConfig, startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { openDefinition } from '../testing/fixtures.ts';
import { openSse, type SseConnection } from '../testing/sse.ts';

/**
 * Where the shared stream reader (src/stream/hub.ts) starts when the first streams open with
 * nobody listening. When each stream starting "now" asked the store as well as the reader, a
 * late answer moved the reader past events it had not handed out yet (issue #15); and a stream
 * resuming from a position could finish catching up before the reader's start was asked, so
 * that the events committed in between reached it by neither way. Here, round after round,
 * many streams open at once on one instance, from now and resuming, while another instance
 * commits events from several connections; the streaming instance's store answers half its
 * statements late (a busy server, a connection being opened), so answers overtake one another.
 */

const ROUNDS = 6;
const STREAMS = 12;
const PUBLISHERS = 4;
/** How long publishing goes on once the streams are open. */
const PUBLISHING_MS = 300;
/** The streaming instance hears of the other's commits only by looking this often. */
const POLL_MS = 100;
/** How late a slow statement of the streaming instance reaches the store. */
const SLOW_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const patternOf = (round: number) => `round${round}.placed`;
const idsOf = (stream: SseConnection) =>
  stream.messages.map((m) => JSON.parse(m.data).eventId as string);

/** `db`, half its statements outside a transaction (at random) sent `SLOW_MS` late. */
const withUnevenDelays = (db: Database): Database => ({
  ...db,
  query: async (sql, params) => {
    if (Math.random() < 0.5) await sleep(SLOW_MS);
    return db.query(sql, params);
  },
});

describe.each(testBackends())('streams starting together on $name', (backend) => {
  /** The publishing instance. */
  let t: TestApp;
  let streaming: App;
  let streamingDb: Database;
  let base: string;
  beforeAll(async () => {
    const { ingest } = localConfig();
    // One event a commit, several commits in flight: publishers use several connections.
    t = await startTestApp(backend, {
      ingest: {
        ...ingest,
        queue: { ...ingest.queue, concurrentCommits: PUBLISHERS, batchSize: 1 },
      },
    });
    // A pool of its own on PostgreSQL (another process would have one); PGlite is in-process.
    streamingDb = backend.name === 'postgres' ? await t.database.open() : t.db;
    streaming = await createApp({
      config: {
        ...localConfig(),
        stream: {
          maxClients: STREAMS + 1,
          heartbeatMs: 15_000,
          pollIntervalMs: POLL_MS,
          clientBufferEvents: 100_000,
        },
      },
      db: withUnevenDelays(streamingDb),
      clock: t.clock,
      logger: pino({ level: 'silent' }),
      migrations: await loadMigrations(),
    });
    await streaming.server.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(streaming.server.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await streaming?.close();
    if (streamingDb !== t?.db) await streamingDb?.close();
    await t?.close();
  });

  /** Publishers posting one event at a time until stopped; resolves with the ids accepted. */
  function startPublishing(round: number) {
    let publishing = true;
    let next = 0;
    const accepted: string[] = [];
    const publisher = async () => {
      while (publishing) {
        const eventId = `r${round}-${next++}`;
        const answer = await t.request('POST', '/v1/events', {
          payload: { eventId, pattern: patternOf(round), payload: {} },
        });
        if (answer.status !== 202) throw new Error(`${eventId}: ${answer.status}`);
        accepted.push(eventId);
      }
    };
    const publishers = Array.from({ length: PUBLISHERS }, publisher);
    return async () => {
      publishing = false;
      await Promise.all(publishers);
      return accepted;
    };
  }

  /** Waits until `stream` has sent `last`; what it sent. */
  async function receivedThrough(stream: SseConnection, last: string): Promise<string[]> {
    const deadline = Date.now() + 10_000;
    while (idsOf(stream).at(-1) !== last && Date.now() < deadline) {
      await stream.waitFor(stream.messages.length + 1, 2_000).catch(() => {});
    }
    return idsOf(stream);
  }

  it('sends each stream every event committed after it started, once and in commit order', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const defined = await t.request('POST', '/v1/event-definitions', {
        payload: openDefinition(patternOf(round)),
      });
      expect(defined.status).toBe(201);
      const stopPublishing = startPublishing(round);
      // Nobody listens yet: these streams all start the shared reader, half of them from now,
      // half resuming from the round's start (they catch up, then join the reader).
      const fromStart = `?after=0-0&pattern=${patternOf(round)}`;
      const streams = await Promise.all(
        Array.from({ length: STREAMS }, (_, i) =>
          openSse(`${base}/v1/events/stream${i % 2 === 0 ? '' : fromStart}`),
        ),
      );
      expect(streams.map((s) => s.status)).toEqual(streams.map(() => 200));
      await sleep(PUBLISHING_MS);
      const accepted = await stopPublishing();

      // The round's events in commit order, as a stream resuming from the start reads them.
      const everything = await openSse(`${base}/v1/events/stream${fromStart}`);
      await everything.waitFor(accepted.length);
      everything.close();
      const inCommitOrder = idsOf(everything);
      expect([...inCommitOrder].sort()).toEqual([...accepted].sort());

      for (const [i, stream] of streams.entries()) {
        const received = await receivedThrough(stream, inCommitOrder.at(-1)!);
        stream.close();
        // No gap, repeat or reorder: a resuming stream has every event of the round, one from
        // now every event from its first on (where "now" fell is the service's to choose).
        const first = i % 2 === 0 ? inCommitOrder.indexOf(received[0]!) : 0;
        expect(first, `round ${round}: a stream sent nothing`).toBeGreaterThanOrEqual(0);
        expect(received, `round ${round}, stream ${i}`).toEqual(inCommitOrder.slice(first));
      }
      // Time for the reader to find nobody listening and stop, so that the next round's
      // streams start it again (were it still running, they would only test less).
      await sleep(POLL_MS * 2);
    }
  }, 60_000);
});
