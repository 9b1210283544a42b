/**
 * The event as conditions, paths and input mappings see it (the spec's EventInstance), and how a
 * path's root and keys reach into it. Lookups read own properties and array elements only, so no
 * path reaches `constructor`, `__proto__` or anything else from a prototype.
 */

export interface EventView {
  eventId: string;
  pattern: string;
  version?: string;
  source?: unknown;
  timestamp?: string;
  payload?: unknown;
  metadata?: unknown;
}

const ROOT_VALUES = {
  $: (event: EventView): unknown => event,
  event: (event: EventView): unknown => event,
  payload: (event: EventView): unknown => event.payload,
  data: (event: EventView): unknown => event.payload,
  metadata: (event: EventView): unknown => event.metadata,
  source: (event: EventView): unknown => event.source,
  pattern: (event: EventView): unknown => event.pattern,
};

export type Root = keyof typeof ROOT_VALUES;
/** A field name, or an array index (a non-negative integer). */
export type Key = string | number;

export const isRoot = (name: string): name is Root => Object.hasOwn(ROOT_VALUES, name);
export const ROOT_NAMES = Object.keys(ROOT_VALUES).join(', ');

/** Reads the value at `root` then `keys`; undefined when there is none. */
export function accessor(root: Root, keys: readonly Key[]): (event: EventView) => unknown {
  const start = ROOT_VALUES[root];
  return (event) => {
    let value = start(event);
    for (const key of keys) {
      if (value === undefined) return undefined;
      value = member(value, key);
    }
    return value;
  };
}

/** A number key reads an array element, a string key an object field; nothing else. */
function member(value: unknown, key: Key): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value) !== (typeof key === 'number')) return undefined;
  return Object.hasOwn(value, key) ? (value as Record<Key, unknown>)[key] : undefined;
}
