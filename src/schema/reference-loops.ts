/**
 * Finds a `$ref` that leads back to the schema it sits in without descending into the instance
 * (`{"$defs":{"n":{"allOf":[{"$ref":"#/$defs/n"}, …]}}}`, `{"type":"object","$ref":"#"}`).
 * Validating against such a schema applies it to the same value again and again: JSON Schema
 * leaves its behaviour undefined ("a schema MUST NOT be run into an infinite loop against an
 * instance", core 2020-12 §9.4.1), and the validator overflows its stack on every event. It is
 * refused when written. Recursion through a property or an item (a tree, a linked list) moves
 * to a smaller part of the value each time and is fine.
 *
 * References resolve as the validator resolves local ones: a JSON Pointer or an anchor
 * (`$anchor`, `$dynamicAnchor`, draft-07 `$id: "#name"`) inside the schema resource the
 * reference sits in (the nearest enclosing schema with a non-fragment `$id`, or the document).
 */

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Keywords whose subschemas apply to the same value as the schema they sit in. */
const IN_PLACE_LISTS = ['allOf', 'anyOf', 'oneOf'];
const IN_PLACE_SINGLE = ['not', 'if', 'then', 'else'];
/** Their values map property names to subschemas applied to the object itself. */
const IN_PLACE_MAPS = ['dependentSchemas', 'dependencies'];
const REFERENCES = ['$ref', '$dynamicRef', '$recursiveRef'];
/** Keywords whose values are data, never schemas. */
const DATA = new Set(['const', 'enum', 'default', 'examples']);

interface SchemaInfo {
  /** JSON Pointer of the schema within the document. */
  pointer: string;
  /** The schema resource it belongs to. */
  resource: Json;
}

/** A reference that loops, described for an error message; undefined when there is none. */
export function findReferenceLoop(root: unknown): string | undefined {
  if (!isObject(root)) return undefined;
  const schemas = new Map<Json, SchemaInfo>();
  const anchors = new Map<Json, Map<string, Json>>();
  collect(root, '', root, schemas, anchors);
  const state = new Map<Json, 'visiting' | 'done'>();
  const visit = (schema: Json): string | undefined => {
    state.set(schema, 'visiting');
    for (const { target, via } of inPlaceEdges(schema, schemas, anchors)) {
      const seen = state.get(target);
      if (seen === 'visiting') {
        const at = schemas.get(schema)?.pointer ?? '';
        return `${via} at ${at === '' ? '#' : `#${at}`} leads back to itself without descending into a property or an item, so validation would never end`;
      }
      if (seen === undefined) {
        const loop = visit(target);
        if (loop) return loop;
      }
    }
    state.set(schema, 'done');
    return undefined;
  };
  for (const schema of schemas.keys()) {
    if (state.has(schema)) continue;
    const loop = visit(schema);
    if (loop) return loop;
  }
  return undefined;
}

/** Records every object of the document with its pointer and resource, and the anchors. */
function collect(
  value: unknown,
  pointer: string,
  resource: Json,
  schemas: Map<Json, SchemaInfo>,
  anchors: Map<Json, Map<string, Json>>,
): void {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      collect(item, `${pointer}/${i}`, resource, schemas, anchors);
    }
    return;
  }
  if (!isObject(value) || schemas.has(value)) return;
  const id = typeof value.$id === 'string' ? value.$id : undefined;
  const own = id !== undefined && !id.startsWith('#') && pointer !== '' ? value : resource;
  schemas.set(value, { pointer, resource: own });
  for (const name of [
    value.$anchor,
    value.$dynamicAnchor,
    id?.startsWith('#') ? id.slice(1) : undefined,
  ]) {
    if (typeof name !== 'string') continue;
    const named = anchors.get(own) ?? new Map<string, Json>();
    anchors.set(own, named);
    if (!named.has(name)) named.set(name, value);
  }
  for (const key of Object.keys(value)) {
    if (DATA.has(key)) continue;
    const escaped = key.replace(/~/g, '~0').replace(/\//g, '~1');
    collect(value[key], `${pointer}/${escaped}`, own, schemas, anchors);
  }
}

/** The subschemas `schema` applies to its own value, with the keyword that applies each. */
function inPlaceEdges(
  schema: Json,
  schemas: Map<Json, SchemaInfo>,
  anchors: Map<Json, Map<string, Json>>,
): Array<{ target: Json; via: string }> {
  const edges: Array<{ target: Json; via: string }> = [];
  const add = (target: unknown, via: string) => {
    if (isObject(target)) edges.push({ target, via });
  };
  for (const keyword of REFERENCES) {
    const ref = schema[keyword];
    if (typeof ref !== 'string') continue;
    const resource = schemas.get(schema)?.resource;
    if (resource) add(resolve(ref, resource, anchors), `${keyword} "${ref}"`);
  }
  for (const keyword of IN_PLACE_LISTS) {
    const list = schema[keyword];
    if (!Array.isArray(list)) continue;
    for (const [i, sub] of list.entries()) add(sub, `${keyword}[${i}]`);
  }
  for (const keyword of IN_PLACE_SINGLE) add(schema[keyword], keyword);
  for (const keyword of IN_PLACE_MAPS) {
    const map = schema[keyword];
    if (!isObject(map)) continue;
    for (const [name, sub] of Object.entries(map)) add(sub, `${keyword}.${name}`);
  }
  return edges;
}

/** The schema a local reference points at within `resource`; undefined when it points nowhere. */
function resolve(
  ref: string,
  resource: Json,
  anchors: Map<Json, Map<string, Json>>,
): unknown | undefined {
  if (!ref.startsWith('#')) return undefined;
  const fragment = ref.slice(1);
  if (fragment === '') return resource;
  if (!fragment.startsWith('/')) return anchors.get(resource)?.get(safeDecode(fragment));
  let target: unknown = resource;
  for (const token of fragment.slice(1).split('/')) {
    const key = safeDecode(token).replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(target)) target = target[Number(key)];
    else if (isObject(target) && Object.hasOwn(target, key)) target = target[key];
    else return undefined;
  }
  return target;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
