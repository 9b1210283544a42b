import { describe, expect, it } from 'vitest';
import { ParseError } from '../expressions/parse-error.ts';
import { MAX_PATTERN_LENGTH, matchesPattern, parseSubscriptionPattern } from './pattern.ts';

const refusal = (text: string) => {
  try {
    parseSubscriptionPattern(text);
  } catch (error) {
    if (error instanceof ParseError) return error;
    throw error;
  }
  throw new Error(`"${text}" was accepted`);
};

describe('parseSubscriptionPattern', () => {
  it.each([
    ['bookings.created', ['bookings', 'created']],
    ['bookings.*', ['bookings', '*']],
    ['**.created', ['**', 'created']],
    ['user.**', ['user', '**']],
    ['**', ['**']],
    ['a_1.b-2.*.**', ['a_1', 'b-2', '*', '**']],
  ])('accepts %s', (text, segments) => {
    expect(parseSubscriptionPattern(text)).toEqual(segments);
  });

  it.each([
    ['', 0, 'empty'],
    ['.a', 0, 'empty segment'],
    ['a.', 2, 'empty segment'],
    ['a..b', 2, 'empty segment'],
    ['Bookings.created', 0, 'lowercase'],
    ['a.***', 2, 'not a wildcard'],
    ['a.b*c', 2, 'whole segment'],
    ['a.*b', 2, 'whole segment'],
    ['a b', 0, 'lowercase'],
    ['a.b/c', 2, 'lowercase'],
  ])('refuses %j at position %i (%s)', (text, position, words) => {
    const error = refusal(text);
    expect(error.code).toBe('invalid_pattern');
    expect(error.position).toBe(position);
    expect(error.message).toContain(words);
    expect(error.toDetail('eventPattern')).toEqual({
      field: 'eventPattern',
      code: 'invalid_pattern',
      message: error.message,
    });
  });

  it('refuses a pattern longer than the pattern columns', () => {
    expect(parseSubscriptionPattern('a'.repeat(MAX_PATTERN_LENGTH))).toHaveLength(1);
    expect(refusal('a'.repeat(MAX_PATTERN_LENGTH + 1)).message).toContain('longer');
  });
});

describe('matchesPattern', () => {
  it.each([
    ['bookings.created', 'bookings.created', true],
    ['bookings.created', 'bookings.cancelled', false],
    ['bookings.created', 'bookings.created.late', false],
    ['bookings.*', 'bookings.created', true],
    ['bookings.*', 'bookings', false],
    ['bookings.*', 'bookings.created.late', false],
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['**.created', 'created', true],
    ['**.created', 'a.b.created', true],
    ['**.created', 'a.created.b', false],
    ['user.**', 'user', true],
    ['user.**', 'user.a.b', true],
    ['user.**', 'users.a', false],
    ['**', 'a.b.c', true],
    ['a.**.b.**.c', 'a.b.c', true],
    ['a.**.b.**.c', 'a.x.b.y.z.c', true],
    ['a.**.b.**.c', 'a.x.c', false],
    ['*.**', 'a', true],
    ['**.*.*', 'a', false],
  ])('%s against %s is %s', (pattern, eventPattern, expected) => {
    expect(matchesPattern(pattern, eventPattern)).toBe(expected);
  });

  it('stays polynomial on stacked ** patterns', () => {
    const pattern = Array.from({ length: 40 }, () => '**').join('.');
    const eventPattern = Array.from({ length: 100 }, () => 'a').join('.');
    expect(matchesPattern(`${pattern}.x`, eventPattern)).toBe(false);
  });
});
