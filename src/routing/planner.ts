import type { Queryable } from '../db/database.ts';
import type { NormalizedEvent } from '../events/event.ts';
import { newUuidV7 } from '../ids.ts';
import type { RoutingIndex } from './routing-index.ts';
import {
  type HeldKind,
  HOLDING_KIND,
  isHeldKind,
  type NewWork,
  type PlannedWork,
  type RoutingHandOff,
  type RoutingTarget,
  type WorkWaker,
} from './work.ts';
import { holdingKey, workKey } from './work-store.ts';

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
    private readonly workers: WorkWaker = { wake: () => {}, instanceTag: '' },
  ) {}

  /**
   * The work of `events` against the loaded targets, and their version: a row per (event,
   * target), but one `fanout` row for an event's deliveries when it has two or more, and one
   * `firings` row for its trigger firings when it has two or more.
   *
   * Why one row: a delivery's or firing's own row cost PostgreSQL an insert with its index
   * entries, a claim that moved them (no HOT update) and a delete or a done row, per target —
   * ten times per event with ten subscriptions. The holding row pays the insert and the claim
   * once per event; what it holds keeps ids of its own, fixed here, so each delivery is the
   * same delivery (`webhook-id`) on every attempt, and each gets a row of its own when its
   * first attempt is recorded and it is not finished (a firing always: its row is its history;
   * work-store.ts `completeWork`). A firings row holds its triggers in firing order, which the
   * trigger handler keeps (a firing to retry holds back the later ones, which then get rows of
   * their own that wait for it). Processors keep a row each.
   */
  plan(events: NormalizedEvent[]): PlannedWork {
    const rows: NewWork[] = [];
    for (const event of events) {
      const matched = this.index.match(event.instance.pattern);
      const held = heldTargets(matched);
      const sequence = new Map<string, number>();
      for (const target of matched) {
        if (isHeldKind(target.kind) && held.has(target.kind)) continue;
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
      for (const [kind, targets] of held)
        rows.push({
          ...ofEvent(event),
          id: newUuidV7(),
          kind: HOLDING_KIND[kind],
          targetId: null,
          fanout: targets.map((target) => ({
            id: newUuidV7(),
            targetId: target.id,
            maxAttempts: target.maxAttempts,
          })),
          sequence: 0,
          idempotencyKey: holdingKey(HOLDING_KIND[kind], event.instance.eventId),
          maxAttempts: Math.max(...targets.map((target) => target.maxAttempts)),
        });
    }
    return { rows, targetsVersion: this.index.version, instanceTag: this.workers.instanceTag };
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

/** The matched targets of each kind held in one row: kinds with two targets or more. */
function heldTargets(matched: RoutingTarget[]): Map<HeldKind, RoutingTarget[]> {
  const held = new Map<HeldKind, RoutingTarget[]>();
  for (const target of matched)
    if (isHeldKind(target.kind)) {
      const ofKind = held.get(target.kind);
      if (ofKind) ofKind.push(target);
      else held.set(target.kind, [target]);
    }
  for (const [kind, targets] of held) if (targets.length < 2) held.delete(kind);
  return held;
}
