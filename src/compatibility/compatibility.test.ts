import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHANGE_CODES, isCompatibleChange } from './changes.ts';
import {
  COMPATIBILITY_MODES,
  type CompatibilityMode,
  checkCompatibility,
  compareSchemas,
} from './check.ts';
import { DEFAULT_COMPATIBILITY_LIMITS } from './limits.ts';

type Schema = Record<string, unknown> | boolean;
type Rule = [description: string, original: Schema, update: Schema, changes: string[]];

/** The changes (`CODE path`) from `original` to `update`, in a stable order. */
const changesOf = (original: Schema, update: Schema) =>
  compareSchemas(original, update)
    .map((c) => `${c.code} ${c.path}`)
    .sort();
const compatible = (changes: string[]) =>
  changes.every((c) => isCompatibleChange(c.split(' ')[0] as never));

/**
 * One row per rule: the changes reported, and from them the verdict (the update reads all data
 * the original accepted exactly when every change is compatible).
 */
function rules(title: string, rows: Array<[...Rule, boolean]>) {
  describe(title, () => {
    it.each(rows)('%s', (_description, original, update, changes, isCompatible) => {
      const found = changesOf(original, update);
      expect(found).toEqual([...changes].sort());
      expect(compatible(found)).toBe(isCompatible);
    });
  });
}

const obj = (properties: Record<string, Schema>, extra: Record<string, unknown> = {}) => ({
  type: 'object',
  properties,
  ...extra,
});
const str = { type: 'string' };
const num = { type: 'number' };
const int = { type: 'integer' };

rules('types', [
  ['string to number', str, num, ['TYPE_CHANGED #/'], false],
  ['object to array', { type: 'object' }, { type: 'array' }, ['TYPE_CHANGED #/'], false],
  ['integer widened to number', int, num, ['TYPE_EXTENDED #/'], true],
  ['number narrowed to integer', num, int, ['TYPE_NARROWED #/'], false],
  [
    'nested property type change',
    obj({ orderTotal: num }),
    obj({ orderTotal: str }),
    ['TYPE_CHANGED #/properties/orderTotal'],
    false,
  ],
  ['string made nullable', str, { type: ['string', 'null'] }, ['SUM_TYPE_EXTENDED #/'], true],
  ['nullable made non-null', { type: ['string', 'null'] }, str, ['TYPE_CHANGED #/'], false],
  ['type list reordered', { type: ['string', 'null'] }, { type: ['null', 'string'] }, [], true],
  ['anything to an empty schema', obj({ a: str }), {}, [], true],
  ['anything to true', str, true, [], true],
  ['false to anything', false, str, [], true],
  ['empty schema to a type', {}, str, ['TYPE_CHANGED #/'], false],
  ['boolean to null', { type: 'boolean' }, { type: 'null' }, ['TYPE_CHANGED #/'], false],
  [
    'keywords without type read as that type',
    { maxLength: 3 },
    { type: 'string' },
    ['MAX_LENGTH_REMOVED #/maxLength'],
    true,
  ],
]);

rules('annotations', [
  ['title', { ...str, title: 'a' }, { ...str, title: 'b' }, ['TITLE_CHANGED #/'], true],
  ['description', { ...str, description: 'a' }, str, ['DESCRIPTION_CHANGED #/'], true],
  ['default', { ...str, default: 'a' }, { ...str, default: 'b' }, ['DEFAULT_CHANGED #/'], true],
  ['$id', { ...str, $id: 'a' }, { ...str, $id: 'b' }, ['ID_CHANGED #/'], true],
  ['format is not compared', { ...str, format: 'email' }, { ...str, format: 'uri' }, [], true],
]);

const s = (extra: Record<string, unknown>) => ({ type: 'string', ...extra });
rules('string bounds', [
  ['maxLength added', str, s({ maxLength: 5 }), ['MAX_LENGTH_ADDED #/maxLength'], false],
  ['maxLength removed', s({ maxLength: 5 }), str, ['MAX_LENGTH_REMOVED #/maxLength'], true],
  [
    'maxLength increased',
    s({ maxLength: 5 }),
    s({ maxLength: 6 }),
    ['MAX_LENGTH_INCREASED #/maxLength'],
    true,
  ],
  [
    'maxLength decreased',
    s({ maxLength: 6 }),
    s({ maxLength: 5 }),
    ['MAX_LENGTH_DECREASED #/maxLength'],
    false,
  ],
  ['minLength added', str, s({ minLength: 1 }), ['MIN_LENGTH_ADDED #/minLength'], false],
  ['minLength removed', s({ minLength: 1 }), str, ['MIN_LENGTH_REMOVED #/minLength'], true],
  [
    'minLength increased',
    s({ minLength: 1 }),
    s({ minLength: 2 }),
    ['MIN_LENGTH_INCREASED #/minLength'],
    false,
  ],
  [
    'minLength decreased',
    s({ minLength: 2 }),
    s({ minLength: 1 }),
    ['MIN_LENGTH_DECREASED #/minLength'],
    true,
  ],
  ['pattern added', str, s({ pattern: '^a' }), ['PATTERN_ADDED #/pattern'], false],
  ['pattern removed', s({ pattern: '^a' }), str, ['PATTERN_REMOVED #/pattern'], true],
  [
    'pattern changed',
    s({ pattern: '^a' }),
    s({ pattern: '^b' }),
    ['PATTERN_CHANGED #/pattern'],
    false,
  ],
  ['pattern kept', s({ pattern: '^a' }), s({ pattern: '^a' }), [], true],
]);

