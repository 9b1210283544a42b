import { type Change, type ChangeCode, isCompatibleChange } from './changes.ts';
import { type CompatibilityLimits, UncheckableSchemaError } from './limits.ts';
import { maximumMatching } from './matching.ts';
import type {
  ArrayNode,
  CombinedNode,
  EnumNode,
  NumberNode,
  ObjectNode,
  SchemaNode,
  StringNode,
} from './model.ts';
import { canonicalJson, isMultipleOf, sameJson } from './values.ts';

/**
 * The changes from an original schema (the writer) to an update (the reader), by the rules of
 * Confluent Schema Registry's JSON Schema provider (its STRICT policy). The update can read
 * everything the original accepted exactly when every change is a compatible one.
 *
 * Recursive schemas are graphs, so comparisons are memoised per pair of nodes, and a pair met
 * again while it is still being compared is assumed compatible for that pass (a recursive type
 * is compatible unless some finite path shows otherwise). A pass that relied on such an
 * assumption is repeated with the pairs it found incompatible fed back in, until nothing
 * changes: the memo can then not hide an incompatibility behind an assumption. Work is bounded
 * by `maxComparisons` over all passes and `maxComparisonDepth`.
 */

/** A change with its location relative to the pair of nodes being compared. */
interface LocalChange {
  code: ChangeCode;
  segments: string[];
}

/** What a content model holds: the properties of an object, the positions of a tuple. */
type Member = 'PROPERTY' | 'ITEM';

type PairMap<T> = Map<SchemaNode, Map<SchemaNode, T>>;

const at = (code: ChangeCode, ...segments: string[]): LocalChange => ({ code, segments });
const under = (prefix: string[], changes: LocalChange[]): LocalChange[] =>
  prefix.length === 0
    ? changes
    : changes.map((c) => ({ code: c.code, segments: [...prefix, ...c.segments] }));
const compatible = (changes: LocalChange[]) => changes.every((c) => isCompatibleChange(c.code));

function getPair<T>(map: PairMap<T>, a: SchemaNode, b: SchemaNode): T | undefined {
  return map.get(a)?.get(b);
}
function setPair<T>(map: PairMap<T>, a: SchemaNode, b: SchemaNode, value: T): void {
  let inner = map.get(a);
  if (!inner) {
    inner = new Map();
    map.set(a, inner);
  }
  inner.set(b, value);
}

interface Budget {
  comparisons: number;
}

/** One pass over a pair of schema graphs. */
class Pass {
  private readonly memo: PairMap<LocalChange[]> = new Map();
  private readonly inProgress: PairMap<true> = new Map();
  private depth = 0;
  /** Whether a pair was assumed compatible because it was still being compared. */
  assumed = false;

  constructor(
    private readonly known: PairMap<LocalChange[]>,
    private readonly budget: Budget,
    private readonly limits: CompatibilityLimits,
  ) {}

  /** The pairs this pass found incompatible, with their changes. */
  incompatiblePairs(): PairMap<LocalChange[]> {
    const found: PairMap<LocalChange[]> = new Map();
    for (const [a, inner] of this.memo) {
      for (const [b, changes] of inner) if (!compatible(changes)) setPair(found, a, b, changes);
    }
    return found;
  }

  compare(original: SchemaNode | undefined, update: SchemaNode | undefined): LocalChange[] {
    if (original === undefined && update === undefined) return [];
    if (original === undefined) return [at('SCHEMA_ADDED')];
    if (update === undefined) return [at('SCHEMA_REMOVED')];
    const cached = getPair(this.memo, original, update);
    if (cached) return cached;
    if (getPair(this.inProgress, original, update)) {
      const known = getPair(this.known, original, update);
      if (known) return known;
      this.assumed = true;
      return [];
    }
    this.budget.comparisons += 1;
    if (this.budget.comparisons > this.limits.maxComparisons) {
      throw new UncheckableSchemaError(
        `comparing these schemas takes more than ${this.limits.maxComparisons} steps`,
      );
    }
    if (this.depth >= this.limits.maxComparisonDepth) {
      throw new UncheckableSchemaError(
        `these schemas nest deeper than ${this.limits.maxComparisonDepth} levels`,
      );
    }
    setPair(this.inProgress, original, update, true);
    this.depth += 1;
    try {
      const changes = this.compareTypes(original, update);
      setPair(this.memo, original, update, changes);
      return changes;
    } finally {
      this.depth -= 1;
      this.inProgress.get(original)?.delete(update);
    }
  }

