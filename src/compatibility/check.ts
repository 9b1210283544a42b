import { type Change, type ChangeCode, isCompatibleChange } from './changes.ts';
import { diffNodes } from './diff.ts';
import {
  type CompatibilityLimits,
  DEFAULT_COMPATIBILITY_LIMITS,
  UncheckableSchemaError,
} from './limits.ts';
import { readSchema, type SchemaNode } from './model.ts';

/**
 * Compatibility modes, with Confluent Schema Registry's meanings:
 * - `BACKWARD`: the new schema reads data written with the previous one (consumers upgrade
 *   first); `FORWARD`: the previous schema reads data written with the new one (producers
 *   upgrade first); `FULL`: both.
 * - `_TRANSITIVE`: against every earlier version given, not only the newest.
 * - `NONE`: nothing is checked.
 */
export const COMPATIBILITY_MODES = [
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
  'NONE',
] as const;
export type CompatibilityMode = (typeof COMPATIBILITY_MODES)[number];

/** Which way a change was found: `backward` = new reads old data, `forward` = old reads new. */
export type Direction = 'backward' | 'forward';

export interface VersionedSchema {
  version: string;
  schema: unknown;
}

export interface CompatibilityChange {
  code: ChangeCode;
  /** Location in the schemas, e.g. `#/properties/orderTotal`. */
  path: string;
  /** Whether the change breaks the direction it was found in. */
  breaking: boolean;
  /** The earlier version it was found against. */
  version: string;
  direction: Direction;
}

export interface CompatibilityReport {
  mode: CompatibilityMode;
  /** True when no change is breaking. */
  compatible: boolean;
  /** The earlier versions the schema was checked against, newest first. */
  against: string[];
  changes: CompatibilityChange[];
}

const DIRECTIONS: Record<CompatibilityMode, Direction[]> = {
  BACKWARD: ['backward'],
  BACKWARD_TRANSITIVE: ['backward'],
  FORWARD: ['forward'],
  FORWARD_TRANSITIVE: ['forward'],
  FULL: ['backward', 'forward'],
  FULL_TRANSITIVE: ['backward', 'forward'],
  NONE: [],
};

export const isTransitive = (mode: CompatibilityMode) => mode.endsWith('_TRANSITIVE');

/**
 * The changes from `original` (the schema data was written with) to `update` (the schema that
 * reads it). Schemas too large or entangled to compare within `limits` give one breaking
 * `CHECK_LIMIT_EXCEEDED` change: the check fails closed.
 */
export function compareSchemas(
  original: unknown,
  update: unknown,
  limits: CompatibilityLimits = DEFAULT_COMPATIBILITY_LIMITS,
): Change[] {
  return compareRead(readWithin(original, limits), readWithin(update, limits), limits);
}

const limitExceeded = (): Change[] => [{ code: 'CHECK_LIMIT_EXCEEDED', path: '#/' }];

/** `schema` read into nodes, or undefined when it is beyond `limits`. */
function readWithin(schema: unknown, limits: CompatibilityLimits): SchemaNode | undefined {
  try {
    return readSchema(schema, limits);
  } catch (error) {
    if (error instanceof UncheckableSchemaError) return undefined;
    throw error;
  }
}

/** {@link compareSchemas} of schemas already read (each is read once per check). */
function compareRead(
  original: SchemaNode | undefined,
  update: SchemaNode | undefined,
  limits: CompatibilityLimits,
): Change[] {
  if (original === undefined || update === undefined) return limitExceeded();
  try {
    return diffNodes(original, update, limits);
  } catch (error) {
    if (error instanceof UncheckableSchemaError) return limitExceeded();
    throw error;
  }
}

/**
 * Checks `candidate` against earlier versions (newest first) under `mode`: against the newest
 * only, or against all of them for the transitive modes.
 */
export function checkCompatibility(
  mode: CompatibilityMode,
  candidate: unknown,
  earlier: VersionedSchema[],
  limits: CompatibilityLimits = DEFAULT_COMPATIBILITY_LIMITS,
): CompatibilityReport {
  const directions = DIRECTIONS[mode];
  const against = directions.length === 0 ? [] : isTransitive(mode) ? earlier : earlier.slice(0, 1);
  const changes: CompatibilityChange[] = [];
  const candidateNode = against.length === 0 ? undefined : readWithin(candidate, limits);
  for (const previous of against) {
    const previousNode = readWithin(previous.schema, limits);
    for (const direction of directions) {
      const found =
        direction === 'backward'
          ? compareRead(previousNode, candidateNode, limits)
          : compareRead(candidateNode, previousNode, limits);
      for (const change of found) {
        changes.push({
          ...change,
          breaking: !isCompatibleChange(change.code),
          version: previous.version,
          direction,
        });
      }
    }
  }
  return {
    mode,
    compatible: changes.every((c) => !c.breaking),
    against: against.map((v) => v.version),
    changes,
  };
}