const n = (extra: Record<string, unknown>) => ({ type: 'number', ...extra });
rules('number bounds', [
  ['maximum added', num, n({ maximum: 9 }), ['MAXIMUM_ADDED #/maximum'], false],
  ['maximum removed', n({ maximum: 9 }), num, ['MAXIMUM_REMOVED #/maximum'], true],
  [
    'maximum increased',
    n({ maximum: 9 }),
    n({ maximum: 10 }),
    ['MAXIMUM_INCREASED #/maximum'],
    true,
  ],
  [
    'maximum decreased',
    n({ maximum: 10 }),
    n({ maximum: 9 }),
    ['MAXIMUM_DECREASED #/maximum'],
    false,
  ],
  ['minimum added', num, n({ minimum: 0 }), ['MINIMUM_ADDED #/minimum'], false],
  ['minimum removed', n({ minimum: 0 }), num, ['MINIMUM_REMOVED #/minimum'], true],
  [
    'minimum increased',
    n({ minimum: 0 }),
    n({ minimum: 1 }),
    ['MINIMUM_INCREASED #/minimum'],
    false,
  ],
  [
    'minimum decreased',
    n({ minimum: 1 }),
    n({ minimum: 0 }),
    ['MINIMUM_DECREASED #/minimum'],
    true,
  ],
  [
    'exclusiveMaximum added',
    num,
    n({ exclusiveMaximum: 9 }),
    ['EXCLUSIVE_MAXIMUM_ADDED #/exclusiveMaximum'],
    false,
  ],
  [
    'exclusiveMaximum removed',
    n({ exclusiveMaximum: 9 }),
    num,
    ['EXCLUSIVE_MAXIMUM_REMOVED #/exclusiveMaximum'],
    true,
  ],
  [
    'exclusiveMaximum increased',
    n({ exclusiveMaximum: 9 }),
    n({ exclusiveMaximum: 10 }),
    ['EXCLUSIVE_MAXIMUM_INCREASED #/exclusiveMaximum'],
    true,
  ],
  [
    'exclusiveMaximum decreased',
    n({ exclusiveMaximum: 10 }),
    n({ exclusiveMaximum: 9 }),
    ['EXCLUSIVE_MAXIMUM_DECREASED #/exclusiveMaximum'],
    false,
  ],
  [
    'exclusiveMinimum added',
    num,
    n({ exclusiveMinimum: 0 }),
    ['EXCLUSIVE_MINIMUM_ADDED #/exclusiveMinimum'],
    false,
  ],
  [
    'exclusiveMinimum removed',
    n({ exclusiveMinimum: 0 }),
    num,
    ['EXCLUSIVE_MINIMUM_REMOVED #/exclusiveMinimum'],
    true,
  ],
  [
    'exclusiveMinimum increased',
    n({ exclusiveMinimum: 0 }),
    n({ exclusiveMinimum: 1 }),
    ['EXCLUSIVE_MINIMUM_INCREASED #/exclusiveMinimum'],
    false,
  ],
  [
    'exclusiveMinimum decreased',
    n({ exclusiveMinimum: 1 }),
    n({ exclusiveMinimum: 0 }),
    ['EXCLUSIVE_MINIMUM_DECREASED #/exclusiveMinimum'],
    true,
  ],
  ['multipleOf added', num, n({ multipleOf: 2 }), ['MULTIPLE_OF_ADDED #/multipleOf'], false],
  ['multipleOf removed', n({ multipleOf: 2 }), num, ['MULTIPLE_OF_REMOVED #/multipleOf'], true],
  [
    'multipleOf 2 to 4 (expanded)',
    n({ multipleOf: 2 }),
    n({ multipleOf: 4 }),
    ['MULTIPLE_OF_EXPANDED #/multipleOf'],
    false,
  ],
  [
    'multipleOf 4 to 2 (reduced)',
    n({ multipleOf: 4 }),
    n({ multipleOf: 2 }),
    ['MULTIPLE_OF_REDUCED #/multipleOf'],
    true,
  ],
  [
    'multipleOf 0.3 to 0.1 (decimal, reduced)',
    n({ multipleOf: 0.3 }),
    n({ multipleOf: 0.1 }),
    ['MULTIPLE_OF_REDUCED #/multipleOf'],
    true,
  ],
  [
    'multipleOf 4 to 6 (changed)',
    n({ multipleOf: 4 }),
    n({ multipleOf: 6 }),
    ['MULTIPLE_OF_CHANGED #/multipleOf'],
    false,
  ],
  [
    'bounds on integers',
    { ...int, maximum: 5 },
    { ...int, maximum: 7 },
    ['MAXIMUM_INCREASED #/maximum'],
    true,
  ],
]);

rules('required', [
  [
    'an existing property becomes required',
    obj({ id: str }),
    obj({ id: str }, { required: ['id'] }),
    ['REQUIRED_ATTRIBUTE_ADDED #/required/id'],
    false,
  ],
  [
    '… with a default',
    obj({ id: str }),
    obj({ id: { ...str, default: 'x' } }, { required: ['id'] }),
    ['DEFAULT_CHANGED #/properties/id', 'REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED #/required/id'],
    true,
  ],
  [
    'a property is no longer required',
    obj({ id: str }, { required: ['id'] }),
    obj({ id: str }),
    ['REQUIRED_ATTRIBUTE_REMOVED #/required/id'],
    true,
  ],
  [
    'a required name without a property is not compared',
    obj({ id: str }),
    obj({ id: str }, { required: ['other'] }),
    [],
    true,
  ],
]);

const closed = { additionalProperties: false };
rules('properties in an open content model', [
  [
    'optional property added',
    obj({ a: str }),
    obj({ a: str, b: num }),
    ['OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/properties/b'],
    false,
  ],
  [
    'required property added',
    obj({ a: str }),
    obj({ a: str, b: num }, { required: ['b'] }),
    ['REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/properties/b'],
    false,
  ],
  [
    'required property with a default added',
    obj({ a: str }),
    obj({ a: str, b: { ...num, default: 0 } }, { required: ['b'] }),
    ['REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL #/properties/b'],
    false,
  ],
  [
    'property accepting anything added',
    obj({ a: str }),
    obj({ a: str, b: {} }),
    ['PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL #/properties/b'],
    true,
  ],
  [
    'property removed',
    obj({ a: str, b: num }),
    obj({ a: str }),
    ['PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL #/properties/b'],
    true,
  ],
  [
    'required property removed',
    obj({ a: str, b: num }, { required: ['b'] }),
    obj({ a: str }),
    ['PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL #/properties/b'],
    true,
  ],
  [
    'additionalProperties: true is open',
    obj({ a: str }, { additionalProperties: true }),
    obj({ a: str, b: num }, { additionalProperties: true }),
    ['OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/properties/b'],
    false,
  ],
]);

rules('properties in a closed content model', [
  [
    'optional property added',
    obj({ a: str }, closed),
    obj({ a: str, b: num }, closed),
    ['OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/b'],
    true,
  ],
  [
    'required property added',
    obj({ a: str }, closed),
    obj({ a: str, b: num }, { ...closed, required: ['b'] }),
    ['REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/b'],
    false,
  ],
  [
    'required property with a default added',
    obj({ a: str }, closed),
    obj({ a: str, b: { ...num, default: 1 } }, { ...closed, required: ['b'] }),
    ['REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/b'],
    true,
  ],
  [
    'property removed',
    obj({ a: str, b: num }, closed),
    obj({ a: str }, closed),
    ['PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL #/properties/b'],
    false,
  ],
  [
    'forbidden property removed',
    obj({ a: str, b: false }, closed),
    obj({ a: str }, closed),
    ['PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL #/properties/b'],
    true,
  ],
  [
    'unevaluatedProperties: false is closed',
    obj({ a: str }, { unevaluatedProperties: false }),
    obj({ a: str, b: num }, { unevaluatedProperties: false }),
    ['OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/b'],
    true,
  ],
]);