  private compareTypes(original: SchemaNode, update: SchemaNode): LocalChange[] {
    const widened = this.compareAcrossCombination(original, update);
    if (widened) return widened;
    const sameKind =
      original.kind === update.kind || (original.kind === 'combined' && update.kind === 'combined');
    if (!sameKind) {
      // Nothing was accepted before, or anything is now.
      if (original.kind === 'false' || update.kind === 'empty') return [];
      return [at('TYPE_CHANGED')];
    }
    const changes = compareAnnotations(original, update);
    switch (original.kind) {
      case 'string':
        changes.push(...compareString(original, update as StringNode));
        break;
      case 'number':
        changes.push(...compareNumber(original, update as NumberNode));
        break;
      case 'const':
        if (!sameJson(original.value, (update as typeof original).value)) {
          changes.push(at('ENUM_ARRAY_CHANGED', 'const'));
        }
        break;
      case 'enum':
        changes.push(...compareEnum(original, update as EnumNode));
        break;
      case 'combined':
        changes.push(...this.compareCombined(original, update as CombinedNode));
        break;
      case 'not':
        changes.push(...this.compareNot(original.schema, (update as typeof original).schema));
        break;
      case 'object':
        changes.push(...this.compareObject(original, update as ObjectNode));
        break;
      case 'array':
        changes.push(...this.compareArray(original, update as ArrayNode));
        break;
      default:
        break;
    }
    return changes;
  }

  /**
   * A plain schema against a combination, or the reverse: a singleton combination is its one
   * subschema; a plain schema that became one alternative of anyOf/oneOf is a widening; an
   * allOf that became one of its parts is a narrowing of the constraints. Undefined when none
   * of these apply (the kinds are then compared as they are).
   */
  private compareAcrossCombination(
    original: SchemaNode,
    update: SchemaNode,
  ): LocalChange[] | undefined {
    if (original.kind !== 'combined' && update.kind === 'combined') {
      if (update.subschemas.length === 1) {
        const single = this.compare(original, update.subschemas[0]);
        if (compatible(single)) return single;
      } else if (update.criterion !== 'allOf') {
        for (const alternative of update.subschemas) {
          const changes = this.compare(original, alternative);
          if (compatible(changes)) return [...changes, at('SUM_TYPE_EXTENDED')];
        }
      }
    } else if (original.kind === 'combined' && update.kind !== 'combined') {
      if (original.subschemas.length === 1) {
        const single = this.compare(original.subschemas[0], update);
        if (compatible(single)) return single;
      } else if (original.criterion === 'allOf') {
        for (const part of original.subschemas) {
          const changes = this.compare(part, update);
          if (compatible(changes)) return [...changes, at('PRODUCT_TYPE_NARROWED')];
        }
      }
    }
    return undefined;
  }

  private compareCombined(original: CombinedNode, update: CombinedNode): LocalChange[] {
    const criterionChange = compareCriteria(original, update);
    if (criterionChange === 'COMBINED_TYPE_CHANGED') return [at(criterionChange)];
    const changes: LocalChange[] = criterionChange ? [at(criterionChange)] : [];
    const originals = distinct(original.subschemas);
    const updates = distinct(update.subschemas);
    if (originals.length < updates.length) {
      changes.push(
        at(update.criterion === 'allOf' ? 'PRODUCT_TYPE_EXTENDED' : 'SUM_TYPE_EXTENDED'),
      );
    } else if (originals.length > updates.length) {
      changes.push(
        at(original.criterion === 'allOf' ? 'PRODUCT_TYPE_NARROWED' : 'SUM_TYPE_NARROWED'),
      );
    }
    // Every compatible (original, update) pairing, then as many disjoint ones as possible.
    const edges = originals.map((o, i) =>
      updates.map((u) => {
        const pairChanges = this.compare(o, u);
        return compatible(pairChanges)
          ? under([`${original.criterion}`, String(i)], pairChanges)
          : undefined;
      }),
    );
    const matching = maximumMatching(edges.map((row) => row.map((e) => e !== undefined)));
    for (const [i, j] of matching) changes.push(...(edges[i]![j] ?? []));
    if (matching.length < Math.min(originals.length, updates.length)) {
      changes.push(at('COMBINED_TYPE_SUBSCHEMAS_CHANGED'));
    }
    return changes;
  }

