import type { Queryable } from '../db/database.ts';
import type { NormalizedEvent } from '../events/event.ts';
import { newUuidV7 } from '../ids.ts';
import type { RoutingIndex } from './routing-index.ts';
import type { NewWork, PlannedWork, RoutingHandOff, WorkWaker } from './work.ts';
import { workKey } from './work-store.ts';

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

  /** The work of `events` against the loaded targets, and their version. */
  plan(events: NormalizedEvent[]): PlannedWork {
    const rows: NewWork[] = [];
    for (const event of events) {
      const sequence = new Map<string, number>();
      for (const target of this.index.match(event.instance.pattern)) {
        const position = sequence.get(target.kind) ?? 0;
        sequence.set(target.kind, position + 1);
        rows.push({
          id: newUuidV7(),
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