const partly = { additionalProperties: { type: 'string' } };
const byPattern = { ...closed, patternProperties: { '^n_': { type: 'integer' } } };
rules('properties in a partially open content model', [
  [
    'added, covered by additionalProperties',
    obj({ a: str }, partly),
    obj({ a: str, b: str }, partly),
    [
      'OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/b',
      'PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/b',
    ],
    true,
  ],
  [
    'added, not covered',
    obj({ a: str }, partly),
    obj({ a: str, b: num }, partly),
    [
      'OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/b',
      'PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/b',
      'TYPE_CHANGED #/properties/b',
    ],
    false,
  ],
  [
    'added required, covered',
    obj({ a: str }, partly),
    obj({ a: str, b: str }, { ...partly, required: ['b'] }),
    [
      'PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/b',
      'REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/b',
    ],
    false,
  ],
  [
    'removed, covered',
    obj({ a: str, b: str }, closed),
    obj({ a: str }, partly),
    [
      'ADDITIONAL_PROPERTIES_ADDED #/additionalProperties',
      'PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/b',
    ],
    true,
  ],
  [
    'removed, not covered',
    obj({ a: str, b: num }, closed),
    obj({ a: str }, partly),
    [
      'ADDITIONAL_PROPERTIES_ADDED #/additionalProperties',
      'PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/b',
      'TYPE_CHANGED #/properties/b',
    ],
    false,
  ],
  [
    'added, covered by patternProperties (integer into number)',
    obj({ a: str }, byPattern),
    obj({ a: str, n_1: num }, byPattern),
    [
      'OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/n_1',
      'PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/n_1',
      'TYPE_EXTENDED #/properties/n_1',
    ],
    true,
  ],
  [
    'removed, covered by patternProperties',
    obj({ a: str, n_1: int }, closed),
    obj({ a: str }, byPattern),
    ['PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/n_1'],
    true,
  ],
  [
    'removed, name outside every pattern',
    obj({ a: str, x: int }, closed),
    obj({ a: str }, byPattern),
    ['PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL #/properties/x'],
    false,
  ],
  [
    'added, covered by unevaluatedProperties',
    obj({ a: str }, { unevaluatedProperties: str }),
    obj({ a: str, b: str }, { unevaluatedProperties: str }),
    [
      'OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/b',
      'PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/b',
    ],
    true,
  ],
]);

const ap = (additionalProperties: unknown) => ({ type: 'object', additionalProperties });
const up = (unevaluatedProperties: unknown) => ({ type: 'object', unevaluatedProperties });
rules('additionalProperties and unevaluatedProperties', [
  [
    'false to allowed',
    ap(false),
    { type: 'object' },
    ['ADDITIONAL_PROPERTIES_ADDED #/additionalProperties'],
    true,
  ],
  [
    'allowed to false',
    ap(true),
    ap(false),
    ['ADDITIONAL_PROPERTIES_REMOVED #/additionalProperties'],
    false,
  ],
  [
    'anything to a schema',
    ap(true),
    ap(num),
    ['ADDITIONAL_PROPERTIES_NARROWED #/additionalProperties'],
    false,
  ],
  [
    'a schema to anything',
    ap(num),
    { type: 'object' },
    ['ADDITIONAL_PROPERTIES_EXTENDED #/additionalProperties'],
    true,
  ],
  ['schema type changed', ap(str), ap(num), ['TYPE_CHANGED #/additionalProperties'], false],
  [
    'unevaluated false to absent',
    up(false),
    { type: 'object' },
    ['UNEVALUATED_PROPERTIES_ADDED #/unevaluatedProperties'],
    true,
  ],
  [
    'unevaluated absent to false',
    { type: 'object' },
    up(false),
    ['UNEVALUATED_PROPERTIES_REMOVED #/unevaluatedProperties'],
    false,
  ],
  [
    'unevaluated absent to a schema',
    { type: 'object' },
    up(str),
    ['UNEVALUATED_PROPERTIES_NARROWED #/unevaluatedProperties'],
    false,
  ],
  [
    'unevaluated schema to true',
    up(str),
    up(true),
    ['UNEVALUATED_PROPERTIES_EXTENDED #/unevaluatedProperties'],
    true,
  ],
  ['unevaluated schema changed', up(str), up(num), ['TYPE_CHANGED #/unevaluatedProperties'], false],
]);

const o = (extra: Record<string, unknown>) => ({ type: 'object', ...extra });
rules('object bounds', [
  [
    'maxProperties added',
    o({}),
    o({ maxProperties: 3 }),
    ['MAX_PROPERTIES_ADDED #/maxProperties'],
    false,
  ],
  [
    'maxProperties removed',
    o({ maxProperties: 3 }),
    o({}),
    ['MAX_PROPERTIES_REMOVED #/maxProperties'],
    true,
  ],
  [
    'maxProperties increased',
    o({ maxProperties: 3 }),
    o({ maxProperties: 4 }),
    ['MAX_PROPERTIES_INCREASED #/maxProperties'],
    true,
  ],
  [
    'maxProperties decreased',
    o({ maxProperties: 4 }),
    o({ maxProperties: 3 }),
    ['MAX_PROPERTIES_DECREASED #/maxProperties'],
    false,
  ],
  [
    'minProperties added',
    o({}),
    o({ minProperties: 1 }),
    ['MIN_PROPERTIES_ADDED #/minProperties'],
    false,
  ],
  [
    'minProperties removed',
    o({ minProperties: 1 }),
    o({}),
    ['MIN_PROPERTIES_REMOVED #/minProperties'],
    true,
  ],
  [
    'minProperties increased',
    o({ minProperties: 1 }),
    o({ minProperties: 2 }),
    ['MIN_PROPERTIES_INCREASED #/minProperties'],
    false,
  ],
  [
    'minProperties decreased',
    o({ minProperties: 2 }),
    o({ minProperties: 1 }),
    ['MIN_PROPERTIES_DECREASED #/minProperties'],
    true,
  ],
]);

