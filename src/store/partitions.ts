import type { Logger } from 'pino';
import { type Database, type Queryable, utcTimestampText } from '../db/database.ts';

/**
 * Time partitions of the events table. Partitions are created ahead of time; an event whose
 * period has none yet lands in the default partition (it is never refused), and maintenance
 * later moves such rows into a partition of their own. Retention drops whole partitions.
 */

export type PartitionInterval = 'month' | 'day';

export interface PartitionPolicy {
  /** Period of one partition. Env `EVENT_PARTITION_INTERVAL`, default `month`. */
  interval: PartitionInterval;
  /** Periods created ahead of the current one. Default 3 (months) or 14 (days). */
  aheadPeriods: number;
  /** Events older than this many days are dropped with their partition. Env `EVENT_RETENTION_DAYS`; undefined keeps forever. */
  retentionDays: number | undefined;
}

export interface Period {
  /** `2026-11` (month) or `2026-11-27` (day): the value of `events.partition_key`. */
  label: string;
  start: Date;
  end: Date;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

export function periodOf(date: Date, interval: PartitionInterval): Period {
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  if (interval === 'month') {
    const start = new Date(Date.UTC(year, month, 1));
    start.setUTCFullYear(year);
    const end = new Date(start);
    end.setUTCMonth(month + 1);
    return { label: `${pad(year, 4)}-${pad(month + 1)}`, start, end };
  }
  const start = new Date(Date.UTC(year, month, date.getUTCDate()));
  start.setUTCFullYear(year);
  const end = new Date(start.getTime() + 86_400_000);
  return { label: `${pad(year, 4)}-${pad(month + 1)}-${pad(date.getUTCDate())}`, start, end };
}

const nextPeriod = (period: Period, interval: PartitionInterval) => periodOf(period.end, interval);

/** Table name from a label our code computed (digits and dashes only, never client text). */
const tableName = (label: string) => `events_p${label.replaceAll('-', '_')}`;

/** Arbitrary constant shared by every instance: "eps partitions". */
const MAINTENANCE_LOCK = 0x65_70_73_70;

async function overlapsExisting(tx: Queryable, period: Period): Promise<boolean> {
  const { rowCount } = await tx.query(
    'SELECT 1 FROM event_partitions WHERE range_start < $2 AND range_end > $1',
    [period.start, period.end],
  );
  return rowCount > 0;
}

/** Creates the partition of `period`, moving any rows the default partition holds for it. */
async function createPartition(tx: Queryable, period: Period): Promise<boolean> {
  if (await overlapsExisting(tx, period)) return false;
  const name = tableName(period.label);
  const from = `'${utcTimestampText(period.start)}'`;
  const to = `'${utcTimestampText(period.end)}'`;
  await tx.exec(`CREATE TABLE ${name} (LIKE events INCLUDING DEFAULTS)`);
  await tx.query(
    `WITH moved AS (DELETE FROM events_default WHERE "timestamp" >= $1 AND "timestamp" < $2 RETURNING *)
     INSERT INTO ${name} SELECT * FROM moved`,
    [period.start, period.end],
  );
  await tx.exec(`ALTER TABLE events ATTACH PARTITION ${name} FOR VALUES FROM (${from}) TO (${to})`);
  await tx.query(
    'INSERT INTO event_partitions (name, label, range_start, range_end) VALUES ($1, $2, $3, $4)',
    [name, period.label, period.start, period.end],
  );
  return true;
}

/** Periods that should exist now: the current one, those ahead, and those stray rows need. */
async function wantedPeriods(tx: Queryable, policy: PartitionPolicy, now: Date): Promise<Period[]> {
  const periods: Period[] = [periodOf(now, policy.interval)];
  for (let i = 0; i < policy.aheadPeriods; i++)
    periods.push(nextPeriod(periods.at(-1)!, policy.interval));
  const { rows } = await tx.query<{ t: Date }>(
    `SELECT date_trunc($1, "timestamp") AS t FROM events_default GROUP BY 1 ORDER BY 1 LIMIT 100`,
    [policy.interval],
  );
  return [...periods, ...rows.map((r) => periodOf(r.t, policy.interval))];
}

async function dropExpired(tx: Queryable, cutoff: Date): Promise<string[]> {
  const { rows } = await tx.query<{ name: string; range_start: Date; range_end: Date }>(
    'SELECT name, range_start, range_end FROM event_partitions WHERE range_end <= $1 ORDER BY range_start',
    [cutoff],
  );
  for (const partition of rows) {
    await tx.exec(`DROP TABLE ${partition.name}`);
    await tx.query('DELETE FROM event_partitions WHERE name = $1', [partition.name]);
    await tx.query('DELETE FROM event_ids WHERE "timestamp" >= $1 AND "timestamp" < $2', [
      partition.range_start,
      partition.range_end,
    ]);
  }
  return rows.map((r) => r.name);
}

export interface MaintenanceReport {
  created: string[];
  dropped: string[];
}

/** One maintenance pass; instances sharing a database take turns (advisory lock). */
export async function maintainPartitions(
  db: Database,
  policy: PartitionPolicy,
  now: Date,
  logger?: Logger,
): Promise<MaintenanceReport> {
  const cutoff =
    policy.retentionDays === undefined
      ? undefined
      : new Date(now.getTime() - policy.retentionDays * 86_400_000);
  const report = await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MAINTENANCE_LOCK]);
    const created: string[] = [];
    // Stray rows of periods already past retention get a partition too, dropped just below.
    for (const period of await wantedPeriods(tx, policy, now)) {
      if (await createPartition(tx, period)) created.push(tableName(period.label));
    }
    const dropped = cutoff ? await dropExpired(tx, cutoff) : [];
    return { created, dropped };
  });
  if (report.created.length > 0)
    logger?.info({ partitions: report.created }, 'created event partitions');
  if (report.dropped.length > 0)
    logger?.info({ partitions: report.dropped, cutoff }, 'dropped expired event partitions');
  return report;
}
