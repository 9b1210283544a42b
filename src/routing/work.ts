import type { EventInstance } from '../events/event.ts';

/**
 * The routing engine's unit of work: one (event, target) pair. Targets are of two kinds —
 * workflow triggers and subscriptions — and share one work table, one worker pool and one
 * matching index.
 */
export type TargetKind = 'trigger' | 'delivery';

export type WorkStatus = 'pending' | 'running' | 'done' | 'dead';

/** A routing target as the matching index holds it. */
export interface RoutingTarget {
  kind: TargetKind;
  id: string;
  pattern: string;
  /** Attempts before the work is dead-lettered. */
  maxAttempts: number;
  /** Orders one event's targets of a kind: lower first (triggers: priority, none last, then age). */
  order: readonly [number, number];
}

/** A work row to insert. */
export interface NewWork {
  id: string;
  kind: TargetKind;
  targetId: string;
  eventId: string;
  eventRowId: string;
  /** `timestamp(6)` text of the event, to find its row (and partition). */
  eventTimestamp: string;
  sequence: number;
  idempotencyKey: string;
  maxAttempts: number;
  replay: boolean;
}

/** A claimed work row with its event. */
export interface ClaimedWork {
  id: string;
  kind: TargetKind;
  targetId: string;
  eventId: string;
  /** Position among the event's targets of this kind (firing order). */
  sequence: number;
  idempotencyKey: string;
  attempts: number;
  maxAttempts: number;
  replay: boolean;
  /** W3C traceparent of this attempt's span, for outgoing calls (set by the worker). */
  traceparent?: string;
  /** When the work was planned (about when its event was received). */
  createdAt: Date;
  /** Undefined when the event is gone (dropped by retention). */
  event: EventInstance | undefined;
}

/** What a handler decided about one attempt. */
export interface WorkResult {
  /** The record shown to users (firing record, delivery outcome). */
  outcome: Record<string, unknown>;
  /** Set when the attempt failed in a way worth retrying. */
  retry?: { error: string; delayMs: number };
  /** Set when no attempt was made (paused, circuit open): try again later, the attempt not counted. */
  defer?: { delayMs: number };
  /** Set when retrying cannot help (e.g. the endpoint is refused): dead-letter now. */
  deadLetter?: { error: string };
  /**
   * The handler logged this attempt itself (the delivery log): once the work is done, its row
   * is deleted instead of kept as a done row that would be written and never read. Dead and
   * retrying work keeps its row either way.
   */
  logged?: boolean;
}

/** Bounds concurrent calls: the worker pool's lanes, shared by the rounds in flight. */
export type Lanes = <T>(call: () => Promise<T>) => Promise<T>;

/** Executes the work of one target kind. Must not throw for expected failures. */
export interface WorkHandler {
  kind: TargetKind;
  /** Called once per claimed batch before `handle` (e.g. to refresh cached targets). */
  prepare?(): Promise<void>;
  /**
   * Handles a round's rows of this kind together (e.g. one INSERT for many workflow starts,
   * firing an event's triggers in order, one read of the subscriptions); results in the order
   * of `works`. Every row's event is present. `lanes` bounds the concurrent calls the handler
   * makes (requests in flight), shared with the other rounds in flight.
   */
  handle(works: ClaimedWork[], lanes: Lanes): Promise<WorkResult[]>;
  /** The record for work whose attempts ran out. */
  deadOutcome(
    work: ClaimedWork,
    lastOutcome: Record<string, unknown>,
    error: string,
  ): Record<string, unknown>;
}
