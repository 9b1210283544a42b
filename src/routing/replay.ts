import { timeParameter } from '../events/time.ts';

/** The HTTP side of replays (both replay routes); the statement is `replayWork` in work-store.ts. */

/** The time range fields of a replay request body (both replay routes take them). */
export const replayRangeProperties = {
  startTime: { type: 'string', maxLength: 64 },
  endTime: { type: 'string', maxLength: 64 },
} as const;

/** A replay body's range as stored-timestamp text; 400 for a time that cannot be read. */
export function replayRange(body: { startTime: string; endTime: string }) {
  return {
    start: timeParameter('startTime', body.startTime),
    end: timeParameter('endTime', body.endTime),
  };
}
