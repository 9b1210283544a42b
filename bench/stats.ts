/** Nanoseconds per call of `fn`, over `iterations` calls. */
export function timeIt(iterations: number, fn: () => unknown): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - start) / iterations;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The q-quantile (0..1) of `values`, nearest rank. */
export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export const round = (n: number, digits = 1) => Number(n.toFixed(digits));

/** Count, p50, p90, p99 and max of `values` (null when empty), rounded to 0.1. */
export const distribution = (values: number[]) =>
  values.length === 0
    ? null
    : {
        n: values.length,
        p50: round(quantile(values, 0.5)),
        p90: round(quantile(values, 0.9)),
        p99: round(quantile(values, 0.99)),
        max: round(Math.max(...values)),
      };

/**
 * A benchmark's integer setting from the environment: `fallback` when unset or blank; throws
 * unless it is an integer of at least `least` (default 1).
 */
export function integerSetting(text: string | undefined, fallback: number, least = 1): number {
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text.trim());
  if (!Number.isInteger(value) || value < least)
    throw new Error(`expected an integer >= ${least}, not ${text}`);
  return value;
}
