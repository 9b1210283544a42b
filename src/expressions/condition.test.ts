import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileCondition } from './condition.ts';
import type { EventView } from './event.ts';
import { ParseError } from './parse-error.ts';

const event = (overrides: Partial<EventView> = {}): EventView => ({
  eventId: 'evt_1',
  pattern: 'bookings.created',
  version: '1.0.0',
  source: { type: 'workflow', id: 'wf_1', name: 'Booking flow' },
  timestamp: '2026-01-02T03:04:05.678Z',
  payload: {
    bookingId: 'bk_1',
    status: 'confirmed',
    amount: 120,
    tags: ['vip', 'new'],
    customer: { id: 'cu_1', name: 'Ada Lovelace' },
    items: [{ id: 'it_1' }, { id: 'it_2' }],
    note: null,
    'a b': 'spaced',
  },
  metadata: { correlationId: 'corr_1', tags: { region: 'eu' } },
  ...overrides,
});

const withPayload = (payload: unknown) => event({ payload });
const run = (text: string, e: EventView = event()) => compileCondition(text).evaluate(e);
const holds = (text: string, e?: EventView) => expect(run(text, e)).toEqual({ result: true });
const fails = (text: string, e?: EventView) => expect(run(text, e)).toEqual({ result: false });

const refusal = (text: string) => {
  try {
    compileCondition(text);
  } catch (error) {
    if (error instanceof ParseError) return error;
    throw error;
  }
  throw new Error(`"${text}" was accepted`);
};

describe('the conditions of the issue, as written', () => {
  const fraud =
    '(data.riskScore > 80) || (data.location.country !== data.user.country) || (data.attemptCount > 3 && data.successful === false)';
  const calm = {
    riskScore: 10,
    location: { country: 'DE' },
    user: { country: 'DE' },
    attemptCount: 1,
    successful: true,
  };
  it.each([
    ["$.payload.status == 'confirmed'", { status: 'confirmed' }, { status: 'pending' }],
    ['data.orderTotal > 1000', { orderTotal: 1000.5 }, { orderTotal: 1000 }],
    [fraud, { ...calm, riskScore: 81 }, calm],
    [fraud, { ...calm, location: { country: 'FR' } }, { ...calm, attemptCount: 4 }],
    [fraud, { ...calm, attemptCount: 4, successful: false }, { ...calm, successful: false }],
  ])('%s holds for %j, not for %j', (text, yes, no) => {
    holds(text, withPayload(yes));
    fails(text, withPayload(no));
  });

  it('payload.amount >= 100 && metadata.tags.region == eu', () => {
    const text = "payload.amount >= 100 && metadata.tags.region == 'eu'";
    holds(text, event({ payload: { amount: 100 } }));
    fails(text, event({ payload: { amount: 99.99 } }));
    fails(text, event({ payload: { amount: 100 }, metadata: { tags: { region: 'us' } } }));
    fails(text, event({ payload: { amount: 100 }, metadata: {} }));
  });

  it("source.type in ['workflow', 'integration']", () => {
    const text = "source.type in ['workflow', 'integration']";
    holds(text, event({ source: { type: 'integration' } }));
    fails(text, event({ source: { type: 'external' } }));
    fails(text, event({ source: undefined }));
  });
});

describe('paths', () => {
  it.each([
    "$.eventId == 'evt_1'",
    "event.pattern == 'bookings.created'",
    "pattern == 'bookings.created'",
    "$.timestamp == '2026-01-02T03:04:05.678Z'",
    "payload.customer.id == 'cu_1'",
    "data['customer'][\"name\"] == 'Ada Lovelace'",
    "$['payload']['a b'] == 'spaced'",
    "payload.items[1].id == 'it_2'",
    "metadata.correlationId == 'corr_1'",
    "source.name == 'Booking flow'",
  ])('%s', (text) => holds(text));

  it('reads keywords as field names after a dot', () => {
    holds(
      'data.in == 1 && data.true == 2 && data.null == 3',
      withPayload({ in: 1, true: 2, null: 3 }),
    );
  });

  it.each([
    'payload.constructor',
    'payload.__proto__',
    'payload.prototype',
    'payload.toString',
    'payload.hasOwnProperty',
    "payload['constructor']",
    'payload.tags.length',
    'payload.items.map',
    'pattern.length',
    '$.constructor.constructor',
  ])('%s reads nothing from a prototype', (path) => {
    fails(`exists(${path})`);
    fails(`${path} == ${path}`);
    holds(`${path} != null`);
  });

  it('reads a __proto__ key that is the payload own data', () => {
    holds("payload.__proto__.x == 'own'", withPayload(JSON.parse('{"__proto__": {"x": "own"}}')));
  });
});

