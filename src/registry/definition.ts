import colorNames from 'color-name';
import semver from 'semver';
import type { CompatibilityMode } from '../compatibility/check.ts';
import { conflict, type ErrorDetail, fieldError } from '../errors.ts';
import type { EventInput } from '../events/event.ts';

/** The spec's EventDefinition as stored and sent on the wire (snake_case), plus id and revision. */
export interface EventDefinition {
  id: string;
  event_id: string;
  name: string;
  description: string;
  pattern: string;
  version: string;
  source_types: string[];
  payload_schema: Record<string, unknown>;
  examples: unknown[];
  ui_metadata: UiMetadata;
  status: DefinitionStatus;
  /** When the version was deprecated (set by the service), or null. */
  deprecated_at: string | null;
  /** When a deprecated version stops being supported, announced in `Sunset` headers, or null. */
  sunset_at: string | null;
  created_at: string;
  updated_at: string;
  /** Optimistic concurrency: increases on every change; carried by the ETag. */
  revision: number;
  /** The compatibility mode of the event_id (shared by all its versions). */
  compatibility: { mode: CompatibilityMode };
}

export interface UiMetadata {
  icon?: string;
  color?: string;
  category?: string;
  priority?: 'high' | 'medium' | 'low';
  /** Teams or people owning the event (EventCatalog's `owners`). */
  owners?: string[];
  /** An http(s) link to the event's documentation. */
  docs_url?: string;
}

export const DEFINITION_STATUSES = ['active', 'deprecated', 'draft'] as const;
export type DefinitionStatus = (typeof DEFINITION_STATUSES)[number];

/** Dot-separated segments of lowercase letters, digits, `_` and `-`; no wildcards. */
export const PATTERN_REGEX = '^[a-z0-9_-]+(\\.[a-z0-9_-]+)*$';

/** semver.org's own regular expression for a version (`1.0.0`, `2.1.0-beta.1`). */
export const SEMVER_REGEX =
  '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(?:-((?:0|[1-9]\\d*|\\d*[a-zA-Z-][a-zA-Z0-9-]*)(?:\\.(?:0|[1-9]\\d*|\\d*[a-zA-Z-][a-zA-Z0-9-]*))*))?(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$';

const HEX_COLOR = /^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;

export function colorDetails(uiMetadata: UiMetadata | undefined): ErrorDetail[] {
  const color = uiMetadata?.color;
  if (
    color === undefined ||
    HEX_COLOR.test(color) ||
    Object.hasOwn(colorNames, color.toLowerCase())
  )
    return [];
  return [
    fieldError(
      'ui_metadata.color',
      'color',
      'must be a hex color (#RGB or #RRGGBB) or a CSS named color',
    ),
  ];
}

/** Status moves a definition may make: draft → active, active ⇄ deprecated. */
const TRANSITIONS: Record<DefinitionStatus, readonly DefinitionStatus[]> = {
  draft: ['active'],
  active: ['deprecated'],
  deprecated: ['active'],
};

export function assertTransition(from: DefinitionStatus, to: DefinitionStatus): void {
  if (from === to || TRANSITIONS[from].includes(to)) return;
  throw conflict(`status cannot move from ${from} to ${to}`, 'invalid_transition', [
    fieldError(
      'status',
      'invalid_transition',
      `allowed from ${from}: ${TRANSITIONS[from].join(', ')}`,
    ),
  ]);
}

/** Newest first by semver precedence. */
export const byVersionDescending = <T extends { version: string }>(a: T, b: T): number =>
  semver.rcompare(a.version, b.version);

/**
 * The default version: the one an event published without `version` is held to. It is the
 * highest active version of the lowest major that has an active version, so a new major
 * does not take over from publishers of an older one until that major is deprecated.
 */
export function defaultVersionOf<T extends { version: string; status: DefinitionStatus }>(
  versions: T[],
): T | undefined {
  const active = versions.filter((d) => d.status === 'active').sort(byVersionDescending);
  const lowestMajor = Math.min(...active.map((d) => semver.major(d.version)));
  return active.find((d) => semver.major(d.version) === lowestMajor);
}

/**
 * The version a reference without `?version=` (event_id or pattern) means: the default
 * version; when no version is active, the highest deprecated one, else the highest draft.
 */
export function currentVersionOf<T extends { version: string; status: DefinitionStatus }>(
  versions: T[],
): T | undefined {
  const sorted = [...versions].sort(byVersionDescending);
  return defaultVersionOf(versions) ?? sorted.find((d) => d.status === 'deprecated') ?? sorted[0];
}

/** The definition's nth example as an event of that version (undefined: no such example). */
export function eventFromExample(
  definition: EventDefinition,
  index: number,
): EventInput | undefined {
  const example = definition.examples[index];
  if (example === undefined) return undefined;
  const sourceType = definition.source_types[0];
  return {
    pattern: definition.pattern,
    version: definition.version,
    payload: example as Record<string, unknown>,
    ...(sourceType ? { source: { type: sourceType, id: 'dry-run' } } : {}),
  };
}
