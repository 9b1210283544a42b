import { request } from 'node:http';

/** One Server-Sent Events message as a client parses it. */
export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

/** An open SSE connection over raw HTTP, collecting what arrives. */
export interface SseConnection {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  messages: SseMessage[];
  /** Comment lines (heartbeats). */
  comments: number;
  /** Resolves when at least `count` messages arrived (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<SseMessage[]>;
  /** Stops reading from the socket (the server sees a slow reader). */
  pause(): void;
  resume(): void;
  /** The body of a non-200 answer. */
  body(): Promise<string>;
  ended: Promise<void>;
  close(): void;
}

/** Opens `url` as an event stream, parsing messages as the SSE spec does (id, event, data). */
export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const messages: SseMessage[] = [];
      let comments = 0;
      let buffer = '';
      let raw = '';
      const waiters: Array<() => void> = [];
      const ended = new Promise<void>((done) => res.on('close', done));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        raw += res.statusCode === 200 ? '' : chunk;
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const message: SseMessage = { data: '' };
          let isMessage = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments++;
            else if (line.startsWith('id: ')) message.id = line.slice(4);
            else if (line.startsWith('event: ')) message.event = line.slice(7);
            else if (line.startsWith('data: ')) {
              message.data += line.slice(6);
              isMessage = true;
            }
          }
          if (isMessage) messages.push(message);
          end = buffer.indexOf('\n\n');
        }
        for (const wake of waiters.splice(0)) wake();
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        messages,
        get comments() {
          return comments;
        },
        async waitFor(count, timeoutMs = 20_000) {
          const deadline = Date.now() + timeoutMs;
          while (messages.length < count) {
            if (Date.now() > deadline || res.closed) {
              throw new Error(`got ${messages.length} of ${count} messages; closed: ${res.closed}`);
            }
            await new Promise<void>((wake) => {
              waiters.push(wake);
              setTimeout(wake, 200);
            });
          }
          return messages;
        },
        pause: () => res.pause(),
        resume: () => res.resume(),
        body: async () => {
          await ended;
          return raw;
        },
        ended,
        close: () => req.destroy(),
      } as SseConnection);
    });
    req.on('error', reject);
    req.end();
  });
}
