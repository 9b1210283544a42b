import type { Queryable } from '../db/database.ts';
import { timeParameter } from '../events/time.ts';
import { wildcardRegex } from '../store/query.ts';
import type { RoutingTarget } from './work.ts';

export interface ReplayRequest {
  /** `timestamp(6)` text, inclusive. */
  start: string;
  /** `timestamp(6)` text, exclusive. */
  end: string;
  /** Route pairs that already have work again, as new work. */
  force: boolean;
  /** Narrows the target's own pattern (subscription replays); wildcards allowed. */
  pattern?: string;
}

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

/**
 * Queues routing work for `target` over the stored events of a time range, in one statement.
 * A pair that already has work keeps it (its idempotency key exists) unless `force`, which gives
 * the replay keys of its own.
 */
export async function replayTarget(
  db: Queryable,
  target: Pick<RoutingTarget, 'kind' | 'id' | 'pattern' | 'maxAttempts'>,
  request: ReplayRequest,
  now: Date,
): Promise<{ matched: number; queued: number }> {
  const patterns = [target.pattern, request.pattern ?? '**'].map(wildcardRegex);
  const { rows } = await db.query<{ matched: number; queued: number }>(
    `WITH matched AS (
       SELECT id, event_id, "timestamp" FROM events
        WHERE "timestamp" >= $1::timestamp AND "timestamp" < $2::timestamp
          AND (pattern || '.') ~ $3 AND (pattern || '.') ~ $4),
     queued AS (
       INSERT INTO routing_work (id, kind, target_id, event_id, event_row_id, event_timestamp, sequence,
         idempotency_key, max_attempts, replay, next_attempt_at, created_at, updated_at)
       SELECT gen_random_uuid(), $5::varchar, $6::uuid, m.event_id, m.id, m."timestamp", 0,
              $5::varchar || ':' || $6::uuid || ':' || m.event_id
                || CASE WHEN $7 THEN ':replay:' || gen_random_uuid() ELSE '' END,
              $8, true, $9, $9, $9
         FROM matched m
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING 1)
     SELECT (SELECT count(*) FROM matched)::int AS matched, (SELECT count(*) FROM queued)::int AS queued`,
    [
      request.start,
      request.end,
      patterns[0],
      patterns[1],
      target.kind,
      target.id,
      request.force,
      target.maxAttempts,
      now,
    ],
  );
  return rows[0]!;
}