const ab = { a: num, b: str };
rules('dependencies (draft-07) and dependentRequired / dependentSchemas (2020-12)', [
  [
    'dependency list added',
    obj(ab),
    obj(ab, { dependencies: { a: ['b'] } }),
    ['DEPENDENCY_ARRAY_ADDED #/dependencies/a'],
    false,
  ],
  [
    'dependency list removed',
    obj(ab, { dependencies: { a: ['b'] } }),
    obj(ab),
    ['DEPENDENCY_ARRAY_REMOVED #/dependencies/a'],
    true,
  ],
  [
    'dependentRequired extended',
    obj(ab, { dependentRequired: { a: ['b'] } }),
    obj({ ...ab, c: str }, { ...closed, dependentRequired: { a: ['b', 'c'] } }),
    [
      'ADDITIONAL_PROPERTIES_REMOVED #/additionalProperties',
      'DEPENDENCY_ARRAY_EXTENDED #/dependencies/a',
      'OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/properties/c',
    ],
    false,
  ],
  [
    'dependentRequired narrowed',
    o({ dependentRequired: { a: ['b', 'c'] } }),
    o({ dependentRequired: { a: ['b'] } }),
    ['DEPENDENCY_ARRAY_NARROWED #/dependencies/a'],
    true,
  ],
  [
    'dependentRequired changed',
    o({ dependentRequired: { a: ['b'] } }),
    o({ dependentRequired: { a: ['c'] } }),
    ['DEPENDENCY_ARRAY_CHANGED #/dependencies/a'],
    false,
  ],
  [
    'draft-07 list to 2020-12 spelling',
    o({ dependencies: { a: ['b'] } }),
    o({ dependentRequired: { a: ['b'] } }),
    [],
    true,
  ],
  [
    'schema dependency added',
    o({}),
    o({ dependentSchemas: { a: o({ required: ['b'] }) } }),
    ['DEPENDENCY_SCHEMA_ADDED #/dependencies/a'],
    false,
  ],
  [
    'schema dependency removed',
    o({ dependencies: { a: o({ required: ['b'] }) } }),
    o({}),
    ['DEPENDENCY_SCHEMA_REMOVED #/dependencies/a'],
    true,
  ],
  [
    'schema dependency changed',
    o({ dependentSchemas: { a: str } }),
    o({ dependentSchemas: { a: num } }),
    ['TYPE_CHANGED #/dependencies/a'],
    false,
  ],
]);

const arr = (extra: Record<string, unknown>) => ({ type: 'array', ...extra });
rules('array items (one schema for all)', [
  ['items added', arr({}), arr({ items: str }), ['SCHEMA_ADDED #/items'], false],
  ['items removed', arr({ items: str }), arr({}), ['SCHEMA_REMOVED #/items'], true],
  ['items type changed', arr({ items: str }), arr({ items: num }), ['TYPE_CHANGED #/items'], false],
  ['items widened', arr({ items: int }), arr({ items: num }), ['TYPE_EXTENDED #/items'], true],
  ['maxItems added', arr({}), arr({ maxItems: 3 }), ['MAX_ITEMS_ADDED #/maxItems'], false],
  ['maxItems removed', arr({ maxItems: 3 }), arr({}), ['MAX_ITEMS_REMOVED #/maxItems'], true],
  [
    'maxItems increased',
    arr({ maxItems: 3 }),
    arr({ maxItems: 4 }),
    ['MAX_ITEMS_INCREASED #/maxItems'],
    true,
  ],
  [
    'maxItems decreased',
    arr({ maxItems: 4 }),
    arr({ maxItems: 3 }),
    ['MAX_ITEMS_DECREASED #/maxItems'],
    false,
  ],
  ['minItems added', arr({}), arr({ minItems: 1 }), ['MIN_ITEMS_ADDED #/minItems'], false],
  ['minItems removed', arr({ minItems: 1 }), arr({}), ['MIN_ITEMS_REMOVED #/minItems'], true],
  [
    'minItems increased',
    arr({ minItems: 1 }),
    arr({ minItems: 2 }),
    ['MIN_ITEMS_INCREASED #/minItems'],
    false,
  ],
  [
    'minItems decreased',
    arr({ minItems: 2 }),
    arr({ minItems: 1 }),
    ['MIN_ITEMS_DECREASED #/minItems'],
    true,
  ],
  [
    'uniqueItems added',
    arr({}),
    arr({ uniqueItems: true }),
    ['UNIQUE_ITEMS_ADDED #/uniqueItems'],
    false,
  ],
  [
    'uniqueItems removed',
    arr({ uniqueItems: true }),
    arr({}),
    ['UNIQUE_ITEMS_REMOVED #/uniqueItems'],
    true,
  ],
  [
    'minContains increased',
    arr({ contains: num, minContains: 1 }),
    arr({ contains: num, minContains: 2 }),
    ['MIN_CONTAINS_INCREASED #/minContains'],
    false,
  ],
  [
    'minContains decreased',
    arr({ contains: num, minContains: 2 }),
    arr({ contains: num, minContains: 1 }),
    ['MIN_CONTAINS_DECREASED #/minContains'],
    true,
  ],
  [
    'maxContains added',
    arr({ contains: num }),
    arr({ contains: num, maxContains: 2 }),
    ['MAX_CONTAINS_ADDED #/maxContains'],
    false,
  ],
  [
    'maxContains increased',
    arr({ contains: num, maxContains: 2 }),
    arr({ contains: num, maxContains: 3 }),
    ['MAX_CONTAINS_INCREASED #/maxContains'],
    true,
  ],
]);

