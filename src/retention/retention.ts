import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';
import { type AgedRows, deleteOldest } from '../db/sql.ts';
import { FINISHED_WORK } from '../routing/work-store.ts';
import { DELIVERY_ATTEMPTS } from '../subscriptions/repository.ts';
import { FINISHED_WAITS } from '../waits/repository.ts';
import { FINISHED_INSTANCES } from '../workflows/repository.ts';

/**
 * Retention of the records events leave behind. Event partitions are dropped by
 * `maintainPartitions`; the rows below have ids that are not time-ordered (replays and
 * redeliveries use random UUIDs), so they are deleted by time through an index instead, in
 * batches of {@link RetentionOptions.batchSize}: each batch is one short statement of its own,
 * so no lock is held for long and the API and workers go on between batches.
 */
export interface RetentionPolicy {
  /**
   * Finished routing rows: trigger firings and deliveries that are done (fired, delivered,
   * skipped, filtered) or dead, by last change; and waits that ended (resolved, timed out,
   * cancelled), by their end. Env `ROUTING_RETENTION_DAYS`. Replays skip pairs that fired
   * before only while these rows exist, so keep it at least as long as the window replays go
   * back to.
   */
  routingDays: number | undefined;
  /** Delivery attempts (the delivery log), by attempt time. Env `DELIVERY_LOG_RETENTION_DAYS`. */
  deliveryLogDays: number | undefined;
  /**
   * Completed, failed and cancelled workflow instances, by finish time (running ones are
   * kept). Env `WORKFLOW_INSTANCE_RETENTION_DAYS`.
   */
  workflowInstanceDays: number | undefined;
}

export interface RetentionOptions {
  /** Rows one statement deletes at most. Default 1000. */
  batchSize?: number;
  /**
   * Batches per table in one pass, at most; what is left waits for the next pass, so one pass
   * stays bounded even after retention is first switched on over a large backlog. Default 100.
   */
  maxBatches?: number;
}

/** Each table's rows that may go (as its owner module names them), and their retention. */
const TABLES: ReadonlyArray<{ rows: AgedRows; days: keyof RetentionPolicy }> = [
  { rows: FINISHED_WORK, days: 'routingDays' },
  { rows: DELIVERY_ATTEMPTS, days: 'deliveryLogDays' },
  { rows: FINISHED_INSTANCES, days: 'workflowInstanceDays' },
  // A wait is routing state like a trigger firing: an open one is a match still to make, an
  // ended one only a record of how it went (its notification's work row goes with routing_work).
  { rows: FINISHED_WAITS, days: 'routingDays' },
];

/** Rows deleted per table in one pass. */
export type RetentionReport = Record<string, number>;

/** One retention pass over every table whose retention is set. */
export async function applyRetention(
  db: Database,
  policy: RetentionPolicy,
  now: Date,
  { batchSize = 1000, maxBatches = 100 }: RetentionOptions = {},
  logger?: Logger,
): Promise<RetentionReport> {
  const report: RetentionReport = {};
  for (const { rows, days } of TABLES) {
    const { table } = rows;
    const keepDays = policy[days];
    if (keepDays === undefined) continue;
    const before = new Date(now.getTime() - keepDays * 86_400_000);
    let deleted = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const count = await deleteOldest(db, rows, before, batchSize);
      deleted += count;
      if (count < batchSize) break;
    }
    report[table] = deleted;
    if (deleted > 0) {
      // The embedded PGlite runs no autovacuum: without this the space of deleted rows would
      // never be reused. A server's autovacuum does it by itself. Plain VACUUM takes no lock
      // that blocks reads or writes.
      if (db.kind === 'pglite') await db.exec(`VACUUM ${table}`);
      logger?.info({ table, deleted, before }, 'deleted records past their retention');
    }
  }
  return report;
}
