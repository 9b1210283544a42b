/**
 * The changes the checker reports, named as Confluent Schema Registry's JSON Schema provider
 * names them (stable UPPER_SNAKE codes, listed in the README). Each is read in one direction:
 * the *original* schema wrote the data, the *update* reads it. `compatible: false` marks the
 * changes that let the update refuse data the original accepted — the breaking ones.
 */
const RULES = {
  ID_CHANGED: [true, '$id changed'],
  TITLE_CHANGED: [true, 'title changed'],
  DESCRIPTION_CHANGED: [true, 'description changed'],
  DEFAULT_CHANGED: [true, 'default changed'],
  SCHEMA_ADDED: [false, 'a schema was added where any value was accepted'],
  SCHEMA_REMOVED: [true, 'a schema was removed: any value is accepted'],
  TYPE_EXTENDED: [true, 'integer widened to number'],
  TYPE_NARROWED: [false, 'number narrowed to integer'],
  TYPE_CHANGED: [false, 'the type changed'],

  MAX_LENGTH_ADDED: [false, 'maxLength added'],
  MAX_LENGTH_REMOVED: [true, 'maxLength removed'],
  MAX_LENGTH_INCREASED: [true, 'maxLength increased'],
  MAX_LENGTH_DECREASED: [false, 'maxLength decreased'],
  MIN_LENGTH_ADDED: [false, 'minLength added'],
  MIN_LENGTH_REMOVED: [true, 'minLength removed'],
  MIN_LENGTH_INCREASED: [false, 'minLength increased'],
  MIN_LENGTH_DECREASED: [true, 'minLength decreased'],
  PATTERN_ADDED: [false, 'pattern added'],
  PATTERN_REMOVED: [true, 'pattern removed'],
  PATTERN_CHANGED: [false, 'pattern changed'],

  MAXIMUM_ADDED: [false, 'maximum added'],
  MAXIMUM_REMOVED: [true, 'maximum removed'],
  MAXIMUM_INCREASED: [true, 'maximum increased'],
  MAXIMUM_DECREASED: [false, 'maximum decreased'],
  MINIMUM_ADDED: [false, 'minimum added'],
  MINIMUM_REMOVED: [true, 'minimum removed'],
  MINIMUM_INCREASED: [false, 'minimum increased'],
  MINIMUM_DECREASED: [true, 'minimum decreased'],
  EXCLUSIVE_MAXIMUM_ADDED: [false, 'exclusiveMaximum added'],
  EXCLUSIVE_MAXIMUM_REMOVED: [true, 'exclusiveMaximum removed'],
  EXCLUSIVE_MAXIMUM_INCREASED: [true, 'exclusiveMaximum increased'],
  EXCLUSIVE_MAXIMUM_DECREASED: [false, 'exclusiveMaximum decreased'],
  EXCLUSIVE_MINIMUM_ADDED: [false, 'exclusiveMinimum added'],
  EXCLUSIVE_MINIMUM_REMOVED: [true, 'exclusiveMinimum removed'],
  EXCLUSIVE_MINIMUM_INCREASED: [false, 'exclusiveMinimum increased'],
  EXCLUSIVE_MINIMUM_DECREASED: [true, 'exclusiveMinimum decreased'],
  MULTIPLE_OF_ADDED: [false, 'multipleOf added'],
  MULTIPLE_OF_REMOVED: [true, 'multipleOf removed'],
  MULTIPLE_OF_EXPANDED: [false, 'multipleOf became a multiple of itself'],
  MULTIPLE_OF_REDUCED: [true, 'multipleOf became a divisor of itself'],
  MULTIPLE_OF_CHANGED: [false, 'multipleOf changed'],

  REQUIRED_ATTRIBUTE_ADDED: [false, 'an existing property became required'],
  REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED: [
    true,
    'an existing property with a default became required',
  ],
  REQUIRED_ATTRIBUTE_REMOVED: [true, 'a property is no longer required'],
  MAX_PROPERTIES_ADDED: [false, 'maxProperties added'],
  MAX_PROPERTIES_REMOVED: [true, 'maxProperties removed'],
  MAX_PROPERTIES_INCREASED: [true, 'maxProperties increased'],
  MAX_PROPERTIES_DECREASED: [false, 'maxProperties decreased'],
  MIN_PROPERTIES_ADDED: [false, 'minProperties added'],
  MIN_PROPERTIES_REMOVED: [true, 'minProperties removed'],
  MIN_PROPERTIES_INCREASED: [false, 'minProperties increased'],
  MIN_PROPERTIES_DECREASED: [true, 'minProperties decreased'],
  ADDITIONAL_PROPERTIES_ADDED: [true, 'additional properties are now allowed'],
  ADDITIONAL_PROPERTIES_REMOVED: [false, 'additional properties are no longer allowed'],
  ADDITIONAL_PROPERTIES_EXTENDED: [true, 'additional properties accept any value now'],
  ADDITIONAL_PROPERTIES_NARROWED: [false, 'additional properties must match a schema now'],
  UNEVALUATED_PROPERTIES_ADDED: [true, 'unevaluated properties are now allowed'],
  UNEVALUATED_PROPERTIES_REMOVED: [false, 'unevaluated properties are no longer allowed'],
  UNEVALUATED_PROPERTIES_EXTENDED: [true, 'unevaluated properties accept any value now'],
  UNEVALUATED_PROPERTIES_NARROWED: [false, 'unevaluated properties must match a schema now'],
  DEPENDENCY_ARRAY_ADDED: [false, 'a property dependency was added'],
  DEPENDENCY_ARRAY_REMOVED: [true, 'a property dependency was removed'],
  DEPENDENCY_ARRAY_EXTENDED: [false, 'a property dependency requires more properties'],
  DEPENDENCY_ARRAY_NARROWED: [true, 'a property dependency requires fewer properties'],
  DEPENDENCY_ARRAY_CHANGED: [false, 'a property dependency changed'],
  DEPENDENCY_SCHEMA_ADDED: [false, 'a schema dependency was added'],
  DEPENDENCY_SCHEMA_REMOVED: [true, 'a schema dependency was removed'],

  REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL: [
    false,
    'a required property was added to an open content model',
  ],
  REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL: [
    false,
    'a required property with a default was added to an open content model (earlier data may hold another value under that name)',
  ],
  OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL: [
    false,
    'a property was added to an open content model (earlier data may hold another value under that name)',
  ],
  PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL: [
    true,
    'a property accepting any value was added to an open content model',
  ],
  REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL: [
    false,
    'a required property was added to a closed content model',
  ],
  REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL: [
    true,
    'a required property with a default was added to a closed content model',
  ],
  OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL: [
    true,
    'an optional property was added to a closed content model',
  ],
  PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL: [
    true,
    'a property was removed from an open content model',
  ],
  PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL: [
    true,
    'a forbidden (false) property was removed from a closed content model',
  ],
  PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL: [
    false,
    'a property was removed from a closed content model',
  ],
  PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: [
    true,
    'a property was removed and is still accepted by additionalProperties or patternProperties',
  ],
  PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: [
    false,
    'a property was removed and its values are not accepted by additionalProperties or patternProperties',
  ],
  PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: [
    true,
    'a property was added that additionalProperties or patternProperties already accepted',
  ],
  PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: [
    false,
    'a property was added that refuses values additionalProperties or patternProperties accepted',
  ],

  MAX_ITEMS_ADDED: [false, 'maxItems added'],
  MAX_ITEMS_REMOVED: [true, 'maxItems removed'],
  MAX_ITEMS_INCREASED: [true, 'maxItems increased'],
  MAX_ITEMS_DECREASED: [false, 'maxItems decreased'],
  MIN_ITEMS_ADDED: [false, 'minItems added'],
  MIN_ITEMS_REMOVED: [true, 'minItems removed'],
  MIN_ITEMS_INCREASED: [false, 'minItems increased'],
  MIN_ITEMS_DECREASED: [true, 'minItems decreased'],
  MAX_CONTAINS_ADDED: [false, 'maxContains added'],
  MAX_CONTAINS_REMOVED: [true, 'maxContains removed'],
  MAX_CONTAINS_INCREASED: [true, 'maxContains increased'],
  MAX_CONTAINS_DECREASED: [false, 'maxContains decreased'],
  MIN_CONTAINS_ADDED: [false, 'minContains added'],
  MIN_CONTAINS_REMOVED: [true, 'minContains removed'],
  MIN_CONTAINS_INCREASED: [false, 'minContains increased'],
  MIN_CONTAINS_DECREASED: [true, 'minContains decreased'],
  UNIQUE_ITEMS_ADDED: [false, 'uniqueItems added'],
  UNIQUE_ITEMS_REMOVED: [true, 'uniqueItems removed'],
  ADDITIONAL_ITEMS_ADDED: [true, 'items after the tuple are now allowed'],
  ADDITIONAL_ITEMS_REMOVED: [false, 'items after the tuple are no longer allowed'],
  ADDITIONAL_ITEMS_EXTENDED: [true, 'items after the tuple accept any value now'],
  ADDITIONAL_ITEMS_NARROWED: [false, 'items after the tuple must match a schema now'],
  UNEVALUATED_ITEMS_ADDED: [true, 'unevaluated items are now allowed'],
  UNEVALUATED_ITEMS_REMOVED: [false, 'unevaluated items are no longer allowed'],
  UNEVALUATED_ITEMS_EXTENDED: [true, 'unevaluated items accept any value now'],
  UNEVALUATED_ITEMS_NARROWED: [false, 'unevaluated items must match a schema now'],
  ITEM_ADDED_TO_OPEN_CONTENT_MODEL: [false, 'a tuple item was added where any item was accepted'],
  ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL: [
    true,
    'a tuple item accepting any value was added',
  ],
  ITEM_ADDED_TO_CLOSED_CONTENT_MODEL: [true, 'a tuple item was added to a closed tuple'],
  ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL: [true, 'a tuple item was removed from an open tuple'],
  ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL: [
    true,
    'a forbidden (false) tuple item was removed from a closed tuple',
  ],
  ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL: [false, 'a tuple item was removed from a closed tuple'],
  ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: [
    true,
    'a tuple item was removed and is still accepted by the items after the tuple',
  ],
  ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: [
    false,
    'a tuple item was removed and its values are not accepted by the items after the tuple',
  ],
  ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: [
    true,
    'a tuple item was added that the items after the tuple already accepted',
  ],
  ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: [
    false,
    'a tuple item was added that refuses values the items after the tuple accepted',
  ],

  ENUM_ARRAY_EXTENDED: [true, 'enum values were added'],
  ENUM_ARRAY_NARROWED: [false, 'enum values were removed'],
  ENUM_ARRAY_CHANGED: [false, 'enum (or const) values changed'],

  COMBINED_TYPE_EXTENDED: [true, 'the combination became more permissive (e.g. oneOf to anyOf)'],
  COMBINED_TYPE_CHANGED: [false, 'the combination keyword changed (allOf, anyOf, oneOf)'],
  PRODUCT_TYPE_EXTENDED: [false, 'allOf gained subschemas'],
  PRODUCT_TYPE_NARROWED: [true, 'allOf lost subschemas'],
  SUM_TYPE_EXTENDED: [true, 'anyOf/oneOf gained alternatives'],
  SUM_TYPE_NARROWED: [false, 'anyOf/oneOf lost alternatives'],
  COMBINED_TYPE_SUBSCHEMAS_CHANGED: [false, 'subschemas of allOf/anyOf/oneOf changed incompatibly'],
  NOT_TYPE_EXTENDED: [false, 'not excludes more values'],
  NOT_TYPE_NARROWED: [true, 'not excludes fewer values'],

  CHECK_LIMIT_EXCEEDED: [
    false,
    'the schemas are too large or entangled to compare within the limits; treated as breaking',
  ],
} as const satisfies Record<string, readonly [boolean, string]>;

export type ChangeCode = keyof typeof RULES;

export const CHANGE_CODES = Object.keys(RULES) as ChangeCode[];

/** Whether data the original schema accepted is still accepted after a change of this kind. */
export const isCompatibleChange = (code: ChangeCode): boolean => RULES[code][0];

/** One sentence saying what the change is. */
export const describeChange = (code: ChangeCode): string => RULES[code][1];

/** A change at a location of the schemas, e.g. `#/properties/orderTotal`. */
export interface Change {
  code: ChangeCode;
  path: string;
}
