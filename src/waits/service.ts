import { v5 as uuidv5 } from 'uuid';
import type { Clock } from '../clock.ts';
import type { Database, Queryable } from '../db/database.ts';
import type { CredentialCipher } from '../delivery/credentials.ts';
import { checkEndpointUrl, EgressDeniedError, type EgressOptions } from '../delivery/egress.ts';
import { generateSecret, secretKey } from '../delivery/signature.ts';
import {
  AppError,
  conflict,
  type ErrorDetail,
  fieldError,
  notFound,
  validationError,
} from '../errors.ts';
import type { EventInstance } from '../events/event.ts';
import { isUuid, newUuidV7 } from '../ids.ts';
import { DEFAULT_RETRY_POLICY } from '../routing/retry.ts';
import type { WorkOutcome, WorkStatus } from '../routing/work.ts';
import {
  deadWork,
  type EventIdOf,
  latestWorkOfTarget,
  queueEventlessWork,
  queueWork,
  requeueDead,
  type WorkRecord,
} from '../routing/work-store.ts';
import {
  committedSinceConditions,
  currentPosition,
  eventsAt,
  isAfter,
  newestPlaces,
  type PositionedEvent,
  readAfter,
} from '../store/commit-order.ts';
import {
  advanceResolver,
  anyOpenWait,
  type Ended,
  findWait,
  finishWait,
  insertWait,
  listWaits,
  lockResolverPosition,
  narrowWindow,
  openKeyPaths,
  openWaitsOf,
  type Resolution,
  type Resolved,
  resolveWaits,
  timeOutWaits,
  type WaitFilters,
  type WaitKey,
} from './repository.ts';
import { secretAad } from './resume.ts';
import {
  type Checked,
  checkWaitInput,
  isSent,
  RuleCompiler,
  type Wait,
  type WaitInput,
  type WaitNotify,
  type WaitRule,
  type WaitSpec,
} from './wait.ts';

/** The instance a START trigger's firing started, and what its waits are keyed by. */
export interface StartedInstance {
  /** The firing's idempotency key (its start's): the waits' ids derive from it. */
  firingKey: string;
  workflowInstanceId: string;
  workflowDefinitionId: string;
  /** The firing's correlation key. */
  correlationKey: string;
  /** The trigger's key path (null: metadata.correlationId), the waits' default. */
  correlationKeyPath: string | null;
}

/** Namespace of the name-based (v5) ids of the waits START triggers register. */
const WAIT_FOR_NAMESPACE = 'c8d6b0a2-5f3e-4e8b-9a51-7d2f0c4e9b13';

/**
 * Waits: "resolve with the first committed event of this pattern and correlation key whose
 * condition holds, or time out".
 *
 * Why it is exactly once and race-free. Events are matched against waits in one order, the
 * commit order of the live stream (store/commit-order.ts: `(commit_xid, commit_seq)`, read only
 * below the horizon — the snapshot's xmin without other databases' transactions — so no event
 * is passed that commits later with a smaller position). The resolver keeps a position R in that order (`wait_resolver`): every event up to
 * R has been matched against every wait that existed when it was. Two paths resolve a wait, and
 * each covers one side of R:
 * - the resolver, holding `wait_resolver` FOR UPDATE, reads the events after R (up to the horizon
 *   it took first), matches them against the open waits — found by pattern and key through an
 *   index, never by scanning every open wait — and moves R on, all in one transaction;
 * - a registration, holding `wait_resolver` FOR SHARE, inserts the wait and, in the same
 *   transaction, looks back over every event below the horizon X it takes after the lock
 *   (all ended, so all visible to it), in commit order — at most `WAITS_LOOKBACK_MAX_EVENTS`
 *   of them: a window holding more starts later, for both paths (see `lookBack`).
 * The locks exclude each other. A resolver round that ran before the registration took its lock
 * left R at most at its own horizon, which is at most X (horizons only move forward); every round after it starts once the
 * registration committed and sees the wait. So every event is examined for the wait by one of
 * the paths, the ones in (R, X] by both. Both decide alike — the same predicate, the same order,
 * the first match — so the lookback finds the first match up to X if there is one, and when it
 * finds none, neither does the resolver up to X: nothing is missed, and the resolver never
 * resolves with a later event than the lookback would. A resolution is an update of a row still
 * `waiting`, so a wait resolves once, whatever a concurrent cancel or timeout does. Whether an
 * event counts at all is decided the same way on both paths: its `created_at` (its
 * transaction's start, the database clock) is at or after the wait's window start
 * (registration − lookback, by the same clock). An event that commits before the registration
 * answers but after its snapshot resolves the wait in the resolver's next round.
 *
 * This is the routing work's outbox seen from the other side: the writer's statement stays as
 * it is (no lock, no extra read per event), and matching happens once the events are in commit
 * order. The price is latency: one resolver round after the commit (see `WAITS_POLL_INTERVAL_MS`).
 * Registrations are many at once (shared locks); a resolver round pauses them for its length.
 */
