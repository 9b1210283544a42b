import { utcTimestampText } from '../db/database.ts';
import { fieldError, validationError } from '../errors.ts';

/**
 * Event times as publishers send them: ISO 8601 / RFC 3339 with a zone (`Z` or `±HH:MM`) and up
 * to microsecond precision. JavaScript's Date keeps milliseconds and rolls invalid dates over
 * (Feb 30 → Mar 2), so the text is checked field by field and the microseconds are kept apart.
 */

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

export interface EventTime {
  /** Millisecond precision, for partition periods and responses. */
  date: Date;
  /** `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, what the `timestamp(6)` column stores. */
  utc: string;
}

const daysInMonth = (year: number, month: number) =>
  new Date(Date.UTC(year, month, 0)).getUTCDate();

/** The instant `text` names, or undefined when it is not a valid ISO 8601 time with a zone. */
export function parseEventTime(text: string): EventTime | undefined {
  const m = ISO_TIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month))
    return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const offsetMinutes = m[8] ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11]));
  if (Math.abs(offsetMinutes) > 18 * 60 || Number(m[11] ?? 0) > 59) return undefined;
  const fraction = (m[7] ?? '').padEnd(6, '0').slice(0, 6);
  const local = Date.UTC(year, month - 1, day, hour, minute, second, Number(fraction.slice(0, 3)));
  const date = new Date(local - offsetMinutes * 60_000);
  // Date.UTC maps years 0-99 to 1900-1999.
  if (year < 100) date.setUTCFullYear(date.getUTCFullYear() - 1900);
  if (Number.isNaN(date.getTime())) return undefined;
  return { date, utc: utcTimestampText(date, Number(fraction.slice(3))) };
}

/** The event time of an instant a Date holds (e.g. when an event was received). */
export const eventTimeOf = (date: Date): EventTime => ({ date, utc: utcTimestampText(date) });

/** A time query or body parameter as the column's UTC text; a 400 naming `field` otherwise. */
export function timeParameter(field: string, text: string): string {
  const time = parseEventTime(text);
  if (!time) {
    throw validationError(`invalid ${field}`, [
      fieldError(field, 'format', 'must be an ISO 8601 time with a zone'),
    ]);
  }
  return time.utc;
}

/** The longest duration a request may name: about ten years, far beyond any retention. */
const MAX_DURATION_MS = 3660 * 24 * 3_600_000;

/**
 * An ISO 8601 duration of fixed-length units (`P2D`, `PT1H30M`, `P1W`, `PT0.5S`), as
 * milliseconds; undefined when it is not one. Years and months are refused: their length depends
 * on the calendar, and "the last month" is better said as a time. A day is 24 hours (UTC).
 * Hand-written: the grammar is one expression, and a library would accept the calendar units.
 */
export function parseIsoDuration(text: string): number | undefined {
  const m =
    /^P(?:(\d{1,6})W)?(?:(\d{1,6})D)?(?:T(?:(\d{1,8})H)?(?:(\d{1,9})M)?(?:(\d{1,10}(?:[.,]\d{1,3})?)S)?)?$/.exec(
      text,
    );
  if (!m || text === 'P' || text.endsWith('T')) return undefined;
  const [weeks, days, hours, minutes] = m.slice(1, 5).map((n) => Number(n ?? 0)) as [
    number,
    number,
    number,
    number,
  ];
  const seconds = Number((m[5] ?? '0').replace(',', '.'));
  const ms = Math.round(((((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds) * 1000);
  return ms <= MAX_DURATION_MS ? ms : undefined;
}

/**
 * A time parameter that may also be an ISO 8601 duration meaning that long before `now`
 * (`startTime: "PT1H"` = an hour ago), as the column's UTC text; a 400 naming `field` otherwise.
 */
export function timeOrDurationParameter(field: string, text: string, now: Date): string {
  const ms = text.startsWith('P') ? parseIsoDuration(text) : undefined;
  if (ms !== undefined) return utcTimestampText(new Date(now.getTime() - ms));
  if (parseEventTime(text)) return timeParameter(field, text);
  throw validationError(`invalid ${field}`, [
    fieldError(
      field,
      'format',
      'must be an ISO 8601 time with a zone or an ISO 8601 duration before now (e.g. PT1H, P2D)',
    ),
  ]);
}
