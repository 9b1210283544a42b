import type { Queryable } from '../db/database.ts';
import type { Consumer } from '../registry/impact.ts';
import { matchesPattern } from '../routing/pattern.ts';
import { findDefinition } from '../workflows/repository.ts';
import { enabledTriggers } from './repository.ts';
import { triggerConsumerSpec } from './trigger.ts';

/** The enabled triggers of `pattern` with what they read: the registry checks changes against them. */
export async function triggerConsumersOf(db: Queryable, pattern: string): Promise<Consumer[]> {
  const triggers = (await enabledTriggers(db)).filter((t) =>
    matchesPattern(t.eventPattern, pattern),
  );
  const inputSchemas = new Map<string, unknown>();
  for (const id of new Set(triggers.map((t) => t.workflowDefinitionId))) {
    inputSchemas.set(id, (await findDefinition(db, id))?.inputSchema ?? undefined);
  }
  return triggers.map((t) => ({
    kind: 'trigger' as const,
    id: t.id,
    eventPattern: t.eventPattern,
    spec: triggerConsumerSpec(t, inputSchemas.get(t.workflowDefinitionId)),
  }));
}
