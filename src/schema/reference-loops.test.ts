import { describe, expect, it } from 'vitest';
import { SchemaCompileError, SchemaCompiler } from './compiler.ts';

/** Schemas whose `$ref`s apply them to the same value for ever are refused when compiled. */

const compiler = new SchemaCompiler();
const object = { type: 'object', properties: { a: { type: 'string' } } };
const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';

describe('reference loops', () => {
  it.each([
    ['a $ref to the root beside other keywords', { type: 'object', maxProperties: 0, $ref: '#' }],
    ['a $ref to the root inside allOf', { allOf: [{ $ref: '#' }, object] }],
    ['the same with a root $id', { $id: 'https://example.com/s', allOf: [{ $ref: '#' }, object] }],
    [
      'a definition that is an allOf of itself',
      { $defs: { n: { allOf: [{ $ref: '#/$defs/n' }, object] } }, $ref: '#/$defs/n' },
    ],
    [
      'draft-07 definitions referring to each other through anyOf and not',
      {
        $schema: DRAFT_07,
        definitions: {
          a: { anyOf: [{ $ref: '#/definitions/b' }, { type: 'string' }] },
          b: { not: { $ref: '#/definitions/a' } },
        },
        properties: { x: { $ref: '#/definitions/a' } },
      },
    ],
    ['an anchor', { properties: { x: { $anchor: 'r', oneOf: [{ $ref: '#r' }, object] } } }],
    ['if/then', { $defs: { c: { if: { $ref: '#/$defs/c' } } }, $ref: '#/$defs/c' }],
    [
      'dependentSchemas',
      { $defs: { d: { dependentSchemas: { a: { $ref: '#/$defs/d' } } } }, $ref: '#/$defs/d' },
    ],
  ])('refuses %s, naming the reference', (_, schema) => {
    expect(() => compiler.compile(schema)).toThrow(SchemaCompileError);
    expect(() => compiler.compile(schema)).toThrow(/\$ref "#[^"]*" at #\S* leads back to itself/);
  });

  it('accepts recursion through properties and items, and validates with it', () => {
    const tree = {
      $defs: {
        node: {
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string' },
            children: { type: 'array', items: { $ref: '#/$defs/node' } },
            parent: { allOf: [{ $ref: '#/$defs/node' }] },
          },
        },
      },
      $ref: '#/$defs/node',
    };
    const validate = compiler.compile(tree);
    expect(validate({ name: 'a', children: [{ name: 'b', children: [{ name: 'c' }] }] })).toEqual(
      [],
    );
    expect(validate({ name: 'a', children: [{ children: [] }] })).toEqual([
      expect.objectContaining({ field: 'payload.children[0].name' }),
    ]);
    const list = {
      $schema: DRAFT_07,
      $id: 'https://example.com/list',
      properties: { next: { $ref: '#' } },
    };
    expect(compiler.compile(list)({ next: { next: {} } })).toEqual([]);
  });

  it('does not read data keywords as schemas, and refs into another $id resource stay there', () => {
    expect(() => compiler.compile({ const: { $ref: '#/const' } })).not.toThrow();
    const nested = {
      properties: { x: { $id: 'https://example.com/x', properties: { y: { $ref: '#' } } } },
      allOf: [{ properties: { z: { type: 'string' } } }],
    };
    expect(() => compiler.compile(nested)).not.toThrow();
  });
});
