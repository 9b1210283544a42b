import type { Context } from '@opentelemetry/api';
import type { Queryable } from '../db/database.ts';
import type { EventInstance, NormalizedEvent } from '../events/event.ts';

/**
 * The routing engine's unit of work: one (event, target) pair. Targets are of three kinds —
 * workflow triggers, subscriptions and event processors (derived events) — and share one work
 * table, one worker pool and one matching index.
 */
export type TargetKind = 'trigger' | 'delivery' | 'processor' | 'resume';

export const WORK_STATUSES = ['pending', 'running', 'done', 'dead'] as const;
export type WorkStatus = (typeof WORK_STATUSES)[number];

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

/**
 * The kinds of work an event's row may hold several of, and that row's kind: a `fanout` row
 * holds an event's deliveries when it matched two subscriptions or more, a `firings` row its
 * trigger firings when it matched two triggers or more (routing/planner.ts).
 */
export const HOLDING_KIND = { delivery: 'fanout', trigger: 'firings' } as const;
export type HeldKind = keyof typeof HOLDING_KIND;
export type HoldingKind = (typeof HOLDING_KIND)[HeldKind];
/** Whether work of `kind` may be held in a row of several ({@link HOLDING_KIND}). */
export const isHeldKind = (kind: TargetKind): kind is HeldKind => kind in HOLDING_KIND;
/** The kind of work each holding row holds: {@link HOLDING_KIND} the other way round. */
export const HELD_KIND = Object.fromEntries(
  Object.entries(HOLDING_KIND).map(([held, holding]) => [holding, held]),
) as { [K in HeldKind as (typeof HOLDING_KIND)[K]]: K };

/**
 * One delivery or trigger firing held in a fan-out or firings row ({@link HOLDING_KIND}). Its id is
 * fixed at planning: it is the delivery's id (the `webhook-id` receivers deduplicate on) or the
 * firing's on every attempt, whichever worker claims the row, and the id of the row of its own
 * it gets when its first attempt is recorded (work-store.ts `completeWork`).
 */
export interface HeldWork {
  id: string;
  targetId: string;
  maxAttempts: number;
}

/** A work row to insert: one (event, target) pair, or an event's work held in one row. */
export type NewWork = NewWorkFields &
  (
    | { kind: TargetKind; targetId: string; fanout: null }
    | { kind: HoldingKind; targetId: null; fanout: HeldWork[] }
  );

interface NewWorkFields {
  id: string;
  eventId: string;
  eventRowId: string;
  /** `timestamp(6)` text of the event, to find its row (and partition). */
  eventTimestamp: string;
  sequence: number;
  idempotencyKey: string;
  maxAttempts: number;
  replay: boolean;
}

/** What every claimed work row has, whatever it is about. */
interface ClaimedFields {
  id: string;
  kind: TargetKind;
  targetId: string;
  /** Position among the event's targets of this kind (firing order). */
  sequence: number;
  idempotencyKey: string;
  attempts: number;
  maxAttempts: number;
  replay: boolean;
  /** W3C traceparent of the span that received the event: the parent of this attempt's span. */
  receiveTraceparent?: string;
  /**
   * The context of this attempt's span (set by the worker): handlers add attributes to its span
   * (`trace.getSpan`), start child spans under it and propagate it on outgoing calls.
   */
  trace?: Context;
  /** When the work was planned (about when its event was received). */
  createdAt: Date;
  /**
   * The fan-out or firings row holding this delivery or firing (claimed and recorded with its
   * siblings), when it is held in one rather than in a row of its own.
   */
  fanoutId?: string;
}

/** A claimed work row; its event is stored (work whose event is gone never reaches a handler). */
export interface ClaimedWork extends ClaimedFields {
  eventId: string;
  event: EventInstance;
}

/**
 * A claimed work row tied to no event: a wait's notice that it timed out or was cancelled
 * (kind `resume`; see {@link WorkHandler.handleEventless}).
 */
export interface EventlessWork extends ClaimedFields {
  eventId: null;
  event: null;
}

/** A claimed row as the claim reads it: its event is missing when retention dropped it. */
export type ClaimedRow =
  | (Omit<ClaimedWork, 'event'> & { event: EventInstance | undefined })
  | EventlessWork;

