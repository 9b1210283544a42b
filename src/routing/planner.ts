import { v7 as uuidv7 } from 'uuid';
import type { Clock } from '../clock.ts';
import type { Queryable } from '../db/database.ts';
import type { NormalizedEvent } from '../ingest/event.ts';
import type { RoutingIndex } from './routing-index.ts';
import type { NewWork, RoutingTarget } from './work.ts';
import { insertWork } from './work-store.ts';

/** Every (event, target) pair has one key: a retried or replayed routing cannot double it. */
export const workKey = (target: Pick<RoutingTarget, 'kind' | 'id'>, eventId: string) =>
  `${target.kind}:${target.id}:${eventId}`;

/**
 * Turns stored events into routing work inside the transaction that stores them (the outbox):
 * an event is never committed without its work, and no work exists for an uncommitted event.
 */
export class RoutingPlanner {
  constructor(
    private readonly index: RoutingIndex,
    private readonly clock: Clock,
  ) {}

  /** Plans and stores the work of `events`; returns the events that matched a target. */
  async plan(tx: Queryable, events: NormalizedEvent[]): Promise<NormalizedEvent[]> {
    if (events.length === 0) return [];
    await this.index.refresh(tx);
    const work: NewWork[] = [];
    const routed: NormalizedEvent[] = [];
    for (const event of events) {
      const before = work.length;
      const sequence = new Map<string, number>();
      for (const target of this.index.match(event.instance.pattern)) {
        const position = sequence.get(target.kind) ?? 0;
        sequence.set(target.kind, position + 1);
        work.push({
          id: uuidv7(),
          kind: target.kind,
          targetId: target.id,
          eventId: event.instance.eventId,
          eventRowId: event.id,
          eventTimestamp: event.storedTimestamp,
          sequence: position,
          idempotencyKey: workKey(target, event.instance.eventId),
          maxAttempts: target.maxAttempts,
          replay: false,
        });
      }
      if (work.length > before) routed.push(event);
    }
    await insertWork(tx, work, this.clock.now());
    return routed;
  }
}