  /** `not`: the update may exclude less than the original, never more. */
  private compareNot(original: SchemaNode, update: SchemaNode): LocalChange[] {
    const reversed = this.compare(update, original);
    // Identical exclusions are no change (Confluent reports a narrowing even then).
    if (reversed.length === 0 && sameJson(original.source, update.source)) return [];
    return [at(compatible(reversed) ? 'NOT_TYPE_NARROWED' : 'NOT_TYPE_EXTENDED', 'not')];
  }

  private compareObject(original: ObjectNode, update: ObjectNode): LocalChange[] {
    return [
      ...compareRequired(original, update),
      ...this.compareProperties(original, update),
      ...this.compareDependencies(original, update),
      ...this.compareAdditionalProperties(original, update),
      ...this.compareUnevaluated(original.unevaluated, update.unevaluated, 'PROPERTIES'),
      ...compareBound(
        'maxProperties',
        original.maxProperties,
        update.maxProperties,
        'MAX_PROPERTIES',
      ),
      ...compareBound(
        'minProperties',
        original.minProperties,
        update.minProperties,
        'MIN_PROPERTIES',
      ),
    ];
  }

  private compareProperties(original: ObjectNode, update: ObjectNode): LocalChange[] {
    const changes: LocalChange[] = [];
    for (const [name, before] of original.properties) {
      const after = update.properties.get(name);
      const prefix = ['properties', name];
      changes.push(
        ...under(
          prefix,
          after
            ? this.compare(before, after)
            : this.memberRemoved(
                'PROPERTY',
                before,
                isOpenObject(update),
                partialObjectSchema(update, name),
              ),
        ),
      );
    }
    for (const [name, after] of update.properties) {
      if (original.properties.has(name)) continue;
      changes.push(
        ...under(['properties', name], this.propertyAdded(original, update, name, after)),
      );
    }
    return changes;
  }

  /**
   * A property or tuple item the update no longer declares: only the update's content model
   * decides whether it still reads what the original accepted there.
   */
  private memberRemoved(
    member: Member,
    before: SchemaNode,
    updateIsOpen: boolean,
    covering: SchemaNode | undefined,
  ): LocalChange[] {
    if (updateIsOpen) return [at(`${member}_REMOVED_FROM_OPEN_CONTENT_MODEL`)];
    if (covering) return this.covered(member, 'REMOVED', this.compare(before, covering));
    return [
      at(
        before.kind === 'false'
          ? `${member}_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL`
          : `${member}_REMOVED_FROM_CLOSED_CONTENT_MODEL`,
      ),
    ];
  }

  /** The changes against the leftover schema of a partially open model, and their verdict. */
  private covered(member: Member, change: 'ADDED' | 'REMOVED', changes: LocalChange[]) {
    return [
      ...changes,
      at(
        compatible(changes)
          ? `${member}_${change}_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL`
          : `${member}_${change}_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL`,
      ),
    ];
  }

  /** Only the original's content model decides whether its data may hold the new property. */
  private propertyAdded(
    original: ObjectNode,
    update: ObjectNode,
    name: string,
    after: SchemaNode,
  ): LocalChange[] {
    const required = update.required.has(name);
    const withDefault = after.annotations.default !== undefined;
    if (isOpenObject(original)) {
      if (after.kind === 'empty')
        return [at('PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL')];
      if (!required) return [at('OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL')];
      return [
        at(
          withDefault
            ? 'REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL'
            : 'REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL',
        ),
      ];
    }
    const covering = partialObjectSchema(original, name);
    const changes = covering
      ? this.covered('PROPERTY', 'ADDED', this.compare(covering, after))
      : [];
    if (!required) changes.push(at('OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL'));
    else {
      changes.push(
        at(
          withDefault
            ? 'REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL'
            : 'REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL',
        ),
      );
    }
    return changes;
  }

