import type { Queryable } from '../db/database.ts';
import { deadWork, unfinishedWorkOfTarget, type WorkRecord } from '../routing/work-store.ts';
import type { DeliveryOutcome } from './delivery-handler.ts';

/** A delivery's work row. */
export type DeliveryRecord = WorkRecord<DeliveryOutcome>;

/** Dead letters are routing work of kind `delivery` whose attempts ran out. */
export async function deadLetters(
  db: Queryable,
  query: { subscriptionId?: string; limit: number; offset: number },
): Promise<Array<Record<string, unknown>>> {
  const { subscriptionId, limit, offset } = query;
  const rows = await deadWork<DeliveryOutcome>(db, {
    kind: 'delivery',
    ...(subscriptionId === undefined ? {} : { targetId: subscriptionId }),
    limit,
    offset,
  });
  return rows.map((r) => ({
    id: r.id,
    subscription_id: r.target_id,
    event_id: r.event_id,
    attempts: r.attempts,
    error: r.last_error,
    last_outcome: r.outcome,
    replay: r.replay,
    dead_since: r.updated_at.toISOString(),
  }));
}

/**
 * Why a delivery that is not finished waits: `queued` (due, never tried), `retry_backoff` (an
 * attempt failed; waiting for the next), `circuit_open` (the subscription's breaker holds it;
 * no attempt is used), `paused` (the subscription is paused), or `in_flight` (being attempted).
 */
export type PendingReason = 'queued' | 'retry_backoff' | 'circuit_open' | 'paused' | 'in_flight';

export function pendingReason(work: Pick<DeliveryRecord, 'status' | 'outcome'>): PendingReason {
  if (work.status === 'running') return 'in_flight';
  switch (work.outcome?.status) {
    case 'circuit_open':
      return 'circuit_open';
    case 'paused':
      return 'paused';
    case 'failed':
      return 'retry_backoff';
    default:
      return 'queued';
  }
}

/** A pending or scheduled delivery as `GET /v1/subscriptions/{id}/pending` shows it. */
function pendingDelivery(work: DeliveryRecord): Record<string, unknown> {
  return {
    id: work.id,
    event_id: work.event_id,
    reason: pendingReason(work),
    next_attempt_at: work.next_attempt_at.toISOString(),
    attempts: work.attempts,
    max_attempts: work.max_attempts,
    last_error: work.last_error,
    replay: work.replay,
    created_at: work.created_at.toISOString(),
  };
}

/** A subscription's deliveries not finished yet, next due first (`GET …/pending`). */
export async function pendingDeliveries(
  db: Queryable,
  subscriptionId: string,
  page: { limit: number; offset: number },
): Promise<Array<Record<string, unknown>>> {
  const work = await unfinishedWorkOfTarget<DeliveryOutcome>(
    db,
    'delivery',
    subscriptionId,
    page.limit,
    page.offset,
  );
  return work.map(pendingDelivery);
}
