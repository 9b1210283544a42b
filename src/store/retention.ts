import type { Logger } from 'pino';
import type { Database, Queryable } from '../db/database.ts';
import { deleteFinishedWork } from '../routing/work-store.ts';
import { deleteAttemptsBefore } from '../subscriptions/repository.ts';
import { deleteFinishedInstances } from '../workflows/repository.ts';

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
   * skipped, filtered) or dead, by last change. Env `ROUTING_RETENTION_DAYS`. Replays skip
   * pairs that fired before only while these rows exist, so keep it at least as long as the
   * window replays go back to.
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

/** One table's delete: at most `limit` rows older than `before`, answering how many. */
type Purge = (db: Queryable, before: Date, limit: number) => Promise<number>;

const TABLES: ReadonlyArray<{ table: string; days: keyof RetentionPolicy; purge: Purge }> = [
  { table: 'routing_work', days: 'routingDays', purge: deleteFinishedWork },
  { table: 'delivery_attempts', days: 'deliveryLogDays', purge: deleteAttemptsBefore },
  { table: 'workflow_instances', days: 'workflowInstanceDays', purge: deleteFinishedInstances },
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
  for (const { table, days, purge } of TABLES) {
    const keepDays = policy[days];
    if (keepDays === undefined) continue;
    const before = new Date(now.getTime() - keepDays * 86_400_000);
    let deleted = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const count = await purge(db, before, batchSize);
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