/**
 * What a handler decided about one attempt; `outcome` is the record shown to users (firing
 * record, delivery outcome), of the handler's own type.
 * - `done`: attempted and finished.
 * - `skipped`: finished without an attempt (the target is gone or disabled, nothing to do).
 * - `filtered`: finished without an attempt: the target's filter refused the event.
 * - `retry`: failed in a way worth retrying, `delayMs` from now (dead once the attempts ran out).
 * - `dead`: retrying cannot help (e.g. the endpoint is refused): dead-letter now.
 * - `deferred`: not attempted now (paused, circuit open, an earlier trigger unfinished): given
 *   back for `delayMs`, the claim's attempt not counted.
 *
 * `logged`: the handler logged this attempt itself (the delivery log): once the work is done
 * its row is deleted instead of kept as a done row that would be written and never read. Dead
 * and retrying work keeps its row either way.
 */
export type WorkResult<O extends object = WorkOutcome> =
  | { kind: 'done'; outcome: O; logged?: boolean }
  | { kind: 'skipped'; outcome: O }
  | { kind: 'filtered'; outcome: O }
  | { kind: 'retry'; outcome: O; error: string; delayMs: number; logged?: boolean }
  | { kind: 'dead'; outcome: O; error: string; logged?: boolean }
  | { kind: 'deferred'; outcome: O; delayMs: number };

/** The least every outcome record is: a JSON object. */
export type WorkOutcome = object;

/** Bounds concurrent calls: the worker pool's lanes, shared by the rounds in flight. */
export type Lanes = <T>(call: () => Promise<T>) => Promise<T>;

/** Executes the work of one target kind, recording outcomes of type `O`. Must not throw for expected failures. */
export interface WorkHandler<O extends WorkOutcome = WorkOutcome> {
  kind: TargetKind;
  /** Called once per claimed batch before `handle` (e.g. to refresh cached targets). */
  prepare?(): Promise<void>;
  /**
   * Handles a round's rows of this kind together (e.g. one INSERT for many workflow starts,
   * firing an event's triggers in order, one read of the subscriptions); results in the order
   * of `works`. `lanes` bounds the concurrent calls the handler makes (requests in flight),
   * shared with the other rounds in flight.
   */
  handle(works: ClaimedWork[], lanes: Lanes): Promise<Array<WorkResult<O>>>;
  /**
   * Handles a round's rows of this kind that are tied to no event, as `handle` does; a kind
   * without it has none (such a row would be dead-lettered).
   */
  handleEventless?(works: EventlessWork[], lanes: Lanes): Promise<Array<WorkResult<O>>>;
  /** The record for work whose attempts ran out. */
  deadOutcome(lastOutcome: O, error: string): O;
  /** Told each result once it is recorded (metrics); not when the lease was lost meanwhile. */
  recorded?(result: WorkResult<O>): void;
  /** What a recorded outcome tells beyond its status (the console's flow rates); none by default. */
  counts?(outcome: O): OutcomeCounts;
}

/** What a recorded outcome tells beyond its status. */
export interface OutcomeCounts {
  /** The attempt failed though its work is done (a firing or derivation that failed for good). */
  failed: boolean;
  /**
   * The attempt passed something on: a trigger's started or cancelled workflows, a processor's
   * derived its output event (the flow map's edge beyond the target).
   */
  fired: boolean;
}

/** Wakes idle workers: new work was committed (by this instance or, on PostgreSQL, another). */
export interface WorkWaker {
  wake(): void;
  /**
   * The payload of the notification this instance's outbox commits send (`workNotifyCte`):
   * their commit wakes these workers in process already, so their listener skips it (the
   * echo would only make them claim a second time). The worker pool's id, whether it runs or
   * not; empty for a planner without workers (tests).
   */
  readonly instanceTag: string;
}

/** Events' routing work, planned against the targets of `targetsVersion`. */
export interface PlannedWork {
  rows: NewWork[];
  targetsVersion: number;
  /** What the commit writing them notifies with: see {@link WorkWaker.instanceTag}. */
  instanceTag: string;
}

/**
 * The writer → workers hand-off (routing/planner.ts implements it): the writer asks for the
 * work of the events it is about to commit (written in the same statement, the outbox), plans
 * again after `refresh` when the targets moved, and says when a commit added work.
 */
export interface RoutingHandOff {
  plan(events: NormalizedEvent[]): PlannedWork;
  refresh(db: Queryable): Promise<void>;
  /** A commit added work: idle workers look at once instead of at their next poll. */
  committed(): void;
}
