import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventView } from './event.ts';
import { compileMapping, defaultInput, InputTooLargeError, MappingError } from './mapping.ts';

const event: EventView = {
  eventId: 'evt_1',
  pattern: 'bookings.created',
  source: { type: 'workflow' },
  payload: { bookingId: 'bk_1', customer: { id: 'cu_1' }, items: [{ id: 'it_1' }] },
  metadata: { correlationId: 'corr_1' },
};

const refusal = (mapping: Record<string, unknown>) => {
  try {
    compileMapping(mapping);
  } catch (error) {
    if (error instanceof MappingError) return error;
    throw error;
  }
  throw new Error('the mapping was accepted');
};

describe('compileMapping', () => {
  it('maps paths of both forms and takes other JSON values literally', () => {
    const mapping = compileMapping({
      bookingId: '$.payload.bookingId',
      correlationId: '$.metadata.correlationId',
      firstItem: '$.payload.items[0].id',
      customerId: 'data.customer.id',
      eventPattern: 'pattern',
      notify: true,
      retries: 10,
      nothing: null,
      options: { tier: 'gold', channels: ['mail'] },
    });
    expect(mapping.apply(event)).toEqual({
      bookingId: 'bk_1',
      correlationId: 'corr_1',
      firstItem: 'it_1',
      customerId: 'cu_1',
      eventPattern: 'bookings.created',
      notify: true,
      retries: 10,
      nothing: null,
      options: { tier: 'gold', channels: ['mail'] },
    });
  });

  it('gives the value of { const } as it is, so a constant can be a string', () => {
    const mapping = compileMapping({
      tier: { const: 'vip' },
      path: { const: '$.payload.bookingId' },
      options: { const: { tier: 'gold' } },
      both: { const: 'a', other: 'b' },
    });
    expect(mapping.apply(event)).toEqual({
      tier: 'vip',
      path: '$.payload.bookingId',
      options: { tier: 'gold' },
      both: { const: 'a', other: 'b' },
    });
  });

  it('refuses an input over its byte bound, and accepts one at the bound', () => {
    const payload = { s: 'x'.repeat(1000) };
    const big = { ...event, payload };
    const copies = Object.fromEntries(
      Array.from({ length: 100 }, (_, i) => [`k${i}`, '$.payload.s']),
    );
    const exact = JSON.stringify(compileMapping(copies).apply(big)).length;
    expect(() => compileMapping(copies, exact - 1).apply(big)).toThrow(InputTooLargeError);
    expect(JSON.stringify(compileMapping(copies, exact).apply(big)).length).toBe(exact);
  });

  it('omits a target whose path has no value', () => {
    const mapping = compileMapping({ id: '$.payload.bookingId', email: 'data.customer.email' });
    expect(mapping.apply(event)).toEqual({ id: 'bk_1' });
  });

  it('gives every input its own copy of a literal', () => {
    const mapping = compileMapping({ options: { tier: 'gold' } });
    const first = mapping.apply(event);
    (first.options as { tier: string }).tier = 'changed';
    expect(mapping.apply(event)).toEqual({ options: { tier: 'gold' } });
  });

  it('keeps a target named __proto__ as plain data', () => {
    const input = compileMapping({ ['__proto__']: '$.payload.customer' }).apply(event);
    expect(Object.getPrototypeOf(input)).toBe(Object.prototype);
    expect(Object.hasOwn(input, '__proto__')).toBe(true);
    expect(JSON.stringify(input)).toBe('{"__proto__":{"id":"cu_1"}}');
  });

  it('defaults to the event id, pattern and payload', () => {
    const expected = {
      eventId: 'evt_1',
      eventPattern: 'bookings.created',
      eventPayload: event.payload,
    };
    expect(defaultInput(event)).toEqual(expected);
    expect(compileMapping(undefined).apply(event)).toEqual(expected);
    expect(compileMapping({}).apply(event)).toEqual({});
  });

  it('names every invalid entry as a detail of its target', () => {
    const error = refusal({ ok: '$.payload.bookingId', bad: 'customer.id', worse: '$.a ==' });
    expect(error.toDetails()).toEqual([
      {
        field: 'inputMapping.bad',
        code: 'invalid_path',
        message: expect.stringContaining("unknown name 'customer'"),
      },
      {
        field: 'inputMapping.worse',
        code: 'invalid_path',
        message: 'unexpected end of text at position 6',
      },
    ]);
    expect(error.message).toContain('bad: ');
  });

  it('compiles or refuses with a MappingError, and applying never throws (property)', () => {
    const source = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom(
        '$.payload',
        'data.customer.id',
        'pattern',
        '$.constructor',
        "$['__proto__']",
      ),
      fc.jsonValue(),
    );
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 6 }), source),
        fc.jsonValue(),
        (entries, payload) => {
          let mapping: ReturnType<typeof compileMapping>;
          try {
            mapping = compileMapping(entries);
          } catch (error) {
            expect(error).toBeInstanceOf(MappingError);
            return;
          }
          const input = mapping.apply({ ...event, payload });
          expect(Object.getPrototypeOf(input)).toBe(Object.prototype);
          expect(JSON.parse(JSON.stringify(input))).toBeTypeOf('object');
        },
      ),
      { numRuns: 1000 },
    );
  });
});