describe('operators', () => {
  it.each([
    ['1 == 1', true],
    ["1 == '1'", false],
    ["1 === '1'", false],
    ["'a' != 'b'", true],
    ['true !== false', true],
    ['null == null', true],
    ['data.note == null', true],
    ['data.note === null && exists(data.note)', true],
    ['data.tags == [\'vip\', "new"]', true],
    ["data.tags == ['new', 'vip']", false],
    ['data.items[0] == data.items[0]', true],
    ['data.customer != data.items[0]', true],
    ['2 < 10', true],
    ["'2' < '10'", false],
    ["'abc' <= 'abd'", true],
    ['1 >= 1 && 1 <= 1 && !(1 > 1) && !(1 < 1)', true],
    ["1 < '2'", false],
    ['null < 1', false],
    ['-1.5e2 < 0', true],
    ["'vip' in data.tags", true],
    ["'gold' in data.tags", false],
    ["'vip' in data.customer", false],
    ["{'id': 'it_1'}", 'parse'],
    ['data.amount in [100, 120]', true],
    ['data.customer.id in [data.bookingId, "cu_1"]', true],
    ['true && false || true', true],
    ['!true || !false', true],
    ['!(data.amount > 100)', false],
  ])('%s is %s', (text, expected) => {
    if (expected === 'parse') return void expect(refusal(text).code).toBe('invalid_expression');
    expect(run(text)).toEqual({ result: expected });
  });

  it('treats a missing field as no value: comparisons with it are false, != is true', () => {
    for (const op of ['==', '===', '<', '<=', '>', '>=']) fails(`data.missing ${op} 1`);
    fails('data.missing == data.alsoMissing');
    holds("data.missing != 'x'");
    holds('data.missing !== data.alsoMissing');
    fails('data.missing == null');
    fails('data.missing in [null]');
    fails('data.customer.id.deeper.still == 1');
  });

  it('counts missing and null as false where a boolean is wanted', () => {
    fails('data.missing');
    fails('data.note');
    holds('!data.missing');
    fails('data.missing && true');
    holds('data.missing || true');
  });

  it('records a non-boolean where a boolean is wanted as an evaluation error', () => {
    expect(run('data.status')).toEqual({
      error: 'expected true or false at position 0, got a string',
    });
    expect(run('true && data.amount')).toHaveProperty('error');
    expect(run('!data.customer')).toHaveProperty('error');
  });

  it('short-circuits && and ||', () => {
    fails('false && data.status');
    holds('true || data.status');
  });
});

describe('functions', () => {
  it.each([
    ["startsWith(data.customer.name, 'Ada')", true],
    ["startsWith(data.customer.name, 'ada')", false],
    ["data.customer.name.startsWith('Ada')", true],
    ["endsWith(data.customer.name, 'lace')", true],
    ["data.bookingId.endsWith('_2')", false],
    ["contains(data.customer.name, 'Love')", true],
    ["contains(data.tags, 'new')", true],
    ["data.tags.contains('old')", false],
    ["contains(data.items, {'id': 'it_1'})", 'parse'],
    ['contains(data.amount, 1)', false],
    ['size(data.tags) == 2', true],
    ["size('Ada') == 3", true],
    ['size(data.customer) == 2', true],
    ['data.customer.name.size() == 12', true],
    ['size(data.missing) == 0', false],
    ['size(data.amount) > 0', false],
    ['exists(data.customer.id)', true],
    ['exists(data.customer.email)', false],
    ['data.customer.email.exists()', false],
    ["matches(data.bookingId, '^bk_[0-9]+$')", true],
    ["data.customer.name.matches('(?i)^ada ')", true],
    ["matches(data.amount, '1')", false],
    ["startsWith(data.missing, '')", false],
  ])('%s is %s', (text, expected) => {
    if (expected === 'parse') return void expect(refusal(text).code).toBe('invalid_expression');
    expect(run(text)).toEqual({ result: expected });
  });

  it('matches in linear time on a classic catastrophic pattern', () => {
    const condition = compileCondition("matches(data.s, '^(a+)+$')");
    const start = performance.now();
    expect(condition.evaluate(withPayload({ s: `${'a'.repeat(50_000)}!` }))).toEqual({
      result: false,
    });
    // Backtracking would take longer than the universe's age; RE2 takes milliseconds. The bound
    // tells the two apart, with room for a loaded machine (it is not a speed check).
    expect(performance.now() - start).toBeLessThan(10_000);
  });
});

