import type { EventSchema } from '../compatibility/consumers.ts';
import type { Queryable } from '../db/database.ts';
import { matchesPattern } from '../routing/pattern.ts';
import { byVersionDescending, type EventDefinition } from './definition.ts';
import { findActive } from './repository.ts';

/** How findings name a version: `order.placed 1.2.0`. */
export const schemaLabel = (d: Pick<EventDefinition, 'pattern' | 'version'>) =>
  `${d.pattern} ${d.version}`;

/** The versions a consumer of `eventPattern` receives: every active one its pattern matches. */
export function schemasMatching(
  definitions: EventDefinition[],
  eventPattern: string,
): EventSchema[] {
  return definitions
    .filter((d) => d.status === 'active' && matchesPattern(eventPattern, d.pattern))
    .sort((a, b) => a.pattern.localeCompare(b.pattern) || byVersionDescending(b, a))
    .map((d) => ({ label: schemaLabel(d), payloadSchema: d.payload_schema }));
}

/** {@link schemasMatching} over the stored active versions. */
export async function activeSchemasMatching(
  db: Queryable,
  eventPattern: string,
): Promise<EventSchema[]> {
  return schemasMatching(await findActive(db), eventPattern);
}
