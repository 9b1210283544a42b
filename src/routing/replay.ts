import { timeOrDurationParameter } from '../events/time.ts';

/** The HTTP side of replays (both replay routes); the statement is `replayWork` in work-store.ts. */

const TIME_OR_DURATION =
  'ISO 8601 time with a zone, or an ISO 8601 duration before now in weeks, days, hours, minutes, seconds (PT1H = an hour ago, P2D = two days ago)';

/** The time range fields of a replay request body (both replay routes take them). */
export const replayRangeProperties = {
  startTime: {
    type: 'string',
    maxLength: 64,
    description: `inclusive; ${TIME_OR_DURATION}`,
  },
  endTime: {
    type: 'string',
    maxLength: 64,
    description: `exclusive; ${TIME_OR_DURATION}; default now`,
  },
} as const;

/**
 * A replay body's range as stored-timestamp text; 400 for a time that cannot be read. Durations
 * count back from `now`, so `{ startTime: "PT1H" }` replays the last hour (as `--since 1h` in
 * Inngest's and Svix's tools); without an endTime the range ends now.
 */
export function replayRange(body: { startTime: string; endTime?: string }, now: Date) {
  return {
    start: timeOrDurationParameter('startTime', body.startTime, now),
    end: timeOrDurationParameter('endTime', body.endTime ?? now.toISOString(), now),
  };
}
