import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RETRY_POLICY,
  isExhausted,
  MAX_RETRY_AFTER_MS,
  nextAttemptDelay,
  parseRetryAfter,
  type RetryPolicy,
} from './retry.ts';

const policies = fc.record({
  maxAttempts: fc.integer({ min: 1, max: 100 }),
  backoffFactor: fc.double({ min: 1, max: 10, noNaN: true }),
  initialDelayMs: fc.integer({ min: 0, max: 600_000 }),
  maxDelayMs: fc.integer({ min: 0, max: 7 * 86_400_000 }),
});
const attempts = fc.integer({ min: 1, max: 200 });
const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe('nextAttemptDelay', () => {
  it("follows the spec's default schedule: 1, 2, 4, 8 s with equal jitter", () => {
    const top = () => 1 - Number.EPSILON;
    const bottom = () => 0;
    expect([1, 2, 3, 4].map((n) => nextAttemptDelay(DEFAULT_RETRY_POLICY, n, top))).toEqual([
      999, 1999, 3999, 7999,
    ]);
    expect([1, 2, 3, 4].map((n) => nextAttemptDelay(DEFAULT_RETRY_POLICY, n, bottom))).toEqual([
      500, 1000, 2000, 4000,
    ]);
  });

  it('does not delay the first attempt', () => {
    expect(nextAttemptDelay(DEFAULT_RETRY_POLICY, 0, () => 0.9)).toBe(0);
  });

  it('caps the scheduled delay at maxDelayMs, even for huge exponents', () => {
    const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, maxDelayMs: 60_000 };
    expect(nextAttemptDelay(policy, 10, () => 0)).toBe(30_000);
    expect(nextAttemptDelay(policy, 5000, () => 0.999_999)).toBeLessThanOrEqual(60_000);
    expect(nextAttemptDelay(policy, 5000, () => 0.999_999)).toBeGreaterThan(59_000);
  });

  it('honours a Retry-After longer than the backoff, beyond the cap', () => {
    expect(nextAttemptDelay(DEFAULT_RETRY_POLICY, 1, () => 0.5, 120_000)).toBe(120_000);
    const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, maxDelayMs: 10_000 };
    expect(nextAttemptDelay(policy, 1, () => 0.5, 7_200_000)).toBe(7_200_000);
  });

  it('keeps the backoff when Retry-After asks for less', () => {
    expect(nextAttemptDelay(DEFAULT_RETRY_POLICY, 4, () => 0, 1000)).toBe(4000);
    expect(nextAttemptDelay(DEFAULT_RETRY_POLICY, 4, () => 0, 0)).toBe(4000);
  });

  it('caps Retry-After at 24 hours', () => {
    expect(nextAttemptDelay(DEFAULT_RETRY_POLICY, 1, () => 0, 30 * 86_400_000)).toBe(
      MAX_RETRY_AFTER_MS,
    );
  });

  it('never exceeds maxDelayMs without Retry-After and is never negative', () => {
    fc.assert(
      fc.property(policies, attempts, unit, (policy, n, r) => {
        const delay = nextAttemptDelay(policy, n, () => r);
        return delay >= 0 && delay <= policy.maxDelayMs && Number.isInteger(delay);
      }),
    );
  });

  it('with Retry-After, never exceeds the larger of maxDelayMs and the Retry-After cap', () => {
    fc.assert(
      fc.property(
        policies,
        attempts,
        unit,
        fc.integer({ min: 0, max: 100 * 86_400_000 }),
        (policy, n, r, retryAfter) => {
          const delay = nextAttemptDelay(policy, n, () => r, retryAfter);
          const cap = Math.max(policy.maxDelayMs, Math.min(retryAfter, MAX_RETRY_AFTER_MS));
          return delay >= 0 && delay <= cap && delay >= Math.min(retryAfter, MAX_RETRY_AFTER_MS);
        },
      ),
    );
  });

  it('stays within [scheduled/2, scheduled] (equal jitter)', () => {
    fc.assert(
      fc.property(policies, attempts, unit, (policy, n, r) => {
        const scheduled = Math.min(
          policy.maxDelayMs,
          policy.initialDelayMs * policy.backoffFactor ** (n - 1),
        );
        const delay = nextAttemptDelay(policy, n, () => r);
        return delay >= Math.floor(scheduled / 2) && delay <= scheduled;
      }),
    );
  });

  it('grows in expectation with each attempt', () => {
    // The delay is linear in the random draw, so its expectation is the delay at r = 0.5.
    fc.assert(
      fc.property(policies, attempts, (policy, n) => {
        const mean = (k: number) => nextAttemptDelay(policy, k, () => 0.5);
        return mean(n + 1) >= mean(n);
      }),
    );
  });

  it('grows in sampled means with Math.random for the default policy', () => {
    const means = [1, 2, 3, 4].map((n) => {
      let sum = 0;
      for (let i = 0; i < 2000; i++) sum += nextAttemptDelay(DEFAULT_RETRY_POLICY, n);
      return sum / 2000;
    });
    for (let i = 1; i < means.length; i++) {
      expect(means[i]!).toBeGreaterThan(means[i - 1]! * 1.8);
    }
    expect(means[0]).toBeGreaterThan(700);
    expect(means[0]).toBeLessThan(800);
  });
});

describe('isExhausted', () => {
  it('counts the first attempt: 5 attempts in all by default', () => {
    expect(isExhausted(DEFAULT_RETRY_POLICY, 4)).toBe(false);
    expect(isExhausted(DEFAULT_RETRY_POLICY, 5)).toBe(true);
    expect(isExhausted({ ...DEFAULT_RETRY_POLICY, maxAttempts: 1 }, 1)).toBe(true);
    expect(isExhausted({ ...DEFAULT_RETRY_POLICY, maxAttempts: 1 }, 0)).toBe(false);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-27T10:00:00Z');

  it.each([
    ['120', 120_000],
    [' 5 ', 5000],
    ['Fri, 27 Nov 2026 10:02:00 GMT', 120_000],
    ['Friday, 27-Nov-26 10:00:30 GMT', 30_000],
  ])('reads %j as %i ms', (header, ms) => {
    expect(parseRetryAfter(header, now)).toBe(ms);
  });

  it.each([
    [undefined],
    [''],
    ['0'],
    ['-5'],
    ['1.5'],
    ['soon'],
    ['2026-11-27T10:05:00Z'],
    ['Fri, 27 Nov 2026 09:59:00 GMT'],
  ])('ignores %j', (header) => {
    expect(parseRetryAfter(header, now)).toBeUndefined();
  });
});
