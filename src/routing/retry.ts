/**
 * When to try failed routing work (a delivery, a trigger firing) again: exponential backoff with equal jitter, capped, and
 * stretched by a receiver's `Retry-After`. Pure: the caller supplies the attempt count, the
 * randomness and the time.
 */

/** A subscription's `retry_policy`; every field has the default of {@link DEFAULT_RETRY_POLICY}. */
export interface RetryPolicy {
  /** Attempts in all, the first one included; the delivery is dead-lettered after the last. Default 5. */
  maxAttempts: number;
  /** Each retry's scheduled delay is this many times the previous one's. Default 2. */
  backoffFactor: number;
  /** Scheduled delay before the first retry (the second attempt), in ms. Default 1000. */
  initialDelayMs: number;
  /** No backoff delay exceeds this, in ms (a receiver's `Retry-After` may). Default 3,600,000 (1 h). */
  maxDelayMs: number;
}

/**
 * The spec's event-delivery policy: 5 attempts, 2x backoff from 1 s. Its own schedule stays far
 * below the 1 h cap (1, 2, 4, 8 s before jitter); the cap matters for subscriptions that ask for
 * many more attempts, where doubling would otherwise reach days.
 */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 5,
  backoffFactor: 2,
  initialDelayMs: 1000,
  maxDelayMs: 3_600_000,
});

/**
 * The longest `Retry-After` honoured, in ms (24 h). A receiver may ask for more than the policy's
 * cap, and is obeyed up to this, so that a hostile or mistaken header cannot park a delivery
 * (and its slot in the retry schedule) for weeks.
 */
export const MAX_RETRY_AFTER_MS = 86_400_000;

/**
 * How long to wait before the next attempt, in ms, after `attemptsMade` attempts failed (0 → 0:
 * the first attempt is not delayed).
 *
 * The scheduled delay is `initialDelayMs × backoffFactor^(attemptsMade − 1)`, capped at
 * `maxDelayMs`. **Equal jitter** picks uniformly from the upper half, `[d/2, d]`, rather than
 * full jitter's `[0, d]`: retries of many deliveries to one receiver still spread out, yet no
 * retry lands right after the failure it follows, which a receiver that just failed would not
 * survive better than the first time.
 *
 * `retryAfterMs` is the receiver's `Retry-After` (see {@link parseRetryAfter}): the delay is the
 * larger of it (capped at {@link MAX_RETRY_AFTER_MS}) and the jittered backoff.
 *
 * @param random returns a number in [0, 1); injected so tests can fix it.
 */
export function nextAttemptDelay(
  policy: RetryPolicy,
  attemptsMade: number,
  random: () => number = Math.random,
  retryAfterMs?: number,
): number {
  if (attemptsMade <= 0) return 0;
  // Math.min first so that a large exponent (Infinity) collapses to the cap, never NaN.
  const scheduled = Math.min(
    policy.maxDelayMs,
    policy.initialDelayMs * policy.backoffFactor ** (attemptsMade - 1),
  );
  const r = Math.min(Math.max(random(), 0), 1);
  const backoff = Math.floor(scheduled / 2 + (r * scheduled) / 2);
  const honoured =
    retryAfterMs !== undefined && retryAfterMs > 0
      ? Math.ceil(Math.min(retryAfterMs, MAX_RETRY_AFTER_MS))
      : 0;
  return Math.max(backoff, honoured);
}

/** True when `attemptsMade` attempts used up the policy: the delivery goes to the dead letters. */
export function isExhausted(policy: RetryPolicy, attemptsMade: number): boolean {
  return attemptsMade >= policy.maxAttempts;
}

/**
 * A `Retry-After` header in ms from `nowMs`: delay-seconds (`120`) or an HTTP date. Absent,
 * malformed or past values give `undefined` (no wish to honour).
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    return seconds > 0 ? seconds * 1000 : undefined;
  }
  // An HTTP date (IMF-fixdate, or the obsolete RFC 850 form) starts with a weekday and ends in
  // GMT. Date.parse accepts much more, some of it in local time, so insist on that shape.
  if (!/^[A-Za-z]{3,9}, .+ GMT$/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at) || at <= nowMs) return undefined;
  return at - nowMs;
}