const draft07 = 'http://json-schema.org/draft-07/schema#';
const tuple07 = (items: Schema[], extra: Record<string, unknown> = {}) => ({
  $schema: draft07,
  type: 'array',
  items,
  ...extra,
});
const tuple = (prefixItems: Schema[], extra: Record<string, unknown> = {}) => ({
  type: 'array',
  prefixItems,
  ...extra,
});
rules('tuples: draft-07 items list + additionalItems, 2020-12 prefixItems + items', [
  ['item changed (draft-07)', tuple07([str]), tuple07([num]), ['TYPE_CHANGED #/items/0'], false],
  ['item changed (2020-12)', tuple([str]), tuple([num]), ['TYPE_CHANGED #/items/0'], false],
  [
    'draft-07 tuple to the 2020-12 spelling',
    tuple07([str, num], { additionalItems: false }),
    tuple([str, num], { items: false }),
    [],
    true,
  ],
  [
    'item removed from an open tuple',
    tuple([str, num]),
    tuple([str]),
    ['ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL #/items/1'],
    true,
  ],
  [
    'item removed from a closed tuple',
    tuple([str, num], { items: false }),
    tuple([str], { items: false }),
    ['ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL #/items/1'],
    false,
  ],
  [
    'forbidden item removed from a closed tuple',
    tuple([str, false], { items: false }),
    tuple([str], { items: false }),
    ['ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL #/items/1'],
    true,
  ],
  [
    'item added to an open tuple',
    tuple([str]),
    tuple([str, num]),
    ['ITEM_ADDED_TO_OPEN_CONTENT_MODEL #/items/1'],
    false,
  ],
  [
    'item accepting anything added to an open tuple',
    tuple([str]),
    tuple([str, true]),
    ['ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL #/items/1'],
    true,
  ],
  [
    'item added to a closed tuple',
    tuple07([str], { additionalItems: false }),
    tuple07([str, num], { additionalItems: false }),
    ['ITEM_ADDED_TO_CLOSED_CONTENT_MODEL #/items/1'],
    true,
  ],
  [
    'item added, covered by the rest',
    tuple([str], { items: num }),
    tuple([str, num], { items: num }),
    ['ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/items/1'],
    true,
  ],
  [
    'item added, not covered',
    tuple([str], { items: num }),
    tuple([str, str], { items: num }),
    ['ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/items/1', 'TYPE_CHANGED #/items/1'],
    false,
  ],
  [
    'item removed, covered',
    tuple07([str, num], { additionalItems: num }),
    tuple07([str], { additionalItems: num }),
    ['ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/items/1'],
    true,
  ],
  [
    'item removed, not covered',
    tuple([str, num], { items: str }),
    tuple([str], { items: str }),
    [
      'ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/items/1',
      'TYPE_CHANGED #/items/1',
    ],
    false,
  ],
  [
    'item removed, covered by unevaluatedItems',
    tuple([str, str], { unevaluatedItems: str }),
    tuple([str], { unevaluatedItems: str }),
    ['ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/items/1'],
    true,
  ],
  [
    'additionalItems true to false',
    tuple07([str], { additionalItems: true }),
    tuple07([str], { additionalItems: false }),
    ['ADDITIONAL_ITEMS_REMOVED #/additionalItems'],
    false,
  ],
  [
    'additionalItems false to true',
    tuple([str], { items: false }),
    tuple([str]),
    ['ADDITIONAL_ITEMS_ADDED #/additionalItems'],
    true,
  ],
  [
    'rest narrowed to a schema',
    tuple([str]),
    tuple([str], { items: num }),
    ['ADDITIONAL_ITEMS_NARROWED #/additionalItems'],
    false,
  ],
  [
    'rest extended to anything',
    tuple07([str], { additionalItems: num }),
    tuple07([str]),
    ['ADDITIONAL_ITEMS_EXTENDED #/additionalItems'],
    true,
  ],
  [
    'rest schema changed',
    tuple([str], { items: num }),
    tuple([str], { items: str }),
    ['TYPE_CHANGED #/additionalItems'],
    false,
  ],
  [
    'unevaluatedItems absent to false',
    arr({}),
    arr({ unevaluatedItems: false }),
    ['UNEVALUATED_ITEMS_REMOVED #/unevaluatedItems'],
    false,
  ],
  [
    'unevaluatedItems false to absent',
    arr({ unevaluatedItems: false }),
    arr({}),
    ['UNEVALUATED_ITEMS_ADDED #/unevaluatedItems'],
    true,
  ],
]);

const colours = (values: string[]) => ({ type: 'string', enum: values });
rules('enum and const', [
  [
    'enum extended',
    colours(['red']),
    colours(['red', 'blue']),
    ['ENUM_ARRAY_EXTENDED #/allOf/0/enum'],
    true,
  ],
  [
    'enum narrowed',
    colours(['red', 'blue']),
    colours(['red']),
    ['COMBINED_TYPE_SUBSCHEMAS_CHANGED #/'],
    false,
  ],
  [
    'enum without type extended',
    { enum: ['red'] },
    { enum: ['red', 'blue'] },
    ['ENUM_ARRAY_EXTENDED #/enum'],
    true,
  ],
  [
    'enum without type narrowed',
    { enum: ['red', 'blue'] },
    { enum: ['red'] },
    ['ENUM_ARRAY_NARROWED #/enum'],
    false,
  ],
  ['enum changed', { enum: ['red'] }, { enum: ['blue'] }, ['ENUM_ARRAY_CHANGED #/enum'], false],
  ['enum reordered', { enum: ['red', 'blue'] }, { enum: ['blue', 'red'] }, [], true],
  [
    'enum of objects compares by content',
    { enum: [{ a: 1, b: 2 }] },
    { enum: [{ b: 2, a: 1 }] },
    [],
    true,
  ],
  ['enum removed', colours(['red']), str, ['PRODUCT_TYPE_NARROWED #/'], true],
  ['enum added', str, colours(['red']), ['TYPE_CHANGED #/'], false],
  ['const changed', { const: 'red' }, { const: 'blue' }, ['ENUM_ARRAY_CHANGED #/const'], false],
  ['const kept', { const: 'red' }, { const: 'red' }, [], true],
]);

rules('oneOf, anyOf, allOf', [
  [
    'alternative added to oneOf',
    { oneOf: [str] },
    { oneOf: [str, num] },
    ['SUM_TYPE_EXTENDED #/'],
    true,
  ],
  [
    'alternative removed from anyOf',
    { anyOf: [str, num] },
    { anyOf: [str] },
    ['SUM_TYPE_NARROWED #/'],
    false,
  ],
  [
    'alternative changed',
    { oneOf: [str] },
    { oneOf: [num] },
    ['COMBINED_TYPE_SUBSCHEMAS_CHANGED #/'],
    false,
  ],
  ['alternatives reordered', { anyOf: [str, num] }, { anyOf: [num, str] }, [], true],
  [
    'a part added to allOf',
    { allOf: [str] },
    { allOf: [str, { maxLength: 3 }] },
    ['PRODUCT_TYPE_EXTENDED #/'],
    false,
  ],
  [
    'a part removed from allOf',
    { allOf: [str, { maxLength: 3 }] },
    { allOf: [str] },
    ['PRODUCT_TYPE_NARROWED #/'],
    true,
  ],
  ['repeated subschemas count once', { allOf: [str, str] }, { allOf: [str] }, [], true],
  [
    'oneOf to anyOf',
    { oneOf: [str, num] },
    { anyOf: [str, num] },
    ['COMBINED_TYPE_EXTENDED #/'],
    true,
  ],
  [
    'anyOf to oneOf',
    { anyOf: [str, num] },
    { oneOf: [str, num] },
    ['COMBINED_TYPE_CHANGED #/'],
    false,
  ],
  [
    'singleton oneOf to allOf',
    { oneOf: [str] },
    { allOf: [str] },
    ['COMBINED_TYPE_EXTENDED #/'],
    true,
  ],
  [
    'allOf to oneOf',
    { allOf: [str, { maxLength: 3 }] },
    { oneOf: [str, { maxLength: 3 }] },
    ['COMBINED_TYPE_CHANGED #/'],
    false,
  ],
  [
    'a plain schema becomes an alternative',
    str,
    { anyOf: [num, str] },
    ['SUM_TYPE_EXTENDED #/'],
    true,
  ],
  [
    'an alternative keeps its own changes',
    s({ maxLength: 3 }),
    { oneOf: [num, str] },
    ['MAX_LENGTH_REMOVED #/maxLength', 'SUM_TYPE_EXTENDED #/'],
    true,
  ],
  ['alternatives collapse to one', { anyOf: [num, str] }, str, ['TYPE_CHANGED #/'], false],
  ['a plain schema into a singleton allOf', str, { allOf: [str] }, [], true],
  ['a plain schema into a wider allOf', str, { allOf: [num, str] }, ['TYPE_CHANGED #/'], false],
  [
    'matched alternative changes are reported under it',
    obj({ p: { oneOf: [s({ maxLength: 5 })] } }),
    obj({ p: { oneOf: [{ type: 'boolean' }, s({ maxLength: 8 })] } }),
    ['MAX_LENGTH_INCREASED #/properties/p/oneOf/0/maxLength', 'SUM_TYPE_EXTENDED #/properties/p'],
    true,
  ],
]);

