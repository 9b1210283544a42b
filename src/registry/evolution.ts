import semver from 'semver';
import { describeChange } from '../compatibility/changes.ts';
import {
  type CompatibilityChange,
  type CompatibilityMode,
  type CompatibilityReport,
  checkCompatibility,
} from '../compatibility/check.ts';
import { conflict } from '../errors.ts';
import { byVersionDescending, type EventDefinition } from './definition.ts';

/**
 * Semantic versioning decides what a new version's schema is held to (pure rules; the registry
 * applies them when a version is registered or released):
 * - a minor or patch version is checked, under the event's mode, against the released (active
 *   or deprecated) versions of its own major below it: the nearest one, or all of them for the
 *   transitive modes; breaking changes refuse it;
 * - the first released version of a major (`2.0.0`, or the first of its major to be released)
 *   may break: it is checked against the released versions below it, and the changes are only
 *   reported.
 */

export interface EvolutionCheck {
  report: CompatibilityReport;
  /** Whether breaking changes are allowed (a new major). */
  mayBreak: boolean;
}

export function checkEvolution(
  mode: CompatibilityMode,
  candidate: Pick<EventDefinition, 'version' | 'payload_schema'>,
  versions: EventDefinition[],
): EvolutionCheck {
  const released = versions
    .filter((d) => d.status !== 'draft' && semver.lt(d.version, candidate.version))
    .sort(byVersionDescending);
  const major = semver.major(candidate.version);
  const sameMajor = released.filter((d) => semver.major(d.version) === major);
  const mayBreak = sameMajor.length === 0;
  const earlier = (mayBreak ? released : sameMajor).map((d) => ({
    version: d.version,
    schema: d.payload_schema,
  }));
  return { report: checkCompatibility(mode, candidate.payload_schema, earlier), mayBreak };
}

/** Refuses a version whose breaking changes are not allowed: 409 with one detail per change. */
export function assertEvolution(check: EvolutionCheck, version: string): void {
  if (check.mayBreak || check.report.compatible) return;
  const breaking = check.report.changes.filter((c) => c.breaking);
  const against = [...new Set(breaking.map((c) => c.version))].join(', ');
  throw conflict(
    `payload_schema of ${version} is not ${check.report.mode} compatible with ${against}: ` +
      `${breaking.length} breaking change${breaking.length === 1 ? '' : 's'}. ` +
      'Register a new major version, or change the compatibility mode.',
    'incompatible_schema',
    breaking.map((change) => ({
      field: `payload_schema${change.path}`,
      code: change.code,
      message: explainChange(change),
    })),
  );
}

/** One sentence: what changed, and which reader cannot read which writer's data. */
export function explainChange(change: CompatibilityChange): string {
  const who =
    change.direction === 'backward'
      ? `this schema cannot read data written with ${change.version}`
      : `${change.version} cannot read data written with this schema`;
  return `${describeChange(change.code)}${change.breaking ? `: ${who}` : ''}`;
}
