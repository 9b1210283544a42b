import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventTimeOf, parseEventTime, parseIsoDuration, timeOrDurationParameter } from './time.ts';

describe('event time parsing', () => {
  it.each([
    ['2026-11-27T10:00:00Z', '2026-11-27 10:00:00.000000', '2026-11-27T10:00:00.000Z'],
    ['2026-11-27T10:00:00.123456Z', '2026-11-27 10:00:00.123456', '2026-11-27T10:00:00.123Z'],
    ['2026-11-27T10:00:00.1Z', '2026-11-27 10:00:00.100000', '2026-11-27T10:00:00.100Z'],
    ['2026-11-27T12:30:00.000001+02:30', '2026-11-27 10:00:00.000001', '2026-11-27T10:00:00.000Z'],
    ['2026-01-01T00:30:00-01:00', '2026-01-01 01:30:00.000000', '2026-01-01T01:30:00.000Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29 00:00:00.000000', '2024-02-29T00:00:00.000Z'],
    ['0050-06-01T00:00:00Z', '0050-06-01 00:00:00.000000', '0050-06-01T00:00:00.000Z'],
  ])('reads %s', (text, utc, iso) => {
    const parsed = parseEventTime(text);
    expect(parsed?.utc).toBe(utc);
    expect(parsed?.date.toISOString().replace(/^\+?0*(\d{4})/, '$1')).toBe(iso);
  });

  it.each([
    '2026-02-30T00:00:00Z',
    '2025-02-29T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-11-27T24:00:00Z',
    '2026-11-27T10:60:00Z',
    '2026-11-27T10:00:00',
    '2026-11-27',
    'yesterday',
    '2026-11-27T10:00:00+25:00',
    '1700000000',
  ])('refuses %s', (text) => {
    expect(parseEventTime(text)).toBeUndefined();
  });

  it('agrees with Date on every valid millisecond instant', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1970-01-01'), max: new Date('2999-12-31'), noInvalidDate: true }),
        (date) => {
          expect(parseEventTime(date.toISOString())?.date.getTime()).toBe(date.getTime());
        },
      ),
    );
  });

  it('stores a receive time as its ISO text would be stored (an event sent without a time)', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1970-01-01'), max: new Date('2999-12-31'), noInvalidDate: true }),
        (date) => {
          expect(eventTimeOf(date).utc).toBe(parseEventTime(date.toISOString())?.utc);
        },
      ),
    );
  });
});

describe('ISO 8601 durations', () => {
  it.each([
    ['PT1H', 3_600_000],
    ['P2D', 172_800_000],
    ['P1W', 604_800_000],
    ['PT1H30M', 5_400_000],
    ['P1DT0.5S', 86_400_500],
    ['PT90S', 90_000],
  ])('reads %s as %i ms', (text, ms) => {
    expect(parseIsoDuration(text)).toBe(ms);
  });

  it.each(['P', 'PT', 'P1Y', 'P1M', '1h', 'PT-1H', 'PT1H2', 'P99999W'])('refuses %s', (text) => {
    expect(parseIsoDuration(text)).toBeUndefined();
  });

  it('counts a duration back from now, and leaves a time as it is', () => {
    const now = new Date('2026-01-10T12:00:00Z');
    expect(timeOrDurationParameter('startTime', 'PT1H', now)).toBe('2026-01-10 11:00:00.000000');
    expect(timeOrDurationParameter('startTime', '2026-01-01T00:00:00+01:00', now)).toBe(
      '2025-12-31 23:00:00.000000',
    );
    expect(() => timeOrDurationParameter('startTime', 'P1M', now)).toThrow(/invalid startTime/);
  });
});