rules('not', [
  ['excludes less', { not: num }, { not: int }, ['NOT_TYPE_NARROWED #/not'], true],
  ['excludes more', { not: int }, { not: num }, ['NOT_TYPE_EXTENDED #/not'], false],
  ['unchanged', { not: str }, { not: str }, [], true],
]);

const withDefs = (
  root: Record<string, unknown>,
  defs: Record<string, Schema>,
  spelling = '$defs',
) => ({ ...root, [spelling]: defs });
rules('local $refs, followed both ways', [
  [
    'a referenced definition changes type',
    withDefs(arr({ items: { $ref: '#/$defs/id' } }), { id: str }),
    withDefs(arr({ items: { $ref: '#/$defs/id' } }), { id: num }),
    ['TYPE_CHANGED #/items'],
    false,
  ],
  ['inline moved into a definition', str, withDefs({ $ref: '#/$defs/id' }, { id: str }), [], true],
  [
    'a definition inlined',
    withDefs({ $ref: '#/definitions/id' }, { id: str }, 'definitions'),
    str,
    [],
    true,
  ],
  [
    '$defs renamed to definitions',
    withDefs(obj({ a: { $ref: '#/$defs/x' } }), { x: int }),
    withDefs(obj({ a: { $ref: '#/definitions/x' } }), { x: num }, 'definitions'),
    ['TYPE_EXTENDED #/properties/a'],
    true,
  ],
  [
    'an $anchor reference',
    withDefs(obj({ a: { $ref: '#amount' } }), { x: { $anchor: 'amount', ...num } }),
    obj({ a: num }),
    [],
    true,
  ],
  [
    'a $ref with sibling constraints',
    withDefs(obj({ a: { $ref: '#/$defs/x' } }), { x: str }),
    withDefs(obj({ a: { $ref: '#/$defs/x', maxLength: 3 } }), { x: str }),
    ['TYPE_CHANGED #/properties/a'],
    false,
  ],
]);

const tree = (valueType: Schema) => ({
  $ref: '#/$defs/node',
  $defs: {
    node: obj({ value: valueType, children: { type: 'array', items: { $ref: '#/$defs/node' } } }),
  },
});
rules('recursive schemas', [
  ['a tree compared with itself', tree(str), tree(str), [], true],
  ['a tree whose value widens', tree(int), tree(num), ['TYPE_EXTENDED #/properties/value'], true],
  // Also found where the recursion reaches the value again.
  [
    'a tree whose value changes type',
    tree(str),
    tree(num),
    [
      'TYPE_CHANGED #/properties/children/items/properties/value',
      'TYPE_CHANGED #/properties/value',
    ],
    false,
  ],
  [
    'a reference to the root',
    obj({ next: { $ref: '#' } }),
    obj({ next: { $ref: '#' }, v: {} }),
    ['PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL #/properties/v'],
    true,
  ],
  [
    'a loop of bare references accepts anything',
    withDefs({ $ref: '#/$defs/a' }, { a: { $ref: '#/$defs/b' }, b: { $ref: '#/$defs/a' } }),
    str,
    ['TYPE_CHANGED #/'],
    false,
  ],
]);

/** A linked list in draft-07 `definitions`, its node reached through `#/definitions/n`. */
const linkedList = (extra: Record<string, Schema> = {}) => ({
  $schema: 'http://json-schema.org/draft-07/schema#',
  definitions: { n: { properties: { next: { $ref: '#/definitions/n' }, ...extra } } },
  $ref: '#/definitions/n',
});
rules('recursive references compared both ways', [
  ['a linked list with itself', linkedList(), linkedList(), [], true],
  [
    'a linked list whose node gains a property',
    linkedList(),
    linkedList({ value: str }),
    [
      'OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/properties/next/properties/value',
      'OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/properties/value',
    ],
    false,
  ],
  [
    'the same the other way: the node loses it',
    linkedList({ value: str }),
    linkedList(),
    ['PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL #/properties/value'],
    true,
  ],
  [
    'a linked list whose value changes type',
    linkedList({ value: str }),
    linkedList({ value: num }),
    ['TYPE_CHANGED #/properties/next/properties/value', 'TYPE_CHANGED #/properties/value'],
    false,
  ],
  [
    'the same the other way',
    linkedList({ value: num }),
    linkedList({ value: str }),
    ['TYPE_CHANGED #/properties/next/properties/value', 'TYPE_CHANGED #/properties/value'],
    false,
  ],
]);

describe('schemas that refer to themselves without a step', () => {
  // The registry refuses these (validation would never end), but the checker answers the
  // compatibility endpoint and impact questions about any schema: it must end, both ways.
  const selfObject = { type: 'object', maxProperties: 0, $ref: '#' };
  const selfAllOf = (a: Schema) => ({ allOf: [{ $ref: '#' }, obj({ a })] });
  it.each([selfObject, selfAllOf(str)])('finds %j compatible with itself', (schema) => {
    expect(changesOf(schema, schema)).toEqual([]);
  });

  it('finds a changed type behind the self-reference, both ways', () => {
    expect(compatible(changesOf(selfAllOf(str), selfAllOf(num)))).toBe(false);
    expect(compatible(changesOf(selfAllOf(num), selfAllOf(str)))).toBe(false);
    expect(Array.isArray(changesOf(selfObject, selfAllOf(str)))).toBe(true);
    expect(Array.isArray(changesOf(selfAllOf(str), selfObject))).toBe(true);
  });
});

