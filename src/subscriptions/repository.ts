import type { Database, Queryable } from '../db/database.ts';
import { UniqueViolation } from '../db/pg-errors.ts';
import { type AgedRows, equalityFilters, onlyRow } from '../db/sql.ts';
import type { CircuitState } from '../delivery/circuit-breaker.ts';
import { conflict, fieldError } from '../errors.ts';
import {
  type StoredSubscription,
  type SubscriptionStatus,
  type SubscriptionStatusFilter,
  statusesMatching,
} from './subscription.ts';

/** SQL of subscriptions and their delivery log. */

interface SubscriptionRow {
  id: string;
  name: string | null;
  labels: Record<string, string>;
  event_pattern: string;
  subscriber_id: string;
  subscriber_type: StoredSubscription['subscriberType'];
  format: StoredSubscription['format'];
  endpoint: string;
  headers: Record<string, string>;
  auth_type: StoredSubscription['authType'];
  auth_credentials_sealed: string | null;
  filter_expression: string | null;
  retry_policy: StoredSubscription['retryPolicy'];
  circuit_breaker: StoredSubscription['circuitBreaker'];
  circuit_state: CircuitState;
  description: string | null;
  status: SubscriptionStatus;
  disabled_reason: string | null;
  signing_secret_sealed: string;
  previous_secret_sealed: string | null;
  secret_rotated_at: Date | null;
  failing_since: Date | null;
  created_at: Date;
  updated_at: Date;
  revision: number;
}

const toSubscription = (r: SubscriptionRow): StoredSubscription => ({
  id: r.id,
  name: r.name,
  labels: r.labels,
  eventPattern: r.event_pattern,
  subscriberId: r.subscriber_id,
  subscriberType: r.subscriber_type,
  format: r.format,
  endpoint: r.endpoint,
  headers: r.headers,
  authType: r.auth_type,
  authCredentialsSealed: r.auth_credentials_sealed,
  filterExpression: r.filter_expression,
  retryPolicy: r.retry_policy,
  circuitBreaker: r.circuit_breaker,
  circuitState: r.circuit_state,
  description: r.description,
  status: r.status,
  disabledReason: r.disabled_reason,
  signingSecretSealed: r.signing_secret_sealed,
  previousSecretSealed: r.previous_secret_sealed,
  secretRotatedAt: r.secret_rotated_at,
  failingSince: r.failing_since,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  revision: r.revision,
});

const COLUMNS = `id, event_pattern, subscriber_id, subscriber_type, endpoint, headers, auth_type,
  auth_credentials_sealed, filter_expression, retry_policy, circuit_breaker, circuit_state, description,
  status, disabled_reason, signing_secret_sealed, previous_secret_sealed, secret_rotated_at, failing_since,
  created_at, updated_at, revision, format, name, labels`;

const json = (value: unknown) => JSON.stringify(value);

/** Inserts or, for an existing id, replaces every field and moves the revision. */
export async function saveSubscription(
  tx: Queryable,
  s: StoredSubscription,
): Promise<StoredSubscription> {
  const { rows } = await tx
    .query<SubscriptionRow>(
      `INSERT INTO subscriptions (${COLUMNS})
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10::jsonb, $11::jsonb, $12::jsonb, $13, $14, $15, $16, $17,
             $18, $19, $20, $21, 1, $22, $23, $24::jsonb)
     ON CONFLICT (id) DO UPDATE SET event_pattern = $2, subscriber_id = $3, subscriber_type = $4, endpoint = $5,
       headers = $6::jsonb, auth_type = $7, auth_credentials_sealed = $8, filter_expression = $9,
       retry_policy = $10::jsonb, circuit_breaker = $11::jsonb, circuit_state = $12::jsonb, description = $13,
       status = $14, disabled_reason = $15, signing_secret_sealed = $16, previous_secret_sealed = $17,
       secret_rotated_at = $18, failing_since = $19, updated_at = $21, revision = subscriptions.revision + 1,
       format = $22, name = $23, labels = $24::jsonb
     RETURNING ${COLUMNS}`,
      [
        s.id,
        s.eventPattern,
        s.subscriberId,
        s.subscriberType,
        s.endpoint,
        json(s.headers),
        s.authType,
        s.authCredentialsSealed,
        s.filterExpression,
        json(s.retryPolicy),
        json(s.circuitBreaker),
        json(s.circuitState),
        s.description,
        s.status,
        s.disabledReason,
        s.signingSecretSealed,
        s.previousSecretSealed,
        s.secretRotatedAt,
        s.failingSince,
        s.createdAt,
        s.updatedAt,
        s.format,
        s.name,
        json(s.labels),
      ],
    )
    .catch((error: unknown) => {
      if (!(error instanceof UniqueViolation)) throw error;
      throw conflict(`a subscription named ${s.name} exists`, 'conflict', [
        fieldError('name', 'conflict', 'is taken by another subscription'),
      ]);
    });
  return toSubscription(onlyRow({ rows }));
}

/** One subscription by its id or, with `by: 'name'`, by its name. */
export async function findSubscription(
  db: Queryable,
  key: string,
  forUpdate = false,
  by: 'id' | 'name' = 'id',
): Promise<StoredSubscription | undefined> {
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT ${COLUMNS} FROM subscriptions WHERE ${by === 'id' ? 'id' : 'name'} = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [key],
  );
  return rows[0] && toSubscription(rows[0]);
}

export async function deleteSubscription(tx: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await tx.query('DELETE FROM subscriptions WHERE id = $1', [id]);
  return rowCount > 0;
}

