import { describe, expect, it } from 'vitest';
import { isUuid, newUuidV7 } from './ids.ts';

describe('newUuidV7', () => {
  it('makes version-7 UUIDs carrying the current millisecond', () => {
    const before = Date.now();
    const id = newUuidV7();
    const after = Date.now();
    expect(isUuid(id)).toBe(true);
    expect(id[14]).toBe('7');
    expect('89ab').toContain(id[19]);
    const msecs = Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    // The counter may carry the time a millisecond ahead when it overflows; never behind.
    expect(msecs).toBeGreaterThanOrEqual(before);
    expect(msecs).toBeLessThanOrEqual(after + 1);
  });

  it('is strictly increasing and unique across many pool refills', () => {
    const ids = Array.from({ length: 10_000 }, () => newUuidV7());
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    // The random tail differs from id to id (it is not a reused slice of the pool).
    expect(new Set(ids.map((id) => id.slice(-12))).size).toBe(ids.length);
  });
});
