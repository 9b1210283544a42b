import { randomUUID } from 'node:crypto';
import { freePort } from '../src/testing/free-port.ts';
import { runService, startService } from '../src/testing/service-process.ts';
import { currentLoadAverage } from './results-file.ts';
import { benchServiceEnv, measureOnEachBackend, type ServiceBackend } from './service-backends.ts';
import { distribution, round } from './stats.ts';
import { postJson } from './support.ts';

/**
 * `npm run bench:restart`: where a restart after a crash spends its time. The real service
 * (`src/main.ts`, a child process) gets RESTART_DEFINITIONS (default 100) event definitions and
 * RESTART_EVENTS (default 50,000) events, then, RESTART_KILLS times (default 3), a light publish
 * load, a SIGKILL in the middle of it, and a restart on the same data (PGlite: the same folder;
 * PostgreSQL, when DATABASE_URL names a server: a database of its own). Per restart it records
 * kill → first HTTP answer of any kind, kill → /readyz 200, and the phases the service logs in
 * its `started` line (wall and CPU time each: the machine is shared, so the wall time also
 * counts waiting for a core). RESTART_BACKENDS (default `pglite,postgres`) picks the backends.
 * Writes bench/results/<timestamp>-restart.json.
 */
const DEFINITIONS = Number(process.env.RESTART_DEFINITIONS ?? 100);
const EVENTS = Number(process.env.RESTART_EVENTS ?? 50_000);
const KILLS = Number(process.env.RESTART_KILLS ?? 3);
const BATCH = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const patternOf = (i: number) => `restart.p${String(i % DEFINITIONS).padStart(3, '0')}`;

const definition = (i: number) => ({
  event_id: `${patternOf(i)}.event`,
  name: patternOf(i),
  pattern: patternOf(i),
  version: '1.0.0',
  payload_schema: {
    type: 'object',
    required: ['orderId', 'amount'],
    properties: {
      orderId: { type: 'string', minLength: 1 },
      amount: { type: 'number', minimum: 0 },
      status: { type: 'string', enum: ['new', 'paid', 'shipped'] },
      lines: { type: 'array', items: { type: 'object', properties: { sku: { type: 'string' } } } },
    },
  },
});
const event = (i: number) => ({
  eventId: randomUUID(),
  pattern: patternOf(i),
  payload: { orderId: `o-${i}`, amount: i % 500, status: 'paid', lines: [{ sku: 'a' }] },
});

async function publishBatches(url: string, from: number, count: number): Promise<void> {
  for (let start = from; start < from + count; start += BATCH) {
    const events = Array.from({ length: Math.min(BATCH, from + count - start) }, (_, k) =>
      event(start + k),
    );
    await postRetrying(url, '/v1/events/batch', { events });
  }
}

/** POSTs until answered other than 503 (a busy database), as a publisher should. */
async function postRetrying(url: string, path: string, body: unknown): Promise<void> {
  for (;;) {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (response.ok) return;
    if (response.status !== 503) throw new Error(`${path} answered ${response.status}: ${text}`);
    await sleep(1000);
  }
}

/** Publishes single events until `stop` is called; failures (the process is gone) are ignored. */
function lightLoad(url: string) {
  let running = true;
  let n = 0;
  const publisher = async () => {
    while (running) {
      await fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(event(n++)),
        signal: AbortSignal.timeout(5000),
      }).then(
        (response) => response.arrayBuffer(),
        () => sleep(50),
      );
    }
  };
  const publishers = [publisher(), publisher()];
  return async () => {
    running = false;
    await Promise.all(publishers);
  };
}

/** What the service's `started` log line says (see src/observability/startup.ts). */
interface Started {
  phases: Record<string, { ms: number; cpuMs: number }>;
  nodeBootstrapMs: number;
  totalMs: number;
  totalCpuMs: number;
}

/** The `started` log line's fields, from the service's output. */
function startedLine(output: string): Started | undefined {
  for (const line of output.split('\n').reverse()) {
    if (!line.includes('"msg":"started"')) continue;
    const { phases, nodeBootstrapMs, totalMs, totalCpuMs } = JSON.parse(line);
    return { phases, nodeBootstrapMs, totalMs, totalCpuMs };
  }
  return undefined;
}

async function restartOnce(env: Record<string, string>, url: string) {
  const loadAverage = currentLoadAverage();
  const killedAt = performance.now();
  const process = runService(env);
  const spawnedMs = performance.now() - killedAt;
  let firstAnswerMs: number | undefined;
  let readyMs: number | undefined;
  let firstAnswerStatus: number | undefined;
  while (readyMs === undefined) {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(
      () => undefined,
    );
    const at = performance.now() - killedAt;
    if (response) {
      await response.arrayBuffer();
      firstAnswerMs ??= at;
      firstAnswerStatus ??= response.status;
      if (response.status === 200) readyMs = at;
    }
    if (process.child.exitCode !== null) throw new Error(`service exited:\n${process.output()}`);
    if (at > 300_000) throw new Error(`not ready after 300 s:\n${process.output()}`);
    if (readyMs === undefined) await sleep(25);
  }
  return {
    process,
    figures: {
      loadAverage,
      spawnedMs: round(spawnedMs),
      firstAnswerMs: round(firstAnswerMs ?? readyMs),
      firstAnswerStatus,
      readyMs: round(readyMs),
      service: startedLine(process.output()),
    },
  };
}

async function measure(backend: ServiceBackend) {
  const { name } = backend;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const serviceEnv = benchServiceEnv(backend, port);
  console.error(`${name}: seeding ${DEFINITIONS} definitions, ${EVENTS} events`);
  const service = await startService(serviceEnv, 300_000);
  for (let i = 0; i < DEFINITIONS; i++) await postJson(url, '/v1/event-definitions', definition(i));
  const seeded = performance.now();
  await Promise.all([0, 1].map((k) => publishBatches(url, (k * EVENTS) / 2, EVENTS / 2)));
  console.error(`${name}: seeded in ${round((performance.now() - seeded) / 1000)} s`);
  const restarts: Array<Awaited<ReturnType<typeof restartOnce>>['figures']> = [];
  let child = service.child;
  for (let kill = 0; kill < KILLS; kill++) {
    const stopLoad = lightLoad(url);
    await sleep(2000);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    await stopLoad();
    const { process, figures } = await restartOnce(serviceEnv, url);
    console.error(`${name}: ${JSON.stringify(figures)}`);
    restarts.push(figures);
    child = process.child;
  }
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('close', resolve));
  const phaseNames = Object.keys(restarts[0]?.service?.phases ?? {});
  const phase = (key: 'ms' | 'cpuMs') =>
    Object.fromEntries(
      phaseNames.map((name) => [
        name,
        distribution(restarts.flatMap((r) => r.service?.phases[name]?.[key] ?? [])),
      ]),
    );
  return {
    backend: name,
    definitions: DEFINITIONS,
    events: EVENTS,
    kills: KILLS,
    killToFirstAnswerMs: distribution(restarts.map((r) => r.firstAnswerMs)),
    killToReadyMs: distribution(restarts.map((r) => r.readyMs)),
    serviceCpuMs: distribution(restarts.flatMap((r) => r.service?.totalCpuMs ?? [])),
    phaseMs: phase('ms'),
    phaseCpuMs: phase('cpuMs'),
    restarts,
  };
}

/** RESTART_BACKENDS: `pglite`, `postgres` or both (default; PostgreSQL when DATABASE_URL is set). */
await measureOnEachBackend(
  '-restart',
  measure,
  (process.env.RESTART_BACKENDS ?? 'pglite,postgres').split(','),
);