export interface WaitsDeps {
  db: Database;
  clock: Clock;
  egress: EgressOptions;
  cipher: CredentialCipher;
  /** The workflow definition of a builtin executor's instance (a wait may notify it), if any. */
  definitionOfInstance(instanceId: string): Promise<string | undefined>;
  /**
   * The executor of a workflow definition, if it exists: the kinds a wait tells apart (those
   * of src/workflows/model.ts, named here because workflows build on waits, not under them).
   */
  executorOf(definitionId: string): Promise<'builtin' | 'http' | undefined>;
  /** The event retention, which bounds a lookback (none: unbounded). */
  maxLookbackMs: number | undefined;
  /** Most events one registration's lookback examines (`WAITS_LOOKBACK_MAX_EVENTS`). */
  lookbackMaxEvents: number;
}

/** How a wait's notification (routing work of kind `resume`) went. */
export interface Notification {
  status: WorkStatus;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: string | null;
  outcome: object | null;
}

/** A notification's work row as a wait shows it. */
function notificationOf(work: WorkRecord<WorkOutcome, EventIdOf<'resume'>>): Notification {
  return {
    status: work.status,
    attempts: work.attempts,
    lastError: work.last_error,
    nextAttemptAt: work.status === 'pending' ? work.next_attempt_at.toISOString() : null,
    outcome: work.outcome,
  };
}

/** Events one resolver round reads at most. */
const ROUND_EVENTS = 500;
/** Full rounds one periodic run goes through at most before pausing. */
const MAX_ROUNDS_PER_RUN = 20;
/** Events one registration's lookback reads per statement. */
const LOOKBACK_PAGE = 500;
/** Waits one timeout pass ends at most per statement. */
const TIMEOUT_BATCH = 1000;

export class Waits {
  constructor(private readonly deps: WaitsDeps) {}

  /**
   * Registers a wait; resolved at once when the lookback finds its event. A `lookback_truncated`
   * warning says the lookback window held more events than it examines (see {@link lookBack}).
   */
  async register(input: WaitInput): Promise<Wait & { warnings?: ErrorDetail[] }> {
    const checked = checkWaitInput(input, this.deps.maxLookbackMs);
    const id = newUuidV7();
    const notify = await this.notifyToStore(id, input.notify);
    const { warnings, wait } = await this.deps.db.transaction(async (tx) => {
      const warnings = await this.store(tx, [
        { id, checked, notify: notify.stored, lookbackField: 'lookback' },
      ]);
      // Read in the registration's own transaction, not after it: the answer is what this
      // registration did. Read after the commit, it could show the resolution of a resolver
      // round that was waiting for this registration's lock (a round resolves the wait with an
      // event committed after the lookback's horizon) and pass it off as the lookback's, so
      // one resolution would be reported twice: by the 201 and by the round.
      return { warnings, wait: await findWait(tx, id) };
    });
    if (!wait) throw new Error('a registered wait was not found');
    const shown =
      notify.generated && 'url' in wait.notify
        ? { ...wait, notify: { ...wait.notify, secret: notify.generated } }
        : wait;
    return warnings.length > 0 ? { ...shown, warnings } : shown;
  }