  private compareDependencies(original: ObjectNode, update: ObjectNode): LocalChange[] {
    const changes: LocalChange[] = [];
    for (const name of keysOfBoth(original.propertyDependencies, update.propertyDependencies)) {
      const before = original.propertyDependencies.get(name);
      const after = update.propertyDependencies.get(name);
      const code: ChangeCode | undefined =
        after === undefined
          ? 'DEPENDENCY_ARRAY_REMOVED'
          : before === undefined
            ? 'DEPENDENCY_ARRAY_ADDED'
            : setChange(before, after, {
                extended: 'DEPENDENCY_ARRAY_EXTENDED',
                narrowed: 'DEPENDENCY_ARRAY_NARROWED',
                changed: 'DEPENDENCY_ARRAY_CHANGED',
              });
      if (code) changes.push(at(code, 'dependencies', name));
    }
    for (const name of keysOfBoth(original.schemaDependencies, update.schemaDependencies)) {
      const before = original.schemaDependencies.get(name);
      const after = update.schemaDependencies.get(name);
      if (after === undefined) changes.push(at('DEPENDENCY_SCHEMA_REMOVED', 'dependencies', name));
      else if (before === undefined)
        changes.push(at('DEPENDENCY_SCHEMA_ADDED', 'dependencies', name));
      else changes.push(...under(['dependencies', name], this.compare(before, after)));
    }
    return changes;
  }

  private compareAdditionalProperties(original: ObjectNode, update: ObjectNode): LocalChange[] {
    return this.compareAdditional(original, update, 'additionalProperties', 'PROPERTIES');
  }

  /** `additionalProperties`/`additionalItems`: allowed or not, with or without a schema. */
  private compareAdditional(
    original: ObjectNode | ArrayNode,
    update: ObjectNode | ArrayNode,
    keyword: string,
    noun: 'PROPERTIES' | 'ITEMS',
  ): LocalChange[] {
    if (original.permitsAdditional !== update.permitsAdditional) {
      return [
        at(
          update.permitsAdditional ? `ADDITIONAL_${noun}_ADDED` : `ADDITIONAL_${noun}_REMOVED`,
          keyword,
        ),
      ];
    }
    if (original.additionalSchema === undefined && update.additionalSchema !== undefined) {
      return [at(`ADDITIONAL_${noun}_NARROWED`, keyword)];
    }
    if (update.additionalSchema === undefined && original.additionalSchema !== undefined) {
      return [at(`ADDITIONAL_${noun}_EXTENDED`, keyword)];
    }
    return under([keyword], this.compare(original.additionalSchema, update.additionalSchema));
  }

  /** `unevaluatedProperties`/`unevaluatedItems`: absent or true allow anything, false nothing. */
  private compareUnevaluated(
    original: SchemaNode | undefined,
    update: SchemaNode | undefined,
    noun: 'PROPERTIES' | 'ITEMS',
  ): LocalChange[] {
    if (original === undefined && update === undefined) return [];
    const keyword = noun === 'PROPERTIES' ? 'unevaluatedProperties' : 'unevaluatedItems';
    const code = (change: 'ADDED' | 'REMOVED' | 'EXTENDED' | 'NARROWED') => [
      at(`UNEVALUATED_${noun}_${change}`, keyword),
    ];
    const isFalse = (n: SchemaNode | undefined) => n?.kind === 'false';
    const isEmpty = (n: SchemaNode | undefined) => n?.kind === 'empty';
    if (original === undefined) return code(isFalse(update) ? 'REMOVED' : 'NARROWED');
    if (update === undefined) return code(isFalse(original) ? 'ADDED' : 'EXTENDED');
    if (isFalse(original) && !isFalse(update)) return code('ADDED');
    if (!isFalse(original) && isFalse(update)) return code('REMOVED');
    if (isEmpty(original) && !isEmpty(update)) return code('NARROWED');
    if (!isEmpty(original) && isEmpty(update)) return code('EXTENDED');
    return under([keyword], this.compare(original, update));
  }

