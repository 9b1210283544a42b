/**
 * Delays between retries after consecutive failures: `firstMs`, doubling up to `maxMs`; a
 * success starts over. Loops that depend on the database use it to wait out an outage without
 * hammering the server or the log, and to resume by themselves once it answers again.
 */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly firstMs: number,
    private readonly maxMs: number,
  ) {}

  /** The delay before the next try after one more failure. */
  failed(): number {
    const delay = Math.min(this.maxMs, this.firstMs * 2 ** Math.min(this.failures, 30));
    this.failures += 1;
    return delay;
  }

  succeeded(): void {
    this.failures = 0;
  }
}