  /**
   * Registers the waits a START trigger declares (`waitFor`) for the instance its firing
   * started, keyed by the firing's correlation key. Their ids derive from the firing's
   * idempotency key (the start's own), so a firing retried after it registered them (a crash
   * before its outcome was recorded, a failure after the start) registers none twice: the
   * second insert of an id is no insert. Answers the waits' ids, and a `lookback_truncated`
   * warning (field `waitFor[i].lookback`) for each whose lookback was narrowed.
   */
  async registerOnStart(
    specs: readonly WaitSpec[],
    start: StartedInstance,
  ): Promise<{ waitIds: string[]; warnings: ErrorDetail[] }> {
    const executor = await this.deps.executorOf(start.workflowDefinitionId);
    const notify: WaitNotify =
      executor === 'http'
        ? {
            workflowInstanceId: start.workflowInstanceId,
            workflowDefinitionId: start.workflowDefinitionId,
          }
        : { workflowInstanceId: start.workflowInstanceId };
    const waits = specs.map((spec, i) => ({
      id: uuidv5(`${start.firingKey}:waitFor:${i}`, WAIT_FOR_NAMESPACE),
      // Checked when the trigger was written; the retention bounds a lookback by itself here.
      checked: checkWaitInput(
        {
          ...spec,
          correlationKey: start.correlationKey,
          correlationKeyPath: spec.correlationKeyPath ?? start.correlationKeyPath,
        },
        undefined,
      ),
      notify,
      lookbackField: `waitFor[${i}].lookback`,
    }));
    const warnings = await this.deps.db.transaction((tx) => this.store(tx, waits));
    return { waitIds: waits.map((w) => w.id), warnings };
  }

  /**
   * Inserts waits (an id already stored is skipped) and, in the caller's transaction `tx` under
   * the resolver position's shared lock, looks back for each new one (see the class comment).
   * Answers the warnings of lookbacks that examined only part of their window.
   */
  private async store(
    tx: Queryable,
    waits: Array<{
      id: string;
      checked: Checked<WaitSpec & { correlationKey: string }>;
      notify: WaitNotify;
      /** The field a `lookback_truncated` warning names. */
      lookbackField: string;
    }>,
  ): Promise<ErrorDetail[]> {
    const now = this.deps.clock.now();
    await lockResolverPosition(tx, 'share');
    const warnings: ErrorDetail[] = [];
    for (const { id, checked, notify, lookbackField } of waits) {
      const rule = await insertWait(
        tx,
        {
          id,
          pattern: checked.pattern,
          condition: checked.condition ?? null,
          correlationKey: checked.correlationKey,
          keyPath: checked.correlationKeyPath ?? '',
          timeout: checked.timeout,
          lookback: checked.lookback ?? null,
          lookbackMs: checked.lookbackMs,
          expiresAt: new Date(now.getTime() + checked.timeoutMs),
          notify,
          // Only a builtin instance's id is this service's (a uuid it lists waits by).
          workflowInstanceId: isSent(notify) ? null : notify.workflowInstanceId,
        },
        now,
      );
      if (!rule) continue;
      const found = await lookBack(tx, rule, this.deps.lookbackMaxEvents);
      if (found.event) await resolve(tx, [{ waitId: id, event: found.event }], now);
      if (found.narrowedTo)
        warnings.push(truncated(lookbackField, this.deps.lookbackMaxEvents, found.narrowedTo));
    }
    return warnings;
  }

  /** A wait, with how its notification went when it sends one (a URL). */
  async get(id: string): Promise<Wait & { notification?: Notification }> {
    const wait = isUuid(id) ? await findWait(this.deps.db, id) : undefined;
    if (!wait) throw notFound(`wait ${id}`);
    const work = await latestWorkOfTarget(this.deps.db, 'resume', id);
    return work ? { ...wait, notification: notificationOf(work) } : wait;
  }

  /** Dead notifications of every wait, most recently dead first: what to retry. */
  async deadNotifications(query: {
    limit: number;
    offset: number;
  }): Promise<Array<Notification & { waitId: string; eventId: string | null; updatedAt: string }>> {
    const rows = await deadWork<WorkOutcome, 'resume'>(this.deps.db, { kind: 'resume', ...query });
    return rows.map((work) => ({
      waitId: work.target_id,
      eventId: work.event_id,
      ...notificationOf(work),
      updatedAt: work.updated_at.toISOString(),
    }));
  }