  private compareArray(original: ArrayNode, update: ArrayNode): LocalChange[] {
    return [
      ...under(['items'], this.compare(original.allItems, update.allItems)),
      ...this.compareTuple(original, update),
      ...this.compareAdditional(original, update, 'additionalItems', 'ITEMS'),
      ...this.compareUnevaluated(original.unevaluated, update.unevaluated, 'ITEMS'),
      ...compareBound('maxItems', original.maxItems, update.maxItems, 'MAX_ITEMS'),
      ...compareBound('minItems', original.minItems, update.minItems, 'MIN_ITEMS'),
      ...(original.uniqueItems === update.uniqueItems
        ? []
        : [
            at(original.uniqueItems ? 'UNIQUE_ITEMS_REMOVED' : 'UNIQUE_ITEMS_ADDED', 'uniqueItems'),
          ]),
      ...compareBound('maxContains', original.maxContains, update.maxContains, 'MAX_CONTAINS'),
      ...compareBound('minContains', original.minContains, update.minContains, 'MIN_CONTAINS'),
    ];
  }

  private compareTuple(original: ArrayNode, update: ArrayNode): LocalChange[] {
    const before = original.tuple ?? [];
    const after = update.tuple ?? [];
    const changes: LocalChange[] = [];
    for (let i = 0; i < Math.max(before.length, after.length); i++) {
      const prefix = ['items', String(i)];
      const o = before[i];
      const u = after[i];
      if (o && u) changes.push(...under(prefix, this.compare(o, u)));
      else if (o) {
        changes.push(
          ...under(
            prefix,
            this.memberRemoved('ITEM', o, isOpenArray(update), partialArraySchema(update)),
          ),
        );
      } else if (u) changes.push(...under(prefix, this.itemAdded(original, u)));
    }
    return changes;
  }

  private itemAdded(original: ArrayNode, after: SchemaNode): LocalChange[] {
    if (isOpenArray(original)) {
      return [
        at(
          after.kind === 'empty'
            ? 'ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL'
            : 'ITEM_ADDED_TO_OPEN_CONTENT_MODEL',
        ),
      ];
    }
    const covering = partialArraySchema(original);
    if (!covering) return [at('ITEM_ADDED_TO_CLOSED_CONTENT_MODEL')];
    return this.covered('ITEM', 'ADDED', this.compare(covering, after));
  }
}

function compareAnnotations(original: SchemaNode, update: SchemaNode): LocalChange[] {
  const a = original.annotations;
  const b = update.annotations;
  const changes: LocalChange[] = [];
  if (a.id !== b.id) changes.push(at('ID_CHANGED'));
  if (a.title !== b.title) changes.push(at('TITLE_CHANGED'));
  if (a.description !== b.description) changes.push(at('DESCRIPTION_CHANGED'));
  if (
    (a.default === undefined) !== (b.default === undefined) ||
    (a.default && b.default && !sameJson(a.default.value, b.default.value))
  ) {
    changes.push(at('DEFAULT_CHANGED'));
  }
  return changes;
}

type Bound =
  | 'MAX_LENGTH'
  | 'MIN_LENGTH'
  | 'MAXIMUM'
  | 'MINIMUM'
  | 'EXCLUSIVE_MAXIMUM'
  | 'EXCLUSIVE_MINIMUM'
  | 'MAX_PROPERTIES'
  | 'MIN_PROPERTIES'
  | 'MAX_ITEMS'
  | 'MIN_ITEMS'
  | 'MAX_CONTAINS'
  | 'MIN_CONTAINS';

