import type { Queryable } from '../db/database.ts';

/** Dead letters are routing work of kind `delivery` whose attempts ran out. */

export async function deadLetters(
  db: Queryable,
  query: { subscriptionId?: string; limit: number; offset: number },
): Promise<Array<Record<string, unknown>>> {
  const { rows } = await db.query<{
    id: string;
    target_id: string;
    event_id: string;
    attempts: number;
    last_error: string | null;
    outcome: unknown;
    replay: boolean;
    updated_at: Date;
  }>(
    `SELECT id, target_id, event_id, attempts, last_error, outcome, replay, updated_at FROM routing_work
      WHERE kind = 'delivery' AND status = 'dead' AND ($1::uuid IS NULL OR target_id = $1::uuid)
      ORDER BY updated_at DESC, id LIMIT $2 OFFSET $3`,
    [query.subscriptionId ?? null, query.limit, query.offset],
  );
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
