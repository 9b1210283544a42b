import type { Clock } from '../clock.ts';
import type { RateLimitStore } from './rate-limit-store.ts';
import type { RateClass } from './scopes.ts';

/** The outcome of one request against its limit, with what the X-RateLimit headers report. */
export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  /** Requests left in this window (an estimate when several instances share the limit). */
  remaining: number;
  /** End of the current window. */
  resetAt: Date;
}

export interface RateLimiterOptions {
  store: RateLimitStore;
  clock: Clock;
  /** Requests per window per subject and class; 0 (or absent) means unlimited. */
  limits: Partial<Record<RateClass, number>>;
  /** Window length in milliseconds. Default 60,000 (the limits are per minute). */
  windowMs?: number;
  /**
   * Share of a limit claimed from the shared count at once (a lease), at least 1 request.
   * Default 1/100: a limit of 1000/min costs one statement per 10 requests, and each instance
   * can leave at most 1% of the limit leased but unused when a window ends.
   */
  leaseFraction?: number;
}

interface Bucket {
  windowStart: number;
  /** Requests this instance has claimed and not used yet. */
  leased: number;
  /** The shared count as of this instance's last claim (every instance's claims). */
  sharedCount: number;
  /** The claim in flight, which concurrent requests of the same bucket wait for. */
  claiming: Promise<void> | undefined;
}

/**
 * Fixed-window rate limits that hold across instances sharing one PostgreSQL database.
 *
 * Every instance claims requests from the window's shared count in leases (see
 * {@link RateLimiterOptions.leaseFraction}) and serves them from memory, so the sum served by
 * all instances never passes the limit while the request path mostly costs no statement at all.
 * A claim that passes the limit is granted only what was left; once the shared count reaches
 * the limit the instance refuses locally until the window ends, again without a statement.
 * Trade-offs: leases unused on one instance are lost to the others for that window, and a fixed
 * window lets a client send up to twice its limit around a window boundary.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly windowMs: number;
  private readonly leaseFraction: number;
  private prunedWindow = 0;

  constructor(private readonly options: RateLimiterOptions) {
    this.windowMs = options.windowMs ?? 60_000;
    this.leaseFraction = options.leaseFraction ?? 0.01;
  }

  limitOf(rateClass: RateClass): number {
    return this.options.limits[rateClass] ?? 0;
  }

  /** Counts one request of `subject` in `rateClass`; undefined when the class is unlimited. */
  async take(subject: string, rateClass: RateClass): Promise<RateLimitDecision | undefined> {
    const limit = this.limitOf(rateClass);
    if (limit <= 0) return undefined;
    const windowStart = this.windowStartOf(this.options.clock.now().getTime());
    await this.startWindow(windowStart);
    const id = `${rateClass}\u0000${subject}`;
    let bucket = this.buckets.get(id);
    if (!bucket || bucket.windowStart !== windowStart) {
      bucket = { windowStart, leased: 0, sharedCount: 0, claiming: undefined };
      this.buckets.set(id, bucket);
    }
    const resetAt = new Date(bucket.windowStart + this.windowMs);
    for (;;) {
      if (bucket.leased > 0) {
        bucket.leased -= 1;
        return { allowed: true, limit, remaining: this.remaining(bucket, limit), resetAt };
      }
      if (bucket.sharedCount >= limit) {
        return { allowed: false, limit, remaining: 0, resetAt };
      }
      if (!bucket.claiming) {
        const target = bucket;
        target.claiming = this.claim(subject, rateClass, target, limit).finally(() => {
          target.claiming = undefined;
        });
      }
      await bucket.claiming;
    }
  }

  /** Forgets every lease (tests, after the tables were emptied). */
  reset(): void {
    this.buckets.clear();
    this.prunedWindow = 0;
  }

  private async claim(
    subject: string,
    rateClass: RateClass,
    bucket: Bucket,
    limit: number,
  ): Promise<void> {
    const lease = Math.max(1, Math.floor(limit * this.leaseFraction));
    const count = await this.options.store.claim(
      subject,
      rateClass,
      new Date(bucket.windowStart),
      lease,
    );
    const before = count - lease;
    bucket.leased += Math.max(0, Math.min(lease, limit - before));
    bucket.sharedCount = Math.max(bucket.sharedCount, count);
  }

  /** Requests left in the window: the limit less every claim, plus this instance's unused lease. */
  private remaining(bucket: Bucket, limit: number): number {
    return Math.max(0, Math.min(limit, limit - bucket.sharedCount + bucket.leased));
  }

  private windowStartOf(now: number): number {
    return Math.floor(now / this.windowMs) * this.windowMs;
  }

  /** Once per window: drop buckets and stored rows of windows before the previous one. */
  private async startWindow(windowStart: number): Promise<void> {
    if (windowStart <= this.prunedWindow) return;
    this.prunedWindow = windowStart;
    for (const [id, bucket] of this.buckets) {
      if (bucket.windowStart < windowStart) this.buckets.delete(id);
    }
    await this.options.store.prune(new Date(windowStart - this.windowMs));
  }
}