/**
 * A recursive union (the shape of a production incident at Confluent): `Product` is a oneOf of
 * `branches` types, each with `props` properties that are "a product or an id".
 */
function recursiveUnion(
  branches: number,
  props: number,
  idType = 'string',
): Record<string, unknown> {
  const defs: Record<string, unknown> = {
    SimpleId: obj({ id: { type: idType } }, { required: ['id'] }),
    ProductOrId: { oneOf: [{ $ref: '#/$defs/SimpleId' }, { $ref: '#/$defs/Product' }] },
    Product: { oneOf: Array.from({ length: branches }, (_, i) => ({ $ref: `#/$defs/Type${i}` })) },
  };
  for (let i = 0; i < branches; i++) {
    const properties: Record<string, unknown> = { tag: { type: 'string', const: `type${i}` } };
    for (let p = 0; p < props; p++) properties[`ref${p}`] = { $ref: '#/$defs/ProductOrId' };
    defs[`Type${i}`] = obj(properties as Record<string, Schema>, { required: ['tag'] });
  }
  return { $ref: '#/$defs/Product', $defs: defs };
}

describe('bounded work on hostile schemas', () => {
  it('compares a 12-branch recursive union with itself in few steps and finds nothing', () => {
    // Counted in comparisons, not wall time: with the memo it takes under 1,000; the exponential
    // blow-up the memo prevents takes millions, and the budget then fails the check closed.
    const limits = { ...DEFAULT_COMPATIBILITY_LIMITS, maxComparisons: 5_000 };
    expect(compareSchemas(recursiveUnion(12, 5), recursiveUnion(12, 5), limits)).toEqual([]);
  });

  it('still finds a change hidden behind the recursion', () => {
    const changes = changesOf(recursiveUnion(4, 2), recursiveUnion(4, 2, 'number'));
    expect(compatible(changes)).toBe(false);
  });

  it('fails closed when the comparison would exceed its budget', () => {
    const wide = (offset: number) => ({
      anyOf: Array.from({ length: 600 }, (_, i) => ({ type: 'string', maxLength: i + offset })),
    });
    expect(compareSchemas(wide(1), wide(2))).toEqual([
      { code: 'CHECK_LIMIT_EXCEEDED', path: '#/' },
    ]);
  });

  it('fails closed on a schema with more subschemas than allowed, and on unresolvable refs', () => {
    const limits = { ...DEFAULT_COMPATIBILITY_LIMITS, maxNodes: 10 };
    const big = obj(
      Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`p${i}`, { ...str }])),
    );
    expect(compareSchemas(big, big, limits)).toEqual([
      { code: 'CHECK_LIMIT_EXCEEDED', path: '#/' },
    ]);
    expect(compareSchemas({ $ref: '#/nowhere' }, str)[0]?.code).toBe('CHECK_LIMIT_EXCEEDED');
    expect(compareSchemas({ $ref: 'https://example.com/s.json' }, str)[0]?.code).toBe(
      'CHECK_LIMIT_EXCEEDED',
    );
  });

  it('compares nesting as deep as the registry allows, and fails closed beyond the limit', () => {
    const nested = (levels: number) => {
      let deep: Schema = str;
      for (let i = 0; i < levels; i++) deep = obj({ a: deep });
      return deep;
    };
    expect(changesOf(nested(16), nested(16))).toEqual([]);
    expect(changesOf(nested(200), nested(200))).toEqual(['CHECK_LIMIT_EXCEEDED #/']);
  });

  it('escapes / and ~ in property names of paths', () => {
    expect(changesOf(obj({ 'a/b~c': str }), obj({ 'a/b~c': num }))).toEqual([
      'TYPE_CHANGED #/properties/a~1b~0c',
    ]);
  });

  it('documents every change code in the README, breaking ones marked', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const code of CHANGE_CODES) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      expect({ code, breaking: row?.includes('**breaking**') }).toEqual({
        code,
        breaking: !isCompatibleChange(code),
      });
    }
  });
});

describe('modes', () => {
  const order = (extra: Record<string, Schema> = {}, more: Record<string, unknown> = {}) =>
    obj({ orderId: str, total: num, ...extra }, { required: ['orderId'], ...more });
  const v = (version: string, schema: unknown) => ({ version, schema });
  type Verdicts = Partial<Record<CompatibilityMode, boolean>>;
  const cases: Array<[string, unknown, unknown, Verdicts]> = [
    [
      'an optional property added to an open model',
      order(),
      order({ note: str }),
      { BACKWARD: false, FORWARD: true, FULL: false, NONE: true },
    ],
    [
      'an optional property added to a closed model',
      order({}, closed),
      order({ note: str }, closed),
      { BACKWARD: true, FORWARD: false, FULL: false },
    ],
    [
      'a required property dropped from an open model',
      order(),
      obj({ total: num }),
      { BACKWARD: true, FORWARD: false, FULL: false },
    ],
    [
      'integer widened to number',
      obj({ n: int }),
      obj({ n: num }),
      { BACKWARD: true, FORWARD: false, FULL: false },
    ],
    [
      'a type changed',
      order(),
      obj({ orderId: str, total: str }, { required: ['orderId'] }),
      { BACKWARD: false, FORWARD: false, FULL: false, NONE: true },
    ],
    [
      'only the description changed',
      order(),
      { ...order(), description: 'orders' },
      { BACKWARD: true, FORWARD: true, FULL: true },
    ],
  ];
  it.each(cases)('%s', (_description, before, after, verdicts) => {
    for (const [mode, expected] of Object.entries(verdicts)) {
      expect({
        mode,
        compatible: checkCompatibility(mode as CompatibilityMode, after, [v('1.0.0', before)])
          .compatible,
      }).toEqual({ mode, compatible: expected });
    }
  });

  it('reports the versions checked, the direction and the version of each change', () => {
    const report = checkCompatibility('FULL', obj({ n: num }), [
      v('1.1.0', obj({ n: int })),
      v('1.0.0', obj({ n: int })),
    ]);
    expect(report).toMatchObject({ mode: 'FULL', compatible: false, against: ['1.1.0'] });
    expect(report.changes).toEqual([
      {
        code: 'TYPE_EXTENDED',
        path: '#/properties/n',
        breaking: false,
        version: '1.1.0',
        direction: 'backward',
      },
      {
        code: 'TYPE_NARROWED',
        path: '#/properties/n',
        breaking: true,
        version: '1.1.0',
        direction: 'forward',
      },
    ]);
  });

  it('checks every earlier version in the transitive modes, only the newest otherwise', () => {
    // 1.1.0 made `a` required with a default; 1.2.0 drops the default: fine against 1.1.0, but
    // data written with 1.0.0 may lack `a`.
    const v100 = v('1.0.0', obj({ a: str }));
    const v110 = v('1.1.0', obj({ a: { ...str, default: 'x' } }, { required: ['a'] }));
    const candidate = obj({ a: str }, { required: ['a'] });
    expect(checkCompatibility('BACKWARD', candidate, [v110, v100]).compatible).toBe(true);
    const transitive = checkCompatibility('BACKWARD_TRANSITIVE', candidate, [v110, v100]);
    expect(transitive).toMatchObject({ compatible: false, against: ['1.1.0', '1.0.0'] });
    expect(transitive.changes.filter((c) => c.breaking)).toEqual([
      expect.objectContaining({ code: 'REQUIRED_ATTRIBUTE_ADDED', version: '1.0.0' }),
    ]);
  });

  it('NONE checks nothing', () => {
    expect(checkCompatibility('NONE', str, [v('1.0.0', num)])).toEqual({
      mode: 'NONE',
      compatible: true,
      against: [],
      changes: [],
    });
  });
});

