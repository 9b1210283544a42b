import { createRequire } from 'node:module';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, testBackends } from '../testing/backends.ts';
import type { Database } from './database.ts';
import { arrayLiteral } from './postgres.ts';

/** pg's own conversion of a parameter (not in its typings). */
const pgUtils = createRequire(import.meta.url)('pg/lib/utils.js') as {
  prepareValue(value: unknown): unknown;
};

const plainValue = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.constantFrom('a"b', 'c\\d', '\\"', '{x,y}', 'NULL', ' ', ''),
  // Escaped by JSON.stringify unless a control character or a surrogate is among them.
  fc.json(),
  fc.constantFrom('a"\nb', '"\u0001\\', 'é😀 "q"', '"\ud800"', '\\\udfff'),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);

describe('arrayLiteral', () => {
  it('spells an array of plain values exactly as pg does', () => {
    fc.assert(
      fc.property(fc.array(plainValue), (values) => {
        expect(arrayLiteral(values)).toBe(pgUtils.prepareValue(values));
      }),
    );
  });

  it('leaves arrays of anything else to pg', () => {
    expect(arrayLiteral([['nested']])).toBeUndefined();
    expect(arrayLiteral([{ a: 1 }])).toBeUndefined();
    expect(arrayLiteral([Buffer.from('x')])).toBeUndefined();
  });
});

describe.each(testBackends())('array parameters on $name', (backend) => {
  let database: TestDatabase;
  let db: Database;
  beforeAll(async () => {
    database = await backend.create();
    db = await database.open();
  });
  afterAll(async () => {
    await db.close();
    await database.destroy();
  });

  it('arrive as sent: quotes, backslashes, braces, the word NULL, nulls, unicode', async () => {
    const texts = [
      'a"b',
      'c\\d',
      '\\"',
      '{x,y}',
      'NULL',
      null,
      '',
      ' é😀 ',
      '{"json":"a\\"b"}',
      JSON.stringify({ text: 'é€😀 "quoted" \\ {a,b}\n\t\u0001' }),
      'a "line"\nbreak\tand \\ tab',
    ];
    const { rows } = await db.query<{ value: string | null }>(
      'SELECT unnest($1::text[]) AS value',
      [texts],
    );
    expect(rows.map((r) => r.value)).toEqual(texts);
    const numbers = await db.query<{ n: number; b: boolean }>(
      'SELECT unnest($1::int[]) AS n, unnest($2::boolean[]) AS b',
      [
        [1, -2, 3],
        [true, false, true],
      ],
    );
    expect(numbers.rows).toEqual([
      { n: 1, b: true },
      { n: -2, b: false },
      { n: 3, b: true },
    ]);
  });
});
