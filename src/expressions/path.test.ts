import { describe, expect, it } from 'vitest';
import type { EventView } from './event.ts';
import { ParseError } from './parse-error.ts';
import { compilePath } from './path.ts';

const event: EventView = {
  eventId: 'evt_1',
  pattern: 'bookings.created',
  source: { type: 'workflow' },
  payload: {
    bookingId: 'bk_1',
    items: [{ id: 'it_1' }],
    'a b': 7,
    count: 0,
    flag: true,
    empty: '',
  },
  metadata: { correlationId: 'corr_1' },
};

const refusal = (text: string) => {
  try {
    compilePath(text);
  } catch (error) {
    if (error instanceof ParseError) return error;
    throw error;
  }
  throw new Error(`"${text}" was accepted`);
};

describe('compilePath', () => {
  it.each([
    ['$.payload.bookingId', 'bk_1'],
    ['$.metadata.correlationId', 'corr_1'],
    ['$.payload.items[0].id', 'it_1'],
    ["$['payload']['a b']", 7],
    ['$["payload"].items[0]', { id: 'it_1' }],
    ['$.eventId', 'evt_1'],
    ['event.source.type', 'workflow'],
    ['data.bookingId', 'bk_1'],
    ['payload.count', 0],
    ['pattern', 'bookings.created'],
    ['metadata.correlationId', 'corr_1'],
    ['source', { type: 'workflow' }],
    ['$.payload.items[1].id', undefined],
    ['$.payload.missing.deeper', undefined],
    ['$.payload.constructor', undefined],
    ['$.payload.items.length', undefined],
    ["$.payload.items['0']", undefined],
    ['$.payload.bookingId[0]', undefined],
  ])('%s resolves to %j', (text, expected) => {
    const path = compilePath(text);
    expect(path.text).toBe(text);
    expect(path.resolve(event)).toEqual(expected);
  });

  it.each([
    ['$.payload.bookingId', 'bk_1'],
    ['$.payload.count', '0'],
    ['$.payload.items[0]', undefined],
    ['$.payload.flag', undefined],
    ['$.payload.empty', undefined],
    ['$.payload.missing', undefined],
  ])('%s gives the correlation key %j', (text, expected) => {
    expect(compilePath(text).resolveKey(event)).toBe(expected);
  });

  it.each([
    ['', 0, 'unexpected end of text'],
    ['$.', 2, 'expected a field name'],
    ['$..payload', 2, 'expected a field name'],
    ['$.items[*]', 8, 'unexpected character "*"'],
    ['$.items[-1]', 8, 'expected an array index'],
    ['payload.a == 1', 0, 'expected a path'],
    ["'bookingId'", 0, 'expected a path'],
    ['customer.id', 0, "unknown name 'customer'"],
    ['$.payload.bookingId extra', 20, "unexpected 'extra'"],
  ])('refuses %j at %i: %s', (text, position, reason) => {
    const error = refusal(text);
    expect(error.code).toBe('invalid_path');
    expect(error.position).toBe(position);
    expect(error.message).toContain(reason);
    expect(error.toDetail('correlationKey').field).toBe('correlationKey');
  });
});
