import fc from 'fast-check';
import { QlobberDedup } from 'qlobber';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../expressions/parse-error.ts';
import { matchesPattern } from './pattern.ts';
import { PatternIndex } from './pattern-index.ts';

const sorted = <T>(values: Iterable<T>) => [...values].sort();

const word = fc.constantFrom('a', 'b', 'c');
const eventPattern = fc.array(word, { minLength: 1, maxLength: 6 }).map((w) => w.join('.'));
const pattern = fc
  .array(fc.constantFrom('a', 'b', 'c', '*', '**'), { minLength: 1, maxLength: 5 })
  .map((s) => s.join('.'));
/** Subscriptions as (pattern, value) pairs; values repeat so one value may have several patterns. */
const subscriptions = fc.array(fc.tuple(pattern, fc.integer({ min: 0, max: 15 })), {
  maxLength: 40,
});

const indexOf = (pairs: [string, number][]) => {
  const index = new PatternIndex<number>();
  for (const [p, value] of pairs) index.add(p, value);
  return index;
};

const expected = (pairs: [string, number][], event: string) =>
  sorted(new Set(pairs.filter(([p]) => matchesPattern(p, event)).map(([, value]) => value)));

describe('PatternIndex', () => {
  it('matches exact, * and ** patterns', () => {
    const index = new PatternIndex<string>();
    index.add('bookings.created', 'exact');
    index.add('bookings.*', 'one');
    index.add('**.created', 'suffix');
    index.add('user.**', 'prefix');
    index.add('**', 'all');
    expect(sorted(index.match('bookings.created'))).toEqual(['all', 'exact', 'one', 'suffix']);
    expect(sorted(index.match('bookings.cancelled'))).toEqual(['all', 'one']);
    expect(sorted(index.match('user'))).toEqual(['all', 'prefix']);
    expect(sorted(index.match('user.profile.created'))).toEqual(['all', 'prefix', 'suffix']);
  });

  it('returns a value once when several patterns or paths reach it', () => {
    const index = new PatternIndex<string>();
    index.add('a.*', 'v');
    index.add('a.b', 'v');
    index.add('**.**.b', 'w');
    expect(sorted(index.match('a.b'))).toEqual(['v', 'w']);
    expect(index.size).toBe(3);
  });

  it('adds a pair once, removes it, and refuses invalid patterns', () => {
    const index = new PatternIndex<string>();
    expect(index.add('a.*', 'v')).toBe(true);
    expect(index.add('a.*', 'v')).toBe(false);
    expect(index.size).toBe(1);
    expect(index.remove('a.*', 'w')).toBe(false);
    expect(index.remove('a.b', 'v')).toBe(false);
    expect(index.remove('a.*', 'v')).toBe(true);
    expect(index.size).toBe(0);
    expect(index.match('a.b')).toEqual([]);
    expect(() => index.add('A.b', 'v')).toThrow(ParseError);
  });

  it('prunes emptied branches so churn leaves no trace', () => {
    const nodes = (node: any): number =>
      1 +
      [...(node.literal?.values() ?? []), node.one, node.some]
        .filter(Boolean)
        .reduce((sum: number, child: any) => sum + nodes(child), 0);
    const index = new PatternIndex<number>();
    index.add('a.*', -1);
    for (let i = 0; i < 100; i++) index.add(`a.${i}.**.x`, i);
    expect(nodes((index as any).root)).toBe(3 + 100 * 3);
    for (let i = 0; i < 100; i++) index.remove(`a.${i}.**.x`, i);
    expect(nodes((index as any).root)).toBe(3);
  });

  it('stays fast on stacked ** patterns', () => {
    const index = new PatternIndex<number>();
    const stars = Array.from({ length: 30 }, () => '**').join('.');
    index.add(`${stars}.x`, 1);
    index.add(`${stars}.a`, 2);
    const event = Array.from({ length: 60 }, () => 'a').join('.');
    const start = performance.now();
    expect(index.match(event)).toEqual([2]);
    // Trying every split of 60 segments among 30 `**` is astronomically slow; the index takes
    // well under a millisecond. The bound tells the two apart, with room for a loaded machine.
    expect(performance.now() - start).toBeLessThan(10_000);
  });

  it('matches exactly the values whose pattern matches (property)', () => {
    fc.assert(
      fc.property(subscriptions, fc.array(eventPattern, { maxLength: 10 }), (pairs, events) => {
        const index = indexOf(pairs);
        for (const event of events)
          expect(sorted(index.match(event))).toEqual(expected(pairs, event));
      }),
      { numRuns: 500 },
    );
  });

  it('matches as before after removals (property)', () => {
    fc.assert(
      fc.property(subscriptions, fc.array(eventPattern, { maxLength: 10 }), (pairs, events) => {
        const index = indexOf(pairs);
        const kept = pairs.filter((_, i) => i % 2 === 0);
        for (const [p, value] of pairs.filter((_, i) => i % 2 === 1)) {
          if (!kept.some(([q, v]) => q === p && v === value)) index.remove(p, value);
        }
        expect(index.size).toBe(new Set(kept.map(([p, v]) => `${p} ${v}`)).size);
        for (const event of events)
          expect(sorted(index.match(event))).toEqual(expected(kept, event));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with qlobber (property)', () => {
    fc.assert(
      fc.property(subscriptions, fc.array(eventPattern, { maxLength: 10 }), (pairs, events) => {
        const index = indexOf(pairs);
        const qlobber = new QlobberDedup<number>({
          separator: '.',
          wildcard_one: '*',
          wildcard_some: '**',
          max_wildcard_somes: 5,
        });
        for (const [p, value] of pairs) qlobber.add(p, value);
        for (const event of events)
          expect(sorted(index.match(event))).toEqual(sorted(qlobber.match(event)));
      }),
      { numRuns: 300 },
    );
  });
});
