/** JSON values as the compatibility rules compare them. */

/** JSON text with object keys sorted, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export const sameJson = (a: unknown, b: unknown): boolean =>
  a === b || canonicalJson(a) === canonicalJson(b);

/** A finite number as an exact decimal: `digits × 10^exponent`. */
function decimal(value: number): { digits: bigint; exponent: number } {
  const [mantissa = '0', exp = '0'] = String(value).toLowerCase().split('e');
  const [whole = '0', fraction = ''] = mantissa.split('.');
  return { digits: BigInt(whole + fraction), exponent: Number(exp) - fraction.length };
}

/**
 * Whether `value` is an integer multiple of `divisor`, computed on the decimal numbers as
 * written (0.3 is a multiple of 0.1), not on their binary approximations.
 */
export function isMultipleOf(value: number, divisor: number): boolean {
  if (divisor === 0) return false;
  const a = decimal(value);
  const b = decimal(divisor);
  const scale = Math.min(a.exponent, b.exponent);
  const scaled = (d: { digits: bigint; exponent: number }) =>
    d.digits * 10n ** BigInt(d.exponent - scale);
  return scaled(a) % scaled(b) === 0n;
}