/** Subscriptions events are routed to: active ones, and paused ones (their deliveries wait). */
export async function routableSubscriptions(db: Queryable): Promise<StoredSubscription[]> {
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT ${COLUMNS} FROM subscriptions WHERE status <> 'disabled'`,
  );
  return rows.map(toSubscription);
}

export async function countActiveSubscriptions(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM subscriptions WHERE status = 'active'`,
  );
  return onlyRow({ rows }).n;
}

export interface SubscriptionFilters {
  name?: string;
  event_pattern?: string;
  subscriber_id?: string;
  status?: SubscriptionStatusFilter;
  limit: number;
  offset: number;
}

export async function listSubscriptions(
  db: Queryable,
  filters: SubscriptionFilters,
): Promise<{ subscriptions: StoredSubscription[]; total: number }> {
  const { whereSql, params } = equalityFilters([
    ['name', filters.name],
    ['event_pattern', filters.event_pattern],
    ['subscriber_id', filters.subscriber_id],
    ['status', filters.status && statusesMatching(filters.status)],
  ]);
  const count = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM subscriptions ${whereSql}`,
    params,
  );
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT ${COLUMNS} FROM subscriptions ${whereSql} ORDER BY created_at, id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, filters.limit, filters.offset],
  );
  return { subscriptions: rows.map(toSubscription), total: onlyRow(count).n };
}

export interface Health {
  circuitState: CircuitState;
  failingSince: Date | null;
}

/**
 * Read-modify-write of a subscription's breaker and failure clock under a row lock, so workers
 * delivering to one subscription at once do not lose each other's updates. No revision change:
 * this is not a client edit. Returns what `change` returned, or undefined for a deleted row.
 */
export async function updateHealth<T>(
  db: Database,
  id: string,
  now: Date,
  change: (current: Health) => { health: Health; result: T },
): Promise<T | undefined> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ circuit_state: CircuitState; failing_since: Date | null }>(
      'SELECT circuit_state, failing_since FROM subscriptions WHERE id = $1 FOR UPDATE',
      [id],
    );
    if (!rows[0]) return undefined;
    const { health, result } = change({
      circuitState: rows[0].circuit_state,
      failingSince: rows[0].failing_since,
    });
    await tx.query(
      'UPDATE subscriptions SET circuit_state = $2::jsonb, failing_since = $3, updated_at = $4 WHERE id = $1',
      [id, json(health.circuitState), health.failingSince, now],
    );
    return result;
  });
}

/** Disables a subscription that is not already; true when this call did it. */
export async function disableSubscription(
  tx: Queryable,
  id: string,
  reason: string,
  now: Date,
): Promise<boolean> {
  const { rowCount } = await tx.query(
    `UPDATE subscriptions SET status = 'disabled', disabled_reason = $2, updated_at = $3, revision = revision + 1
      WHERE id = $1 AND status <> 'disabled'`,
    [id, reason, now],
  );
  return rowCount > 0;
}

export interface AttemptRow {
  id: string;
  workId: string;
  subscriptionId: string;
  eventId: string;
  attempt: number;
  outcome: string;
  statusCode: number | null;
  latencyMs: number | null;
  error: string | null;
  replay: boolean;
  nextAttemptAt: Date | null;
  createdAt: Date;
}

/** Writes a round's attempts in one statement. */
export async function insertAttempts(db: Queryable, attempts: AttemptRow[]): Promise<void> {
  if (attempts.length === 0) return;
  const column = <K extends keyof AttemptRow>(key: K) => attempts.map((a) => a[key]);
  await db.query(
    `INSERT INTO delivery_attempts (id, work_id, subscription_id, event_id, attempt, outcome, status_code, latency_ms,
       error, replay, next_attempt_at, created_at)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::varchar[], $5::int[], $6::varchar[],
       $7::int[], $8::int[], $9::text[], $10::boolean[], $11::timestamp[], $12::timestamp[])`,
    [
      column('id'),
      column('workId'),
      column('subscriptionId'),
      column('eventId'),
      column('attempt'),
      column('outcome'),
      column('statusCode'),
      column('latencyMs'),
      column('error'),
      column('replay'),
      column('nextAttemptAt'),
      column('createdAt'),
    ],
  );
}

/** Subscriptions by id (those that exist). */
export async function findSubscriptions(
  db: Queryable,
  ids: string[],
): Promise<Map<string, StoredSubscription>> {
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT ${COLUMNS} FROM subscriptions WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return new Map(rows.map((row) => [row.id, toSubscription(row)]));
}

/** The delivery log, newest first, of a subscription or of an event. */
export async function listAttempts(
  db: Queryable,
  by: { subscriptionId: string } | { eventId: string },
  limit: number,
  offset: number,
): Promise<Array<Record<string, unknown>>> {
  const [column, value] =
    'subscriptionId' in by ? ['subscription_id', by.subscriptionId] : ['event_id', by.eventId];
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT id, work_id AS delivery_id, subscription_id, event_id, attempt, outcome, status_code, latency_ms, error,
            replay, next_attempt_at, created_at
       FROM delivery_attempts WHERE ${column} = $1 ORDER BY created_at DESC, attempt DESC LIMIT $2 OFFSET $3`,
    [value, limit, offset],
  );
  return rows.map((r) => ({
    ...r,
    next_attempt_at: (r.next_attempt_at as Date | null)?.toISOString() ?? null,
    created_at: (r.created_at as Date).toISOString(),
  }));
}

/** What retention deletes of the delivery log: attempts, by attempt time (index of migration 0015). */
export const DELIVERY_ATTEMPTS: AgedRows = { table: 'delivery_attempts', time: 'created_at' };
