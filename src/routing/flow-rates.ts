import type { TargetKind } from './work.ts';

/**
 * Per-edge attempt counts of the routing engine over the last minutes, for the console's flow
 * map: an edge is (event pattern → trigger, subscription or event processor), counted per
 * minute in a ring of buckets. Fed by the worker pool's record of every attempt (the same
 * callback that feeds the Prometheus counters), held in memory: per process, reset by a restart,
 * like the counters themselves.
 */
export interface FlowRatesOptions {
  /** Minutes kept (and the longest window a caller may ask for). Default 15. */
  minutes?: number;
  /** Most distinct edges counted; attempts on later edges are dropped, keeping memory bounded. Default 10,000. */
  maxEdges?: number;
}

export interface EdgeRate {
  kind: TargetKind;
  /** The event's pattern (the definition side of the edge). */
  pattern: string;
  /** The trigger or subscription id. */
  targetId: string;
  /** Attempts in the window. */
  attempts: number;
  /** Attempts that failed (will be retried, or were dead-lettered). */
  failures: number;
  /**
   * Attempts that passed something on: a trigger's that started or cancelled workflows (the
   * trigger → workflow edge), a processor's that derived its output event (processor → output).
   */
  fired: number;
}

interface Bucket {
  minute: number;
  attempts: number;
  failures: number;
  fired: number;
}

const MINUTE_MS = 60_000;

export class FlowRates {
  private readonly minutes: number;
  private readonly maxEdges: number;
  private readonly edges = new Map<
    string,
    { edge: Pick<EdgeRate, 'kind' | 'pattern' | 'targetId'>; buckets: Bucket[] }
  >();

  constructor(options: FlowRatesOptions = {}) {
    this.minutes = options.minutes ?? 15;
    this.maxEdges = options.maxEdges ?? 10_000;
  }

  get keptMinutes(): number {
    return this.minutes;
  }

  /** One attempt on an edge, at `now`. */
  record(
    edge: Pick<EdgeRate, 'kind' | 'pattern' | 'targetId'>,
    result: { failed: boolean; fired: boolean },
    now: Date,
  ): void {
    const key = `${edge.kind}\0${edge.pattern}\0${edge.targetId}`;
    let entry = this.edges.get(key);
    if (!entry) {
      if (this.edges.size >= this.maxEdges) this.prune(now);
      if (this.edges.size >= this.maxEdges) return;
      entry = { edge: { ...edge }, buckets: [] };
      this.edges.set(key, entry);
    }
    const minute = Math.floor(now.getTime() / MINUTE_MS);
    let bucket = entry.buckets.at(-1);
    if (bucket?.minute !== minute) {
      bucket = { minute, attempts: 0, failures: 0, fired: 0 };
      entry.buckets.push(bucket);
      entry.buckets = entry.buckets.filter((b) => b.minute > minute - this.minutes);
    }
    bucket.attempts++;
    if (result.failed) bucket.failures++;
    if (result.fired) bucket.fired++;
  }

  /** Each edge with attempts in the last `minutes` (the current, partial minute included). */
  window(minutes: number, now: Date): EdgeRate[] {
    const since = Math.floor(now.getTime() / MINUTE_MS) - Math.min(minutes, this.minutes) + 1;
    const rates: EdgeRate[] = [];
    for (const { edge, buckets } of this.edges.values()) {
      const recent = buckets.filter((b) => b.minute >= since);
      if (recent.length === 0) continue;
      const sum = (field: 'attempts' | 'failures' | 'fired') =>
        recent.reduce((total, b) => total + b[field], 0);
      rates.push({
        ...edge,
        attempts: sum('attempts'),
        failures: sum('failures'),
        fired: sum('fired'),
      });
    }
    return rates;
  }

  /** Forgets edges with nothing in the kept minutes. */
  private prune(now: Date): void {
    const oldest = Math.floor(now.getTime() / MINUTE_MS) - this.minutes + 1;
    for (const [key, { buckets }] of this.edges) {
      if ((buckets.at(-1)?.minute ?? 0) < oldest) this.edges.delete(key);
    }
  }
}
