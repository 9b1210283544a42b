import type { Queryable } from '../db/database.ts';

/** SQL of the shared rate-limit windows (one row per subject, class and window). */
export class RateLimitStore {
  constructor(private readonly db: Queryable) {}

  /**
   * Adds `amount` to the window's count, creating the row when it is the window's first claim,
   * and returns the count after the addition. One statement: concurrent instances serialise on
   * the row, so every claim sees the counts of the claims before it.
   */
  async claim(
    subject: string,
    rateClass: string,
    windowStart: Date,
    amount: number,
  ): Promise<number> {
    const { rows } = await this.db.query<{ count: number }>(
      `INSERT INTO rate_limit_windows (subject, rate_class, window_start, count)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (subject, rate_class, window_start)
       DO UPDATE SET count = rate_limit_windows.count + EXCLUDED.count
       RETURNING count`,
      [subject, rateClass, windowStart, amount],
    );
    return rows[0]!.count;
  }

  /** Deletes windows that ended before `before`. */
  async prune(before: Date): Promise<void> {
    await this.db.query('DELETE FROM rate_limit_windows WHERE window_start < $1', [before]);
  }
}