/** A numeric bound: added, removed, increased or decreased. */
function compareBound(
  keyword: string,
  before: number | undefined,
  after: number | undefined,
  bound: Bound,
): LocalChange[] {
  if (before === after) return [];
  if (before === undefined) return [at(`${bound}_ADDED`, keyword)];
  if (after === undefined) return [at(`${bound}_REMOVED`, keyword)];
  return [at(before < after ? `${bound}_INCREASED` : `${bound}_DECREASED`, keyword)];
}

function compareString(original: StringNode, update: StringNode): LocalChange[] {
  const changes = [
    ...compareBound('maxLength', original.maxLength, update.maxLength, 'MAX_LENGTH'),
    ...compareBound('minLength', original.minLength, update.minLength, 'MIN_LENGTH'),
  ];
  if (original.pattern !== update.pattern) {
    const code: ChangeCode =
      original.pattern === undefined
        ? 'PATTERN_ADDED'
        : update.pattern === undefined
          ? 'PATTERN_REMOVED'
          : 'PATTERN_CHANGED';
    changes.push(at(code, 'pattern'));
  }
  return changes;
}

function compareNumber(original: NumberNode, update: NumberNode): LocalChange[] {
  const changes = [
    ...compareBound('maximum', original.maximum, update.maximum, 'MAXIMUM'),
    ...compareBound('minimum', original.minimum, update.minimum, 'MINIMUM'),
    ...compareBound(
      'exclusiveMaximum',
      original.exclusiveMaximum,
      update.exclusiveMaximum,
      'EXCLUSIVE_MAXIMUM',
    ),
    ...compareBound(
      'exclusiveMinimum',
      original.exclusiveMinimum,
      update.exclusiveMinimum,
      'EXCLUSIVE_MINIMUM',
    ),
  ];
  const before = original.multipleOf;
  const after = update.multipleOf;
  if (before !== after) {
    let code: ChangeCode;
    if (before === undefined) code = 'MULTIPLE_OF_ADDED';
    else if (after === undefined) code = 'MULTIPLE_OF_REMOVED';
    // A multiple of the old divisor accepts fewer numbers; a divisor of it accepts more.
    else if (isMultipleOf(after, before)) code = 'MULTIPLE_OF_EXPANDED';
    else if (isMultipleOf(before, after)) code = 'MULTIPLE_OF_REDUCED';
    else code = 'MULTIPLE_OF_CHANGED';
    changes.push(at(code, 'multipleOf'));
  }
  if (original.integer !== update.integer) {
    changes.push(at(original.integer ? 'TYPE_EXTENDED' : 'TYPE_NARROWED'));
  }
  return changes;
}

function compareEnum(original: EnumNode, update: EnumNode): LocalChange[] {
  const code = setChange(
    new Set(original.values.map(canonicalJson)),
    new Set(update.values.map(canonicalJson)),
    {
      extended: 'ENUM_ARRAY_EXTENDED',
      narrowed: 'ENUM_ARRAY_NARROWED',
      changed: 'ENUM_ARRAY_CHANGED',
    },
  );
  return code ? [at(code, 'enum')] : [];
}

/** How one set became another, or undefined when they are equal. */
function setChange<T extends ChangeCode>(
  before: Set<string>,
  after: Set<string>,
  codes: { extended: T; narrowed: T; changed: T },
): T | undefined {
  const afterHasAll = [...before].every((v) => after.has(v));
  const beforeHasAll = [...after].every((v) => before.has(v));
  if (afterHasAll && beforeHasAll) return undefined;
  if (afterHasAll) return codes.extended;
  if (beforeHasAll) return codes.narrowed;
  return codes.changed;
}

/**
 * A change of keyword: anyOf reads what allOf or oneOf accepted, and between singletons (and
 * from a singleton to oneOf, or from allOf to a singleton) nothing is lost either.
 */
function compareCriteria(original: CombinedNode, update: CombinedNode): ChangeCode | undefined {
  if (original.criterion === update.criterion) return undefined;
  const singleOriginal = original.subschemas.length === 1;
  const singleUpdate = update.subschemas.length === 1;
  if (
    update.criterion === 'anyOf' ||
    (singleOriginal && singleUpdate) ||
    (singleOriginal && update.criterion === 'oneOf') ||
    (singleUpdate && original.criterion === 'allOf')
  ) {
    return 'COMBINED_TYPE_EXTENDED';
  }
  return 'COMBINED_TYPE_CHANGED';
}

