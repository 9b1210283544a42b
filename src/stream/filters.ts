import type { EventInstance } from '../events/event.ts';
import { matchesPattern } from '../routing/pattern.ts';
import { buildConditions, type Conditions, type EventQuery } from '../store/query.ts';

/**
 * The `GET /v1/events` filters the live stream offers: those an arriving event can be tested
 * against in memory exactly as the SQL tests stored ones. Time ranges make no sense for a stream
 * (it starts now, or at a position) and payload containment is left to `GET /v1/events`.
 */
export type StreamFilters = Pick<
  EventQuery,
  | 'pattern'
  | 'correlationId'
  | 'causationId'
  | 'source.type'
  | 'source.id'
  | 'userId'
  | 'context.type'
  | 'context.id'
> & { [tag: `tag.${string}`]: string };

export const STREAM_FILTER_NAMES = [
  'pattern',
  'correlationId',
  'causationId',
  'source.type',
  'source.id',
  'userId',
  'context.type',
  'context.id',
] as const;

/** One test per filter, for events as they arrive. */
export type EventFilter = (event: EventInstance) => boolean;

/**
 * The filters as SQL conditions (for reading stored events, through the same code as
 * `GET /v1/events`, which also checks them: a malformed pattern is a 400) and as an in-memory
 * test for arriving ones.
 */
export function compileFilters(filters: StreamFilters): {
  conditions: Conditions;
  test: EventFilter;
} {
  const conditions = buildConditions({ ...filters, limit: 1, offset: 0, order: 'asc' });
  const tests: EventFilter[] = [];
  const { pattern } = filters;
  if (pattern !== undefined) tests.push((e) => matchesPattern(pattern, e.pattern));
  const equal = (value: string | undefined, read: (e: EventInstance) => unknown) => {
    if (value !== undefined) tests.push((e) => read(e) === value);
  };
  equal(filters.correlationId, (e) => e.metadata.correlationId);
  equal(filters.causationId, (e) => e.metadata.causationId);
  equal(filters['source.type'], (e) => e.source?.type);
  equal(filters['source.id'], (e) => e.source?.id);
  equal(filters.userId, (e) => e.metadata.userId);
  equal(filters['context.type'], (e) => e.metadata.context?.type);
  equal(filters['context.id'], (e) => e.metadata.context?.id);
  for (const [key, value] of Object.entries(filters)) {
    if (key.startsWith('tag.')) equal(value as string, (e) => e.metadata.tags?.[key.slice(4)]);
  }
  return { conditions, test: (event) => tests.every((t) => t(event)) };
}
