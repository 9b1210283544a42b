import type { Dispatcher } from 'undici';

/**
 * Reads at most `maxBytes` of an answer's body and destroys the rest, so a huge or endless body
 * costs neither memory nor time, and a keep-alive connection is reused when the body is small.
 * Used for webhook answers and workflow engine answers alike. `complete` is false when the
 * body was longer than `maxBytes`.
 */
export async function readBodyPrefix(
  body: Dispatcher.ResponseData['body'],
  maxBytes: number,
): Promise<{ text: string; complete: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let complete = true;
  // Leaving the loop early (break) destroys the stream.
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk.subarray(0, Math.max(0, maxBytes - size)));
    size += chunk.length;
    if (size > maxBytes) {
      complete = false;
      break;
    }
  }
  const text = Buffer.concat(chunks).toString('utf8');
  // A multi-byte character cut at the limit decodes to U+FFFD; drop it.
  return { text: complete ? text : text.replace(/\uFFFD$/, ''), complete };
}
