import { type ConsumerSpec, checkConsumer, type Finding } from '../compatibility/consumers.ts';
import type { Queryable } from '../db/database.ts';
import { conflict } from '../errors.ts';
import { matchesPattern } from '../routing/pattern.ts';
import { schemasMatching } from './consumer-schemas.ts';
import type { EventDefinition } from './definition.ts';

/**
 * Impact analysis: which triggers, subscriptions and event processors a change to the set of active versions
 * (a new version, a deprecation, a release) leaves reading paths the versions no longer
 * support. A consumer is impacted by each finding of its type check against the versions
 * after the change that it did not have before, so consumers already accepted with warnings
 * are not reported again for them.
 */

/** A trigger, subscription or event processor, with what it reads. */
export interface Consumer {
  kind: 'trigger' | 'subscription' | 'processor';
  id: string;
  eventPattern: string;
  spec: ConsumerSpec;
}

/**
 * The live consumers of a kind reading `pattern` (enabled triggers, subscriptions that are not
 * disabled, enabled event processors). Each consuming capability provides its own, so the registry imports none of them.
 */
export type ConsumersOf = (db: Queryable, pattern: string) => Promise<Consumer[]>;

export interface ImpactEntry {
  kind: Consumer['kind'];
  id: string;
  /** The consumer's field, e.g. `eventCondition` or `filter.expression`. */
  field: string;
  /** The path it reads, when the finding is about one. */
  path?: string;
  code: string;
  message: string;
}

const findingKey = (f: Finding) => `${f.field}\u0000${f.code}\u0000${f.path ?? f.message}`;

/** The findings `after` gives each consumer of `pattern` that `before` did not. */
export function impactOf(
  consumers: Consumer[],
  pattern: string,
  before: EventDefinition[],
  after: EventDefinition[],
): ImpactEntry[] {
  return consumers
    .filter((c) => matchesPattern(c.eventPattern, pattern))
    .flatMap((consumer) => {
      const known = new Set(
        checkConsumer(consumer.spec, schemasMatching(before, consumer.eventPattern)).map(
          findingKey,
        ),
      );
      return checkConsumer(consumer.spec, schemasMatching(after, consumer.eventPattern))
        .filter((f) => !known.has(findingKey(f)))
        .map((f) => ({
          kind: consumer.kind,
          id: consumer.id,
          field: f.field,
          ...(f.path ? { path: f.path } : {}),
          code: f.code,
          message: f.message,
        }));
    });
}

/** Where a consumer lives in the API, as 409 details name it. */
const CONSUMER_COLLECTIONS: Record<Consumer['kind'], string> = {
  trigger: 'workflow-triggers',
  subscription: 'subscriptions',
  processor: 'event-processors',
};

/** With `strict`, a change that impacts consumers is refused: 409 `breaks_consumers`. */
export function assertNoImpact(impact: ImpactEntry[], strict: boolean): void {
  if (!strict || impact.length === 0) return;
  throw conflict(
    `the change breaks ${new Set(impact.map((i) => i.id)).size} consumer(s); without ?strict=true it is made and reported in impact`,
    'breaks_consumers',
    impact.map((i) => ({
      field: `${CONSUMER_COLLECTIONS[i.kind]}/${i.id}.${i.field}`,
      code: i.code,
      message: i.message,
    })),
  );
}