function compareRequired(original: ObjectNode, update: ObjectNode): LocalChange[] {
  const changes: LocalChange[] = [];
  for (const name of original.properties.keys()) {
    const after = update.properties.get(name);
    if (!after) continue;
    const wasRequired = original.required.has(name);
    const isRequired = update.required.has(name);
    if (wasRequired && !isRequired)
      changes.push(at('REQUIRED_ATTRIBUTE_REMOVED', 'required', name));
    else if (!wasRequired && isRequired) {
      changes.push(
        at(
          after.annotations.default === undefined
            ? 'REQUIRED_ATTRIBUTE_ADDED'
            : 'REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED',
          'required',
          name,
        ),
      );
    }
  }
  return changes;
}

/** Subschemas without repeats (a repeated subschema of a combination adds nothing). */
function distinct(nodes: SchemaNode[]): SchemaNode[] {
  const seen = new Set<string>();
  return nodes.filter((node) => {
    const key = canonicalJson(node.source);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function keysOfBoth<T>(a: Map<string, T>, b: Map<string, T>): string[] {
  return [...new Set([...a.keys(), ...b.keys()])];
}

const acceptsAnything = (node: SchemaNode | undefined) =>
  node === undefined || node.kind === 'empty';

/** Open: any property not declared is accepted with any value. */
function isOpenObject(node: ObjectNode): boolean {
  return (
    node.permitsAdditional &&
    node.additionalSchema === undefined &&
    node.patternProperties.length === 0 &&
    acceptsAnything(node.unevaluated)
  );
}

/** The schema an undeclared property `name` must match in a partially open object, if any. */
function partialObjectSchema(node: ObjectNode, name: string): SchemaNode | undefined {
  for (const { regex, schema } of node.patternProperties) {
    if (regex?.matcher(name).find()) return schema;
  }
  if (node.additionalSchema) return node.additionalSchema;
  return partialUnevaluated(node);
}

function isOpenArray(node: ArrayNode): boolean {
  return (
    node.permitsAdditional &&
    node.additionalSchema === undefined &&
    acceptsAnything(node.unevaluated)
  );
}

function partialArraySchema(node: ArrayNode): SchemaNode | undefined {
  return node.additionalSchema ?? partialUnevaluated(node);
}

/** `unevaluated*` as a schema, when `additional*` says nothing. */
function partialUnevaluated(node: ObjectNode | ArrayNode): SchemaNode | undefined {
  if (!node.permitsAdditional || node.additionalSchema !== undefined) return undefined;
  const unevaluated = node.unevaluated;
  return unevaluated && unevaluated.kind !== 'false' && unevaluated.kind !== 'empty'
    ? unevaluated
    : undefined;
}

const escapePointer = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * The changes from `original` to `update`, located by JSON Pointer-like paths (`#/`,
 * `#/properties/orderTotal`). Throws {@link UncheckableSchemaError} beyond `limits`.
 */
export function diffNodes(
  original: SchemaNode,
  update: SchemaNode,
  limits: CompatibilityLimits,
): Change[] {
  const budget: Budget = { comparisons: 0 };
  let known: PairMap<LocalChange[]> = new Map();
  for (;;) {
    const pass = new Pass(known, budget, limits);
    const changes = pass.compare(original, update);
    const incompatible = pass.incompatiblePairs();
    if (!pass.assumed || samePairs(incompatible, known)) {
      return changes.map((c) => ({
        code: c.code,
        path: `#/${c.segments.map(escapePointer).join('/')}`,
      }));
    }
    known = incompatible;
  }
}

function samePairs<T>(a: PairMap<T>, b: PairMap<T>): boolean {
  let count = 0;
  for (const [x, inner] of a) {
    for (const y of inner.keys()) {
      if (!b.get(x)?.has(y)) return false;
      count += 1;
    }
  }
  let other = 0;
  for (const inner of b.values()) other += inner.size;
  return count === other;
}