describe('properties', () => {
  const leaf = fc.oneof(
    fc.constant(true),
    fc.record({ type: fc.constantFrom('string', 'number', 'integer', 'boolean', 'null') }),
    fc.record(
      { type: fc.constant('string'), maxLength: fc.nat(9), pattern: fc.constantFrom('^a', 'b$') },
      { requiredKeys: ['type'] },
    ),
    fc.record(
      {
        type: fc.constantFrom('number', 'integer'),
        minimum: fc.integer({ min: -5, max: 5 }),
        multipleOf: fc.constantFrom(0.5, 2, 3),
      },
      { requiredKeys: ['type'] },
    ),
    fc.record({ enum: fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 1, null), { minLength: 1 }) }),
    fc.record({ const: fc.jsonValue({ maxDepth: 1 }) }),
  );
  const { schema } = fc.letrec<{ schema: unknown }>((tie) => ({
    schema: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.record(
        {
          type: fc.constant('object'),
          properties: fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), tie('schema'), {
            maxKeys: 3,
          }),
          required: fc.uniqueArray(fc.constantFrom('a', 'b', 'c'), { maxLength: 2 }),
          additionalProperties: fc.oneof(fc.boolean(), tie('schema')),
          patternProperties: fc.dictionary(fc.constantFrom('^a', 'x'), tie('schema'), {
            maxKeys: 1,
          }),
        },
        { requiredKeys: ['type'] },
      ),
      fc.record(
        {
          type: fc.constant('array'),
          items: tie('schema'),
          prefixItems: fc.array(tie('schema'), { maxLength: 2 }),
          minItems: fc.nat(3),
          uniqueItems: fc.boolean(),
        },
        { requiredKeys: ['type'] },
      ),
      fc.record({ anyOf: fc.array(tie('schema'), { minLength: 1, maxLength: 3 }) }),
      fc.record({ oneOf: fc.array(tie('schema'), { minLength: 1, maxLength: 3 }) }),
      fc.record({ allOf: fc.array(tie('schema'), { minLength: 1, maxLength: 3 }) }),
      fc.record({ not: tie('schema') }),
      fc.record({ type: fc.constant(['string', 'null']) }),
    ),
  }));

  it('a schema is always compatible with itself, in every mode', () => {
    fc.assert(
      fc.property(schema, (s) => {
        for (const mode of COMPATIBILITY_MODES) {
          const report = checkCompatibility(mode, s, [
            { version: '1.0.0', schema: structuredClone(s) },
          ]);
          if (!report.compatible) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('FULL = BACKWARD ∧ FORWARD, transitive or not', () => {
    const verdict = (mode: CompatibilityMode, candidate: unknown, earlier: unknown[]) =>
      checkCompatibility(
        mode,
        candidate,
        earlier.map((schema, i) => ({ version: `1.${earlier.length - i}.0`, schema })),
      ).compatible;
    fc.assert(
      fc.property(
        schema,
        fc.array(schema, { minLength: 1, maxLength: 3 }),
        (candidate, earlier) => {
          expect(verdict('FULL', candidate, earlier)).toBe(
            verdict('BACKWARD', candidate, earlier) && verdict('FORWARD', candidate, earlier),
          );
          expect(verdict('FULL_TRANSITIVE', candidate, earlier)).toBe(
            verdict('BACKWARD_TRANSITIVE', candidate, earlier) &&
              verdict('FORWARD_TRANSITIVE', candidate, earlier),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  // The reader builds nodes without placeholders when a document has no $ref (no cycles are
  // possible), and a check reads each schema once for all its comparisons: both shortcuts must
  // give what the general path gives.
  it('a document with a $ref somewhere compares as the same document without one', () => {
    const withReference = (s: unknown) =>
      s !== null && typeof s === 'object' && !Array.isArray(s)
        ? { ...s, 'x-unread': { $ref: '#/x-unread' } }
        : s;
    fc.assert(
      fc.property(schema, schema, (a, b) => {
        expect(compareSchemas(withReference(a), withReference(b))).toEqual(compareSchemas(a, b));
      }),
      { numRuns: 300 },
    );
  });

  it('a check finds what comparing each version in each direction finds', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...COMPATIBILITY_MODES),
        schema,
        fc.array(schema, { minLength: 1, maxLength: 3 }),
        (mode, candidate, schemas) => {
          const earlier = schemas.map((s, i) => ({
            version: `1.${schemas.length - i}.0`,
            schema: s,
          }));
          const report = checkCompatibility(mode, candidate, earlier);
          const expected = report.against.flatMap((version) => {
            const previous = earlier.find((e) => e.version === version)?.schema;
            const directions =
              mode === 'NONE'
                ? []
                : mode.startsWith('FULL')
                  ? ['backward', 'forward']
                  : mode.startsWith('BACKWARD')
                    ? ['backward']
                    : ['forward'];
            return directions.flatMap((direction) =>
              (direction === 'backward'
                ? compareSchemas(previous, candidate)
                : compareSchemas(candidate, previous)
              ).map((change) => ({ ...change, version, direction })),
            );
          });
          expect(report.changes.map(({ breaking: _, ...change }) => change)).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.jsonValue({ maxDepth: 4 }), (a, b) => {
        for (const change of compareSchemas(a, b)) expect(CHANGE_CODES).toContain(change.code);
      }),
      { numRuns: 300 },
    );
  });
});