  /** Sends a dead-lettered notification again, with fresh attempts. */
  async retryNotification(id: string): Promise<void> {
    if (!isUuid(id) || !(await findWait(this.deps.db, id))) throw notFound(`wait ${id}`);
    const requeued = await requeueDead(
      this.deps.db,
      { kind: 'resume', targetId: id },
      this.deps.clock.now(),
    );
    if (requeued === 0) throw conflict('the notification of this wait is not dead-lettered');
  }

  list(filters: WaitFilters): Promise<{ waits: Wait[]; total: number }> {
    return listWaits(this.deps.db, filters);
  }

  /**
   * Cancels a waiting wait, queueing its notice in the same transaction; one that already ended
   * (a resolution or timeout came first) is a 409 saying how.
   */
  async cancel(id: string): Promise<Wait> {
    const now = this.deps.clock.now();
    const result = isUuid(id)
      ? await this.deps.db.transaction(async (tx) => {
          const finished = await finishWait(tx, id, 'cancelled', now);
          if (finished?.ended) await noticeEnded(tx, [finished.ended], now);
          return finished;
        })
      : undefined;
    if (!result) throw notFound(`wait ${id}`);
    if (!result.ended)
      throw conflict(`the wait is ${result.wait.status}; only a waiting wait can be cancelled`);
    return result.wait;
  }

  /**
   * One resolver round: matches the events committed since the last round against the open
   * waits, then times out the waits whose timeout passed (after the events, so an event
   * committed before a round is matched before that round's timeouts). Answers how many events
   * it read; a full round means more may be waiting.
   */
  async resolveRound(): Promise<{ events: number; resolved: Resolved[]; timedOut: number }> {
    const now = this.deps.clock.now();
    const { events, resolved } = await this.deps.db.transaction(async (tx) => {
      const position = await lockResolverPosition(tx, 'exclusive');
      const end = await currentPosition(tx);
      if (!(await anyOpenWait(tx))) {
        await advanceResolver(tx, end);
        return { events: 0, resolved: [] };
      }
      const page = await readAfter(tx, position, { where: [], params: [] }, ROUND_EVENTS, end);
      const last = page.at(-1);
      await advanceResolver(tx, page.length < ROUND_EVENTS || !last ? end : last.position);
      return {
        events: page.length,
        resolved: await resolve(tx, await firstMatches(tx, page), now),
      };
    });
    return { events, resolved, timedOut: await this.timeOut(now) };
  }

  /**
   * Times out up to a batch of the waits whose timeout passed by `now`, queueing their notices in
   * the same transaction; answers how many it ended. It takes no resolver lock: a resolution,
   * cancel or other pass ending a wait at the same time ends it first or finds it ended.
   */
  timeOut(now: Date): Promise<number> {
    return this.deps.db.transaction(async (tx) => {
      const ended = await timeOutWaits(tx, now, TIMEOUT_BATCH);
      await noticeEnded(tx, ended, now);
      return ended.length;
    });
  }

  /** Resolver rounds until one is not full (bounded, so a backlog cannot hold one run forever). */
  async resolveRounds(): Promise<void> {
    for (let round = 0; round < MAX_ROUNDS_PER_RUN; round++) {
      if ((await this.resolveRound()).events < ROUND_EVENTS) return;
    }
  }

  /**
   * A workflow instance to notify: one of an http engine when its definition says so (the
   * engine's id taken as it is), else a builtin instance, which must exist (and belong to the
   * definition, when one is named). A 404 names the field that found nothing.
   */
  private async instanceToStore({
    workflowInstanceId,
    workflowDefinitionId,
  }: {
    workflowInstanceId: string;
    workflowDefinitionId?: string;
  }): Promise<WaitNotify> {
    if (workflowDefinitionId !== undefined) {
      const executor = isUuid(workflowDefinitionId)
        ? await this.deps.executorOf(workflowDefinitionId)
        : undefined;
      if (executor === undefined)
        throw notFoundAt(
          'notify.workflowDefinitionId',
          `workflow definition ${workflowDefinitionId}`,
        );
      if (executor === 'http') return { workflowInstanceId, workflowDefinitionId };
    }
    const owner = isUuid(workflowInstanceId)
      ? await this.deps.definitionOfInstance(workflowInstanceId)
      : undefined;
    if (
      owner === undefined ||
      (workflowDefinitionId !== undefined && owner !== workflowDefinitionId)
    )
      throw notFoundAt('notify.workflowInstanceId', `workflow instance ${workflowInstanceId}`);
    return { workflowInstanceId };
  }