describe('parse errors', () => {
  it.each([
    ['', 0, 'unexpected end of text'],
    ['data.a ==', 9, 'unexpected end of text'],
    ['data.a = 1', 7, 'use == or === to compare'],
    ['data.a & data.b', 7, 'use &&'],
    ['data.a | data.b', 7, 'use ||'],
    ['data.a - 1', 7, 'no arithmetic'],
    ['foo.bar == 1', 0, "unknown name 'foo'"],
    ['(data.a == 1', 12, "expected ')', found end of text"],
    ["'open", 0, 'unterminated string'],
    ["'\\q'", 1, 'unknown escape \\q'],
    ['1 < 2 < 3', 6, 'comparisons do not chain'],
    ['data.a == 1 == true', 12, 'comparisons do not chain'],
    ["'a' in 'abc'", 7, "'in' needs a list"],
    ['size(data.a, 1) > 0', 0, 'size takes 1 argument, not 2'],
    ['startsWith(data.a) ', 0, 'startsWith takes 2 arguments, not 1'],
    ["data.a.lower() == 'x'", 7, "unknown function 'lower'"],
    ['size == 1', 5, "expected '(', found '=='"],
    ['exists(1)', 7, 'exists takes a path'],
    ['matches(data.a, data.b)', 16, 'matches takes a quoted regular expression'],
    ["matches(data.a, '(')", 16, 'invalid regular expression'],
    ["'x'", 0, 'expected true or false, not a string'],
    ['1 && true', 0, 'expected true or false, not a number'],
    ['!size(data.a)', 1, 'expected true or false, not a number'],
    ['[true]', 0, 'expected true or false, not a list'],
    ['data.a[-1] == 1', 7, 'expected an array index'],
    ['data.a[1.5] == 1', 7, 'expected an array index'],
    ['data.a[data.b] == 1', 7, 'expected an array index'],
    ["'abc'.x == 1", 0, 'only a path has fields'],
    ['data.$ == 1', 5, 'expected a field name'],
    ['1e999 > 1', 0, 'number out of range'],
    ['data.a == 1 )', 12, "unexpected ')'"],
    ['data.a ## 1', 7, 'unexpected character "#"'],
  ])('%j fails at %i: %s', (text, position, reason) => {
    const error = refusal(text);
    expect(error.code).toBe('invalid_expression');
    expect(error.position).toBe(position);
    expect(error.message).toContain(reason);
    expect(error.toDetail('eventCondition')).toMatchObject({
      field: 'eventCondition',
      code: 'invalid_expression',
    });
  });

  it('bounds the length and the nesting', () => {
    const long = `data.a == '${'x'.repeat(5000)}'`;
    expect(refusal(long).message).toContain('longer than 4096 characters');
    holds(`${'('.repeat(63)}true${')'.repeat(63)}`);
    expect(refusal(`${'('.repeat(64)}true${')'.repeat(64)}`).message).toContain('nested deeper');
    expect(refusal(`${'!'.repeat(100)}true`).message).toContain('nested deeper');
    expect(refusal(`${'['.repeat(2000)}${']'.repeat(2000)}`).message).toContain('nested deeper');
  });

  it('accepts a long flat condition within the bounds', () => {
    const text = Array.from({ length: 200 }, (_, i) => `data.a != ${i}`).join(' && ');
    holds(text, withPayload({ a: 'x' }));
  });
});

