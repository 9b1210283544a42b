import { parseEventTime, parseIsoDuration } from '../events/time.ts';
import { CliError } from './context.ts';

/** Small pure helpers the `eps` commands share: tables, relative times, `type:id` and `k=v`. */

/** Rows under a header, columns padded to their widest cell (the last column is not padded). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const SHORT_UNITS: Record<string, string> = { w: 'W', d: 'D', h: 'H', m: 'M', s: 'S' };

/**
 * `--since` as the replay API takes it: `90s`, `15m`, `1h`, `2d`, `1w` become the ISO 8601
 * durations `PT90S`, `PT15M`, `PT1H`, `P2D`, `P1W` (as in `docker logs --since` and the Inngest and
 * Svix CLIs); an ISO 8601 duration or time passes unchanged. Anything else is a usage error.
 */
export function sinceParameter(text: string): string {
  const short = /^(\d{1,9})([wdhms])$/.exec(text);
  if (short) {
    const unit = SHORT_UNITS[short[2]!]!;
    return unit === 'W' || unit === 'D' ? `P${short[1]}${unit}` : `PT${short[1]}${unit}`;
  }
  if (parseIsoDuration(text) !== undefined || parseEventTime(text)) return text;
  throw new CliError(
    `--since ${text}: expected a duration (90s, 15m, 1h, 2d, 1w, or ISO 8601 like PT1H) or an ISO 8601 time with a zone`,
    [],
    2,
  );
}

/** `--since` as an instant, for APIs that take times only (the event query). */
export function sinceTime(text: string, now: Date): string {
  const since = sinceParameter(text);
  const ms = parseIsoDuration(since);
  return ms === undefined ? since : new Date(now.getTime() - ms).toISOString();
}

/** `--source type:id` as the API's `{ type, id }`. */
export function parseSource(text: string): { type: string; id: string } {
  const at = text.indexOf(':');
  if (at <= 0 || at === text.length - 1) {
    throw new CliError(`--source ${text}: expected type:id, e.g. workflow:wf_42`, [], 2);
  }
  return { type: text.slice(0, at), id: text.slice(at + 1) };
}

/** Repeated `--tag name=value` options as an object. */
export function parseTags(pairs: readonly string[] = []): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new CliError(`--tag ${pair}: expected name=value`, [], 2);
    tags[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return tags;
}

/** Collects a repeatable commander option into an array. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** JSON text from a flag, named in the error when it does not parse. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`${what} is not JSON: ${(error as Error).message}`, [], 2);
  }
}

/** A value on one line, cut to `max` characters. */
export function oneLine(value: unknown, max = 80): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