  /** The notification target as stored: a URL checked by the egress guard, its secret sealed. */
  private async notifyToStore(
    id: string,
    notify: WaitInput['notify'],
  ): Promise<{ stored: WaitNotify; generated: string | undefined }> {
    if ('workflowInstanceId' in notify)
      return { stored: await this.instanceToStore(notify), generated: undefined };
    try {
      await checkEndpointUrl(notify.url, this.deps.egress);
    } catch (error) {
      if (error instanceof EgressDeniedError)
        throw validationError('wait is invalid', [error.toDetail('notify.url')]);
      throw error;
    }
    let { secret } = notify;
    if (secret === undefined) secret = generateSecret();
    else {
      try {
        secretKey(secret);
      } catch (error) {
        throw validationError('wait is invalid', [
          fieldError('notify.secret', 'invalid', (error as Error).message),
        ]);
      }
    }
    return {
      stored: { url: notify.url, secret: this.deps.cipher.encrypt(secret, secretAad(id)) },
      // Shown once when the service made it up; a secret the caller chose they know already.
      generated: notify.secret === undefined ? secret : undefined,
    };
  }
}

/** A 404 whose detail names the field that found nothing. */
const notFoundAt = (field: string, what: string) =>
  new AppError(404, 'not_found', `${what} not found`, [
    fieldError(field, 'not_found', 'nothing has this id'),
  ]);

/**
 * Resolves waits still waiting and, in the same transaction, queues the notification of those
 * that name a URL or an http engine's instance as routing work (ResumeHandler): sent, retried
 * and dead-lettered like a delivery, once per wait.
 */
async function resolve(tx: Queryable, resolutions: Resolution[], now: Date): Promise<Resolved[]> {
  const resolved = await resolveWaits(tx, resolutions, now);
  await queueWork(
    tx,
    notificationsOf(resolved, (r) => ({ eventId: r.eventId })),
    now,
  );
  return resolved;
}

/**
 * Queues, in the transaction that ended them, the notice of waits that timed out or were
 * cancelled and name a URL or an http engine's instance: the same `resume` work as a
 * resolution's (ResumeHandler), sent with `event: null`, retried and dead-lettered alike. It is
 * tied to no event, so it is keyed by the wait and how it ended; a wait ends once (every ending
 * is an update of a row still `waiting`), so it gets one notification, whichever ending won.
 */
async function noticeEnded(tx: Queryable, ended: Ended[], now: Date): Promise<void> {
  await queueEventlessWork(
    tx,
    notificationsOf(ended, (e) => ({ reason: e.status })),
    now,
  );
}

/**
 * The `resume` work notifying those of `waits` that are sent (a URL or an http engine's
 * instance; a builtin instance's are only recorded), each keyed by what `keyOf` adds: the
 * resolving event, or how an eventless ending came about.
 */
function notificationsOf<W extends Resolved | Ended, K extends object>(
  waits: W[],
  keyOf: (wait: W) => K,
): Array<{ kind: 'resume'; targetId: string; maxAttempts: number } & K> {
  return waits
    .filter((wait) => isSent(wait.notify))
    .map((wait) => ({
      kind: 'resume' as const,
      targetId: wait.id,
      maxAttempts: DEFAULT_RETRY_POLICY.maxAttempts,
      ...keyOf(wait),
    }));
}

