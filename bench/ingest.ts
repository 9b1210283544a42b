import { Pool } from 'undici';
import { v7 as uuidv7 } from 'uuid';
import { periodOf } from '../src/store/partitions.ts';
import { bookingDefinition, bookingEvent } from '../src/testing/fixtures.ts';
import { median, quantile } from './stats.ts';
import { createBenchDatabase, runConcurrently, startBenchService } from './support.ts';

/**
 * Issue 3's ingest benchmark, against PostgreSQL: (a) the batch endpoint, 500 events per
 * request; (b) single-event POSTs from 64 concurrent connections; (c) raw multi-row INSERTs of
 * the same rows with `pg`, the baseline. Each phase starts from an empty events table.
 */
const EVENTS = 20_000;
const BATCH = 500;
const CONNECTIONS = 64;

const event = (i: number) => ({
  ...bookingEvent({ payload: { ...bookingEvent().payload, bookingId: `bk_${i}` } }),
  eventId: `bench-${i}-${uuidv7()}`,
});

export async function benchIngest(serverUrl: string | undefined) {
  if (!serverUrl) return { name: 'ingest', skipped: 'DATABASE_URL is not set' };
  const bench = await createBenchDatabase(serverUrl);
  const { app, url } = await startBenchService(bench.db);
  const http = new Pool(url, { connections: CONNECTIONS, pipelining: 1 });
  const post = async (path: string, body: unknown) => {
    const response = await http.request({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    await response.body.dump();
    if (response.statusCode >= 300) throw new Error(`${path} answered ${response.statusCode}`);
  };
  const truncate = () => bench.db.exec('TRUNCATE events, event_ids');
  try {
    await post('/v1/event-definitions', bookingDefinition());

    // (c) raw multi-row INSERT, the same columns and values the service writes.
    await truncate();
    const partitionKey = periodOf(new Date(), 'month').label;
    const rawStart = performance.now();
    for (let offset = 0; offset < EVENTS; offset += BATCH) {
      const rows = Array.from({ length: BATCH }, (_, i) => event(offset + i));
      const values = rows.map(
        (_, i) =>
          `($${i * 7 + 1}, $${i * 7 + 2}, 'bookings.created', '1.0.0', $${i * 7 + 3}::jsonb, $${i * 7 + 4}, $${i * 7 + 5}::jsonb, $${i * 7 + 6}::jsonb, $${i * 7 + 7})`,
      );
      await bench.db.query(
        `INSERT INTO events (id, event_id, pattern, version, source, "timestamp", payload, metadata, partition_key) VALUES ${values.join(', ')}`,
        rows.flatMap((row) => [
          uuidv7(),
          row.eventId,
          JSON.stringify(row.source),
          new Date(),
          JSON.stringify(row.payload),
          JSON.stringify({ correlationId: row.eventId, tags: {} }),
          partitionKey,
        ]),
      );
    }
    const rawPerSecond = EVENTS / ((performance.now() - rawStart) / 1000);

    // (a) the batch endpoint, 500 events per request, from 4 connections.
    await truncate();
    const batchStart = performance.now();
    await runConcurrently(EVENTS / BATCH, 4, (r) =>
      post('/v1/events/batch', {
        events: Array.from({ length: BATCH }, (_, i) => event(r * BATCH + i)),
      }),
    );
    const batchPerSecond = EVENTS / ((performance.now() - batchStart) / 1000);

    // (b) single-event POSTs from 64 concurrent connections.
    await truncate();
    const singleStart = performance.now();
    const latencies = await runConcurrently(EVENTS, CONNECTIONS, (i) =>
      post('/v1/events', event(i)),
    );
    const singlePerSecond = EVENTS / ((performance.now() - singleStart) / 1000);

    const stored = await bench.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events');
    return {
      name: 'ingest',
      backend: 'postgres',
      events: EVENTS,
      storedInLastPhase: stored.rows[0]!.n,
      rawInsertEventsPerSecond: Math.round(rawPerSecond),
      batchEndpointEventsPerSecond: Math.round(batchPerSecond),
      singlePostEventsPerSecond: Math.round(singlePerSecond),
      ratioBatchToRaw: Number((batchPerSecond / rawPerSecond).toFixed(2)),
      ratioSingleToRaw: Number((singlePerSecond / rawPerSecond).toFixed(2)),
      singlePostLatencyMs: {
        p50: Number(median(latencies).toFixed(1)),
        p99: Number(quantile(latencies, 0.99).toFixed(1)),
      },
      targets: {
        ratioBatchToRaw: '>= 0.7',
        singlePostEventsPerSecond: '>= 3000',
        singlePostP99Ms: '< 100',
      },
    };
  } finally {
    await http.close();
    await app.close();
    await bench.drop();
  }
}
