import { Worker } from 'node:worker_threads';

/**
 * A webhook receiver on 127.0.0.1 in a worker thread of its own, so answering requests does not
 * compete with the service (or the peer) for the bench's event loop. It answers 200 to every
 * POST, and stamps each with `Date.now()` (the machine's wall clock, the same clock the main
 * thread stamps 202s with) together with the event's `eventId` (a delivery's own, or that of
 * the `event` a wait's resumption carries) and the request path.
 */
export interface Receipt {
  eventId: string;
  path: string;
  at: number;
}

export interface BenchReceiver {
  url: string;
  /** Requests received since the last `take`. */
  count(): Promise<number>;
  /** Everything received since the last `take`, and forgets it. */
  take(): Promise<{ receipts: Receipt[]; duplicates: number; bodyBytes: number }>;
  close(): Promise<void>;
}

const SOURCE = `
const { parentPort } = require('node:worker_threads');
const http = require('node:http');
let receipts = [];
let keys = new Set();
let duplicates = 0;
let bodyBytes = 0;
const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    const at = Date.now();
    const body = Buffer.concat(chunks);
    bodyBytes += body.length;
    let eventId = '';
    try { const parsed = JSON.parse(body.toString()); eventId = parsed.eventId ?? parsed.event?.eventId; } catch {}
    const key = request.url + ' ' + eventId;
    if (keys.has(key)) duplicates++;
    else {
      keys.add(key);
      receipts.push({ eventId, path: request.url, at });
    }
    response.writeHead(200, { 'content-length': '0' });
    response.end();
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ type: 'listening', port: server.address().port }));
parentPort.on('message', (message) => {
  if (message === 'count') parentPort.postMessage({ type: 'count', count: receipts.length });
  if (message === 'take') {
    parentPort.postMessage({ type: 'take', receipts, duplicates, bodyBytes });
    receipts = []; keys = new Set(); duplicates = 0; bodyBytes = 0;
  }
  if (message === 'close') {
    server.closeAllConnections();
    server.close(() => parentPort.postMessage({ type: 'closed' }));
  }
});
`;

export async function startReceiverWorker(): Promise<BenchReceiver> {
  const worker = new Worker(SOURCE, { eval: true });
  const ask = <T>(message: string, type: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (reply: { type: string } & T) => {
        if (reply.type !== type) return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve(reply);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      if (message) worker.postMessage(message);
    });
  const { port } = await ask<{ port: number }>('', 'listening');
  return {
    url: `http://127.0.0.1:${port}`,
    count: async () => (await ask<{ count: number }>('count', 'count')).count,
    take: () => ask<{ receipts: Receipt[]; duplicates: number; bodyBytes: number }>('take', 'take'),
    async close() {
      await ask('close', 'closed');
      await worker.terminate();
    },
  };
}
