import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A webhook receiver on 127.0.0.1 for tests: records every request and answers with the next
 * scripted status (`status` when the script is empty), with optional headers.
 */
export interface TestReceiver {
  url: string;
  received: ReceivedRequest[];
  /** The answer when nothing is scripted; a test may change it (a receiver that recovers). */
  status: number;
  /** Statuses (and headers, and how long to wait before answering) of the next answers, in order. */
  script: Array<number | { status: number; headers: Record<string, string>; delayMs?: number }>;
  close(): Promise<void>;
}

/**
 * `record` takes each request (with the path it was sent to) instead of `received`, for runs
 * too long to keep every body (the soak).
 */
export async function startReceiver(
  record?: (request: ReceivedRequest, path: string) => void,
): Promise<TestReceiver> {
  const receiver: Omit<TestReceiver, 'url' | 'close'> = { received: [], script: [], status: 200 };
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const received = { headers: request.headers, body };
      if (record) record(received, request.url ?? '/');
      else receiver.received.push(received);
      const next = receiver.script.shift() ?? receiver.status;
      const {
        status,
        headers,
        delayMs = 0,
      } = typeof next === 'number' ? { status: next, headers: {} } : next;
      setTimeout(() => {
        response.writeHead(status, headers);
        response.end();
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
