import type { Queryable } from '../db/database.ts';
import type { NormalizedEvent } from '../events/event.ts';
import { newUuidV7 } from '../ids.ts';
import type { RoutingIndex } from './routing-index.ts';
import type { NewWork, PlannedWork, RoutingHandOff, WorkWaker } from './work.ts';
import { fanoutKey, workKey } from './work-store.ts';

/**
 * Turns events into routing work, written in the statement that stores them (the outbox,
 * ingest/outbox.ts `storeEvents`): an event is never committed without its work, and no
 * work exists for an uncommitted event. The work is planned with the index as loaded; the
 * statement writes nothing when the targets moved meanwhile, and the writer plans again after
 * {@link refresh} — so no event is routed with stale targets, without a version read per commit.
 */
export class RoutingPlanner implements RoutingHandOff {
  constructor(
    private readonly index: RoutingIndex,
    /** This instance's workers (other instances hear the commit's notification). */
    private readonly workers: WorkWaker = { wake: () => {} },
  ) {}

  /**
   * The work of `events` against the loaded targets, and their version: a row per (event,
   * target), but one `fanout` row for an event's deliveries when it has two or more.
   *
   * Why one row: a delivery's own row cost PostgreSQL an insert with four index entries, a
   * claim that moved them (no HOT update) and a delete once delivered, per delivery — ten
   * times per event with ten subscriptions. The fan-out row pays that once per event; its
   * deliveries keep ids of their own, fixed here, so each is the same delivery (`webhook-id`)
   * on every attempt, and a delivery needing more than one attempt gets a row of its own when
   * its first is recorded (work-store.ts `completeWork`). Triggers and processors keep a row
   * each: they fire in order, row by row.
   */
  plan(events: NormalizedEvent[]): PlannedWork {
    const rows: NewWork[] = [];
    for (const event of events) {
      const matched = this.index.match(event.instance.pattern);
      const deliveries = matched.filter((target) => target.kind === 'delivery');
      const fanout = deliveries.length >= 2;
      const sequence = new Map<string, number>();
      for (const target of matched) {
        if (fanout && target.kind === 'delivery') continue;
        const position = sequence.get(target.kind) ?? 0;
        sequence.set(target.kind, position + 1);
        rows.push({
          ...ofEvent(event),
          id: newUuidV7(),
          kind: target.kind,
          targetId: target.id,
          fanout: null,
          sequence: position,
          idempotencyKey: workKey(target, event.instance.eventId),
          maxAttempts: target.maxAttempts,
        });
      }
      if (fanout)
        rows.push({
          ...ofEvent(event),
          id: newUuidV7(),
          kind: 'fanout',
          targetId: null,
          fanout: deliveries.map((target) => ({
            id: newUuidV7(),
            targetId: target.id,
            maxAttempts: target.maxAttempts,
          })),
          sequence: 0,
          idempotencyKey: fanoutKey(event.instance.eventId),
          maxAttempts: Math.max(...deliveries.map((target) => target.maxAttempts)),
        });
    }
    return { rows, targetsVersion: this.index.version };
  }

  refresh(db: Queryable): Promise<void> {
    return this.index.refresh(db);
  }

  committed(): void {
    this.workers.wake();
  }
}

/** What every work row of an event has. */
const ofEvent = (event: NormalizedEvent) => ({
  eventId: event.instance.eventId,
  eventRowId: event.id,
  eventTimestamp: event.storedTimestamp,
  replay: false,
});
