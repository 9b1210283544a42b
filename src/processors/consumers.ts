import type { EventSchema } from '../compatibility/consumers.ts';
import type { Queryable } from '../db/database.ts';
import { schemaLabel } from '../registry/consumer-schemas.ts';
import { defaultVersionOf } from '../registry/definition.ts';
import type { Consumer } from '../registry/impact.ts';
import { findByPattern } from '../registry/repository.ts';
import { matchesPattern } from '../routing/pattern.ts';
import { type EventProcessor, processorConsumerSpec } from './processor.ts';
import { enabledProcessors } from './repository.ts';

/**
 * The enabled event processors of `pattern` with what they read (their condition, and the paths
 * their output payload maps, typed against the schema their derived events are held to): the
 * registry checks changes against them.
 */
export async function processorConsumersOf(db: Queryable, pattern: string): Promise<Consumer[]> {
  const processors = (await enabledProcessors(db)).filter((p) =>
    matchesPattern(p.eventPattern, pattern),
  );
  const consumers: Consumer[] = [];
  for (const processor of processors) {
    consumers.push({
      kind: 'processor',
      id: processor.id,
      eventPattern: processor.eventPattern,
      spec: processorConsumerSpec(processor, await outputSchemaOf(db, processor.output)),
    });
  }
  return consumers;
}

/** The schema a processor's derived events are held to: its pinned version, else the default. */
export async function outputSchemaOf(
  db: Queryable,
  output: EventProcessor['output'],
): Promise<EventSchema | undefined> {
  const versions = await findByPattern(db, output.pattern);
  const definition =
    output.version === undefined
      ? defaultVersionOf(versions)
      : versions.find((d) => d.version === output.version);
  return definition && { label: schemaLabel(definition), payloadSchema: definition.payload_schema };
}