describe('hostile input (properties)', () => {
  const tokens = fc.constantFrom(
    ...['$', 'event', 'payload', 'data', 'metadata', 'source', 'pattern', 'constructor'],
    ...['__proto__', 'prototype', 'in', 'true', 'null', '.', '[', ']', '(', ')', ',', '!'],
    ...['==', '!=', '===', '!==', '<', '>=', '&&', '||', "'a'", '"b"', '0', '1', '-2.5'],
    ...['startsWith', 'endsWith', 'contains', 'size', 'exists', 'matches', "'[a'", "'.*'"],
    ...['x', 'a', 'status', 'tags', 'globalThis', 'process', 'eval', "'\\u0041'", '`', '\\'],
  );
  const soup = fc.array(tokens, { maxLength: 30 }).map((t) => t.join(' '));
  const anyText = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    soup,
  );
  const anyEvent = fc.record({
    eventId: fc.string(),
    pattern: fc.string(),
    source: fc.jsonValue(),
    payload: fc.jsonValue(),
    metadata: fc.jsonValue(),
  });

  it('compiles or refuses with a ParseError, and evaluation never throws', () => {
    fc.assert(
      fc.property(anyText, fc.array(anyEvent, { maxLength: 3 }), (text, events) => {
        let condition: ReturnType<typeof compileCondition>;
        try {
          condition = compileCondition(text);
        } catch (error) {
          expect(error).toBeInstanceOf(ParseError);
          expect((error as ParseError).position).toBeGreaterThanOrEqual(0);
          expect((error as ParseError).position).toBeLessThanOrEqual(text.length);
          return;
        }
        for (const e of [event(), ...events]) {
          const outcome = condition.evaluate(e);
          if ('result' in outcome) expect(typeof outcome.result).toBe('boolean');
          else expect(typeof outcome.error).toBe('string');
        }
      }),
      { numRuns: 3000 },
    );
  });

  const key = fc.oneof(
    fc.constantFrom('constructor', '__proto__', 'prototype', 'toString', 'valueOf', 'length'),
    fc.constantFrom('a', 'b', 'tags', 'status'),
    fc.string({ maxLength: 8 }),
  );
  const path = fc
    .tuple(
      fc.constantFrom('$', 'event', 'payload', 'data', 'metadata', 'source', 'pattern'),
      fc.array(fc.oneof(key, fc.nat(3)), { maxLength: 4 }),
    )
    .map(([root, keys]) => root + keys.map((k) => `[${JSON.stringify(k)}]`).join(''));
  const { condition } = fc.letrec<{ value: string; condition: string }>((tie) => ({
    value: fc.oneof(path, fc.constantFrom("'a'", '1', '-2.5', 'null', 'true', "['a', 1, null]")),
    condition: fc.oneof(
      { depthSize: 'small' },
      fc
        .tuple(tie('value'), fc.constantFrom('==', '!==', '<', '>=', '<='), tie('value'))
        .map((t) => t.join(' ')),
      fc
        .tuple(tie('value'), fc.oneof(path, fc.constant("['a', 1]")))
        .map(([v, l]) => `${v} in ${l}`),
      fc
        .tuple(fc.constantFrom('startsWith', 'contains'), tie('value'), tie('value'))
        .map(([fn, a, b]) => `${fn}(${a}, ${b})`),
      fc.tuple(tie('value'), fc.constantFrom('>', '==')).map(([v, op]) => `size(${v}) ${op} 1`),
      path.map((p) => `exists(${p})`),
      tie('value').map((v) => `matches(${v}, '^a|b$')`),
      path,
      tie('condition').map((c) => `!(${c})`),
      fc
        .tuple(tie('condition'), fc.constantFrom('&&', '||'), tie('condition'))
        .map(([a, op, b]) => `(${a}) ${op} (${b})`),
    ),
  }));
  const hostilePayload = fc.oneof(
    fc.jsonValue(),
    fc.constant(JSON.parse('{"__proto__": {"a": 1}, "constructor": "own", "tags": ["a"]}')),
  );

  /** The event behind a proxy that records every read of a property the data does not own. */
  const watched = (target: unknown, foreign: string[]): any => {
    if (target === null || typeof target !== 'object') return target;
    return new Proxy(target, {
      get(object, name, receiver) {
        if (!Object.hasOwn(object, name)) foreign.push(String(name));
        return watched(Reflect.get(object, name, receiver), foreign);
      },
    });
  };

  it('evaluates valid conditions to a boolean or an error, reading only own data', () => {
    fc.assert(
      fc.property(condition, hostilePayload, fc.jsonValue(), (text, payload, metadata) => {
        const compiled = compileCondition(text);
        const foreign: string[] = [];
        const outcome = compiled.evaluate(watched(event({ payload, metadata }), foreign));
        expect(outcome).toSatisfy((o: object) => 'result' in o || 'error' in o);
        expect(foreign).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads only own data, whatever the key', () => {
    fc.assert(
      fc.property(key, fc.jsonValue(), (name, payload) => {
        const own = payload !== null && typeof payload === 'object' && !Array.isArray(payload);
        const expected = own && Object.hasOwn(payload, name);
        const condition = compileCondition(`exists(payload[${JSON.stringify(name)}])`);
        expect(condition.evaluate(withPayload(payload))).toEqual({ result: expected });
      }),
    );
  });

  it('keeps != the negation of ==', () => {
    const operand = fc.constantFrom('data.a', 'data.b', 'data.missing', "'x'", '1', 'null', '[1]');
    fc.assert(
      fc.property(operand, operand, fc.jsonValue(), fc.jsonValue(), (left, right, a, b) => {
        const e = withPayload({ a, b });
        const eq = run(`${left} == ${right}`, e);
        expect(run(`${left} != ${right}`, e)).toEqual({ result: !('result' in eq && eq.result) });
        expect(run(`${left} === ${right}`, e)).toEqual(eq);
      }),
    );
  });

  it('evaluates deeply nested payloads without escaping', () => {
    const nest = () => {
      let deep: unknown = 1;
      for (let i = 0; i < 100_000; i++) deep = [deep];
      return deep;
    };
    const outcome = compileCondition('data.a == data.b').evaluate(
      withPayload({ a: nest(), b: nest() }),
    );
    expect(outcome).toSatisfy((o: object) => 'result' in o || 'error' in o);
  });
});
