import type { Queryable } from '../db/database.ts';
import { deadWork } from '../routing/work-store.ts';

/** Dead letters are routing work of kind `delivery` whose attempts ran out. */
export async function deadLetters(
  db: Queryable,
  query: { subscriptionId?: string; limit: number; offset: number },
): Promise<Array<Record<string, unknown>>> {
  const { subscriptionId, limit, offset } = query;
  const rows = await deadWork(db, {
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
