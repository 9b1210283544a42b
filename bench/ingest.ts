import { Pool } from 'undici';
import { v7 as uuidv7 } from 'uuid';
import { periodOf } from '../src/store/partitions.ts';
import { bookingDefinition } from '../src/testing/fixtures.ts';
import { benchEvent as event, runClientPhase } from './ingest-client.ts';
import { median, quantile } from './stats.ts';
import { createBenchDatabase, startBenchService } from './support.ts';

/**
 * Issue 3's ingest benchmark, against PostgreSQL: (a) the batch endpoint, 500 events per
 * request; (b) single-event POSTs from 64 concurrent connections; (c) raw multi-row INSERTs of
 * the same rows with `pg`, the baseline. Each phase starts from an empty events table.
 *
 * The HTTP client of (a) and (b) runs in a worker thread (bench/ingest-client.ts), as a real
 * publisher would run apart from the service; throughput is timed from its first request to
 * its last answer. It is not a separate machine: on the 2-core bench machine the client thread,
 * the service's event loop and PostgreSQL still compete for the same two cores.
 */
const EVENTS = 20_000;
const BATCH = 500;
const CONNECTIONS = 64;

export async function benchIngest(serverUrl: string | undefined) {
  if (!serverUrl) return { name: 'ingest', skipped: 'DATABASE_URL is not set' };
  const bench = await createBenchDatabase(serverUrl);
  const { app, url } = await startBenchService(bench.db);
  const http = new Pool(url, { connections: 1, pipelining: 1 });
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
    const batch = await runClientPhase({
      url,
      kind: 'batch',
      events: EVENTS,
      batchSize: BATCH,
      connections: 4,
    });
    const batchPerSecond = EVENTS / (batch.elapsedMs / 1000);

    // (b) single-event POSTs from 64 concurrent connections.
    await truncate();
    const single = await runClientPhase({
      url,
      kind: 'single',
      events: EVENTS,
      connections: CONNECTIONS,
    });
    const latencies = single.latencies;
    const singlePerSecond = EVENTS / (single.elapsedMs / 1000);

    const stored = await bench.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events');
    return {
      name: 'ingest',
      backend: 'postgres',
      events: EVENTS,
      client: 'worker thread (same machine: shares the cores with the service and PostgreSQL)',
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
