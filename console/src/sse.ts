/** One server-sent event: its id (the stream position) and its data. */
export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/**
 * Reads server-sent events from a byte stream (the text/event-stream format): fields up to a
 * blank line make one message; comments (heartbeats) and `retry:` are skipped. The console reads
 * the stream through the typed client (fetch) rather than EventSource, which cannot send the
 * X-API-Key header.
 */
export async function* readSse(stream: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  let message: SseMessage = { event: 'message', data: '' };
  let hasData = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      pending += decoder.decode(value, { stream: true });
      const lines = pending.split(/\r\n|\r|\n/);
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') {
          if (hasData) yield message;
          message = { event: 'message', data: '' };
          hasData = false;
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const text = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') {
          message.data = hasData ? `${message.data}\n${text}` : text;
          hasData = true;
        } else if (field === 'id') message.id = text;
        else if (field === 'event') message.event = text;
      }
    }
  } finally {
    reader.releaseLock();
  }
}