/**
 * The first event in `rule`'s window, in commit order, that resolves it, among those whose
 * transactions ended before this registration's snapshot (the resolver takes the rest). The
 * event's key path and condition are checked here, not in SQL, so every event of the pattern in
 * the window is a candidate (with metadata.correlationId, only the key's). Bounded work: the
 * places of the newest `maxEvents + 1` candidates are read through an index, newest first; then
 * those events, in commit order, in pages through the primary key, until one resolves the wait.
 * When the window holds more than `maxEvents`, it is narrowed to the newest `maxEvents` — stored
 * as the wait's window start, so the resolver counts from there too and nothing between the
 * window and the registration is skipped — and `narrowedTo` says from when. A registration never
 * fails on how busy a pattern is; what is older is left out, as a lookback past the retention.
 * EXPLAIN ANALYZE on PostgreSQL (400,000 events in three daily partitions, 108,000 of the
 * pattern in a 24 h window, load average 16): the places are 10,001 entries of backward index
 * scans, one per partition, merged (38 ms); a page of 500 events by primary key, 8 ms. Before,
 * each of 20 pages read and sorted the whole window (sequential scans, 300-475 ms a page).
 */
async function lookBack(
  tx: Queryable,
  rule: WaitRule,
  maxEvents: number,
): Promise<{ event: EventInstance | undefined; narrowedTo: Date | undefined }> {
  const below = await currentPosition(tx);
  const places = await newestPlaces(
    tx,
    committedSinceConditions({
      pattern: rule.pattern,
      since: rule.windowStart,
      ...(rule.keyPath === '' ? { correlationId: rule.correlationKey } : {}),
    }),
    below,
    maxEvents + 1,
  );
  const beyond = places[maxEvents];
  // Commit times compare as JavaScript Dates (milliseconds) on both paths: starting at the next
  // millisecond leaves out every event committed when the first one left out was.
  const narrowedTo = beyond && new Date(beyond.committedAt.getTime() + 1);
  if (narrowedTo) await narrowWindow(tx, rule.id, narrowedTo);
  const window = { ...rule, windowStart: narrowedTo ?? rule.windowStart };
  const candidates = places
    .filter((place) => place.committedAt >= window.windowStart)
    .sort((a, b) => (isAfter(a.position, b.position) ? 1 : -1));
  const compiler = new RuleCompiler();
  for (let start = 0; start < candidates.length; start += LOOKBACK_PAGE) {
    const events = await eventsAt(tx, candidates.slice(start, start + LOOKBACK_PAGE));
    const found = events.find((e) => compiler.resolves(window, e.event, e.committedAt));
    if (found) return { event: found.event, narrowedTo };
  }
  return { event: undefined, narrowedTo };
}

/** The warning of a lookback narrowed to its newest `maxEvents` events. */
const truncated = (field: string, maxEvents: number, from: Date): ErrorDetail =>
  fieldError(
    field,
    'lookback_truncated',
    `more than ${maxEvents} events of the pattern were committed in the lookback window; only the newest ${maxEvents}, committed from ${from.toISOString()}, were examined (WAITS_LOOKBACK_MAX_EVENTS), and the wait counts events from then`,
  );

/** For each open wait some event of `page` resolves, the first such event (commit order). */
async function firstMatches(tx: Queryable, page: PositionedEvent[]): Promise<Resolution[]> {
  if (page.length === 0) return [];
  const compiler = new RuleCompiler();
  const keyPaths = await openKeyPaths(tx);
  const keys: WaitKey[] = [];
  for (const { event } of page) {
    for (const keyPath of keyPaths) {
      const correlationKey = compiler.keyOf(keyPath, event);
      if (correlationKey !== undefined)
        keys.push({ pattern: event.pattern, keyPath, correlationKey });
    }
  }
  const byKey = new Map<string, WaitRule[]>();
  for (const rule of await openWaitsOf(tx, keys)) {
    const key = JSON.stringify([rule.pattern, rule.keyPath, rule.correlationKey]);
    byKey.set(key, [...(byKey.get(key) ?? []), rule]);
  }
  const resolutions = new Map<string, Resolution>();
  for (const { event, committedAt } of page) {
    for (const keyPath of keyPaths) {
      const key = JSON.stringify([event.pattern, keyPath, compiler.keyOf(keyPath, event)]);
      for (const rule of byKey.get(key) ?? []) {
        if (!resolutions.has(rule.id) && compiler.resolves(rule, event, committedAt))
          resolutions.set(rule.id, { waitId: rule.id, event });
      }
    }
  }
  return [...resolutions.values()];
}
