import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Database, Queryable } from '../db/database.ts';
import { utcTimestampText } from '../db/database.ts';
import { createCredentialCipher } from '../delivery/credentials.ts';
import { parseAllowlist } from '../delivery/ip.ts';
import { newUuidV7 } from '../ids.ts';
import { storeEvents } from '../ingest/outbox.ts';
import { targetsVersion } from '../routing/work-store.ts';
import { type CommitPosition, currentPosition, readAfter } from '../store/commit-order.ts';
import { testBackends, useMigratedDatabase } from '../testing/backends.ts';
import { TestClock } from '../testing/clock.ts';
import { Waits } from './service.ts';

/**
 * The interleavings that could make a wait miss an event or resolve twice, driven step by step
 * on real PostgreSQL connections: each actor (a registration, a resolver round of one instance
 * or another, a publisher's transaction) runs the service's own code on a connection of its
 * own, and stops before the statement the test names until the test lets it go on. Where an
 * actor should block on a lock, the test sees it blocked in `pg_stat_activity` (wait event type
 * `Lock`, blocked by the other actor's backend) before it lets the other actor go on. Nothing
 * here depends on timing.
 *
 * The protocol (src/waits/service.ts) that makes resolution exactly once and race-free:
 * - Order. An event's position is (commit_xid, commit_seq): the id of the transaction that
 *   wrote it, taken at its first write, and a sequence. A snapshot's xmin H (the horizon) is
 *   below every transaction still running, including the reader's own, and every id handed out
 *   later is above it: the events below H are a final set. "First" means first in this order,
 *   the live stream's.
 * - Resolver round, one transaction: (r1) lock `wait_resolver` FOR UPDATE, read its position
 *   R; (r2) take the horizon H_r; (r3) read the events after R and below H_r, in order; (r4)
 *   read the open waits they could resolve (a statement snapshot taken after r1); (r5) resolve
 *   each with its first match — `UPDATE … WHERE status = 'waiting'`, the notification queued
 *   in the same transaction; (r6) move R to the end of what it read; commit.
 * - Registration, one transaction: (g1) lock `wait_resolver` FOR SHARE; (g2) insert the wait
 *   (window start = transaction start − lookback, the clock of `events.created_at`); (g3) take
 *   the horizon H_g; (g4) look back over the window's events below H_g, in order, and resolve
 *   with the first match as r5 does; (g5) read the wait as it left it, the registration's
 *   answer; commit. Read after the commit instead, the answer could show a round's resolution
 *   (the round waiting at r1 goes on as soon as g1 is released) as the registration's own.
 * - Nothing missed: r1 and g1 exclude each other. The last round committed before g1 was
 *   granted left R ≤ its H_r ≤ H_g (horizons only grow). Every later round is granted r1 only
 *   after the registration committed, so its r4 sees the wait, and it reads on from R. The
 *   lookback covers everything below H_g, the rounds everything after R: all of it, the events
 *   in (R, H_g) twice.
 * - The first match: both paths examine events in order with the same predicate. A lookback
 *   match is the first below H_g, and everything the rounds alone examine is above H_g; with no
 *   lookback match, nothing below H_g matches, and the rounds' pages follow each other in order.
 * - Once: a second resolution of a wait (a round reading the overlap, another instance's
 *   round, a cancel, a timeout) is an UPDATE of the same row: it waits for the first one's row
 *   lock, then finds the wait no longer `waiting` and changes nothing, so it queues no
 *   notification either. Two instances' rounds also take turns on r1, the second reading on
 *   from the R the first moved.
 *
 * Each test checks, after its interleaving and after the resolver passed every event committed
 * by then: the wait resolved exactly once (the registration's answer and the rounds' results
 * count one resolution between them), with the first matching event in commit order, and one
 * notification queued. PostgreSQL only: PGlite is one connection, so nothing interleaves there.
 */

const PATTERN = 'payment.failed';
const WAIT_POLL_MS = 5;
/** How long a named step may take to come (a guard against a hung test, not an ordering). */
const STEP_TIMEOUT_MS = 20_000;

/** A statement the service runs, by what names it (the SQL of src/waits/ and src/store/). */
const STATEMENT = {
  /** r1 / g1: the resolver position's lock. */
  lock: /FROM wait_resolver\s+FOR /,
  /** r2 / g3: the horizon. */
  horizon: /events_commit_horizon/,
  /** r5: a round's (or a lookback's) resolution. */
  resolve: /UPDATE waits w SET status = 'resolved'/,
  /** The end of the actor's transaction. */
  commit: /^COMMIT$/,
} as const;

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Fails after `ms` with `what`, so a step that never comes names itself instead of hanging. */
function within<T>(promise: Promise<T>, what: string, ms = STEP_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A point an actor stops at: `reached` once it is there, `go()` lets it on. */
interface Stop {
  reached: Promise<void>;
  go(): void;
}

/**
 * One actor: the service's database as one caller sees it, on a connection of its own per
 * transaction, stopping before the statements the test names (once each, in the order named).
 * Its transaction's backend pid is known, to see it blocked.
 */
class Actor {
  private readonly stops: Array<{ pattern: RegExp; reached: Deferred<void>; go: Deferred<void> }> =
    [];
  private backend = deferred<number>();
  /** Where its transaction stops once committed, before its caller goes on (see {@link stopAfterCommit}). */
  private afterCommit: { reached: Deferred<void>; go: Deferred<void> } | undefined;
  readonly db: Database;

  constructor(
    base: Database,
    readonly name: string,
  ) {
    this.db = {
      ...base,
      query: async <R>(sql: string, params?: unknown[]) => {
        await this.step(sql);
        return base.query<R>(sql, params);
      },
      transaction: async (fn) => {
        const result = await base.transaction(async (tx) => {
          const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          this.backend.resolve(rows[0]!.pid);
          const result = await fn(this.stepped(tx));
          await this.step('COMMIT');
          return result;
        });
        const stop = this.afterCommit;
        this.afterCommit = undefined;
        if (stop) {
          stop.reached.resolve();
          await stop.go.promise;
        }
        return result;
      },
    };
  }

  /**
   * Stops once its next transaction committed, before the code that ran it goes on: what that
   * code does after the commit (a read of what it wrote) then comes after whatever the test
   * lets other actors do meanwhile.
   */
  stopAfterCommit(): Stop {
    const stop = { reached: deferred(), go: deferred() };
    this.afterCommit = stop;
    return {
      reached: within(stop.reached.promise, `${this.name} committing`),
      go: () => stop.go.resolve(),
    };
  }

  /** Stops before the next statement matching `pattern`. */
  stopBefore(pattern: RegExp): Stop {
    const stop = { pattern, reached: deferred(), go: deferred() };
    this.stops.push(stop);
    return {
      reached: within(stop.reached.promise, `${this.name} reaching ${pattern}`),
      go: () => stop.go.resolve(),
    };
  }

  /** The backend pid of its (latest) transaction. */
  pid(): Promise<number> {
    return within(this.backend.promise, `${this.name} beginning its transaction`);
  }

  private stepped(tx: Queryable): Queryable {
    return {
      query: async <R>(sql: string, params?: unknown[]) => {
        await this.step(sql);
        return tx.query<R>(sql, params);
      },
      exec: (sql) => tx.exec(sql),
    };
  }

  private async step(sql: string): Promise<void> {
    const next = this.stops[0];
    if (!next?.pattern.test(sql.trim())) return;
    this.stops.shift();
    next.reached.resolve();
    await next.go.promise;
  }
}

describe.runIf(testBackends().some((b) => b.name === 'postgres'))(
  'wait registration and resolution, interleaved step by step on PostgreSQL',
  () => {
    const postgres = testBackends().find((b) => b.name === 'postgres')!;
    const test = useMigratedDatabase(postgres);
    const clock = new TestClock(new Date());
    const cipher = createCredentialCipher(Buffer.alloc(32, 7));
    let key = '';

    /** The service's waits on `db` (one instance of the service). */
    const waitsOn = (db: Database) =>
      new Waits({
        db,
        clock,
        egress: { allowlist: parseAllowlist('127.0.0.1') },
        cipher,
        definitionOfInstance: async () => undefined,
        executorOf: async () => undefined,
        maxLookbackMs: undefined,
        lookbackMaxEvents: 10_000,
      });
    const actor = (name: string) => {
      const a = new Actor(test.db(), name);
      return { actor: a, waits: waitsOn(a.db) };
    };

    /** Every resolution any path reported (registrations answering resolved, rounds). */
    let resolutions: Array<{ waitId: string; eventId: string; by: string }> = [];
    const register = async (
      by: Waits,
      {
        lookback = 'PT1H',
        correlationKey = key,
      }: { lookback?: string; correlationKey?: string } = {},
    ) => {
      const wait = await by.register({
        pattern: PATTERN,
        correlationKey,
        timeout: 'PT24H',
        ...(lookback === 'none' ? {} : { lookback }),
        condition: 'payload.ok == true',
        notify: { url: 'http://127.0.0.1:9/resume' },
      });
      if (wait.status === 'resolved' && wait.event)
        resolutions.push({ waitId: wait.id, eventId: wait.event.eventId, by: 'lookback' });
      return wait;
    };
    const round = async (by: Waits, name: string) => {
      const { resolved } = await by.resolveRound();
      for (const r of resolved) resolutions.push({ waitId: r.id, eventId: r.eventId, by: name });
      return resolved;
    };

    /**
     * A publisher's transaction with one event written by the outbox (its id taken), held open
     * until `commit()`.
     */
    async function publishHeld(payload: Record<string, unknown> = { ok: true }) {
      const eventId = randomUUID();
      const written = deferred();
      const commit = deferred();
      const now = new Date();
      const version = await targetsVersion(test.db());
      const done = test.db().transaction(async (tx) => {
        const stored = await storeEvents(
          tx,
          [
            {
              id: newUuidV7(),
              instance: {
                eventId,
                pattern: PATTERN,
                version: '1.0.0',
                timestamp: now.toISOString(),
                payload,
                metadata: { correlationId: key, tags: {} },
              },
              storedTimestamp: utcTimestampText(now),
              partitionKey: key,
              bodyHash: eventId,
              definitionId: randomUUID(),
              deprecated: false,
            },
          ],
          { rows: [], targetsVersion: version, instanceTag: '' },
          now,
        );
        if (stored.stale) throw new Error('routing targets changed under the test');
        written.resolve();
        await commit.promise;
      });
      await within(Promise.race([written.promise, done]), 'an event written');
      return {
        eventId,
        commit: async () => {
          commit.resolve();
          await done;
        },
      };
    }
    const publish = async (payload?: Record<string, unknown>) => {
      const event = await publishHeld(payload);
      await event.commit();
      return event.eventId;
    };

    /**
     * Where `actor` ends up: waiting at its lock of the resolver position for `holder`'s
     * transaction (seen in pg_stat_activity), waiting at another statement, or through
     * (`running` settled first).
     */
    async function blocksOn(
      actor: Actor,
      holder: Actor,
      running: Promise<unknown>,
    ): Promise<'blocked at its lock' | 'ran through' | `blocked at ${string}`> {
      const [pid, holderPid] = await Promise.all([actor.pid(), holder.pid()]);
      let settled = false;
      const settle = () => {
        settled = true;
      };
      running.then(settle, settle);
      const deadline = Date.now() + STEP_TIMEOUT_MS;
      while (Date.now() < deadline) {
        const { rows } = await test.db().query<{
          wait_event_type: string | null;
          query: string;
          by: number[];
        }>(
          `SELECT wait_event_type, query, pg_blocking_pids(pid) AS by FROM pg_stat_activity
            WHERE pid = $1`,
          [pid],
        );
        const row = rows[0];
        if (row?.wait_event_type === 'Lock' && row.by.includes(holderPid))
          return STATEMENT.lock.test(row.query) ? 'blocked at its lock' : `blocked at ${row.query}`;
        if (settled) return 'ran through';
        await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
      }
      throw new Error(`${actor.name} neither blocked on ${holder.name} nor finished`);
    }

    /** Resolver rounds (a plain instance) until every transaction begun before the call ended and was passed. */
    async function resolveCommitted(): Promise<void> {
      const plain = waitsOn(test.db());
      const xid = async (sql: string) =>
        BigInt((await test.db().query<{ xid: string }>(sql)).rows[0]!.xid);
      const target = await xid('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid');
      const deadline = Date.now() + 15_000;
      for (;;) {
        await round(plain, 'a later round');
        if ((await xid('SELECT position_xid::text AS xid FROM wait_resolver')) >= target) return;
        if (Date.now() > deadline)
          throw new Error(
            'the resolver did not pass the events committed before (the horizon held back)',
          );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }

    /** The outcome every interleaving must have: one resolution, by `eventId`, one notification. */
    async function expectResolvedOnceBy(waitId: string, eventId: string): Promise<void> {
      await resolveCommitted();
      const { rows } = await test
        .db()
        .query<{ status: string; event_id: string | null; first: string | null }>(
          `SELECT w.status, w.event_id,
                (SELECT e.event_id FROM events e
                  WHERE e.pattern = w.pattern AND e.metadata->>'correlationId' = w.correlation_key
                    AND e.created_at >= w.window_start AND (e.payload->>'ok')::boolean
                  ORDER BY e.commit_xid, e.commit_seq LIMIT 1) AS first
           FROM waits w WHERE w.id = $1`,
          [waitId],
        );
      expect(rows[0]).toEqual({ status: 'resolved', event_id: eventId, first: eventId });
      expect(resolutions.filter((r) => r.waitId === waitId)).toEqual([
        expect.objectContaining({ eventId }),
      ]);
      const work = await test
        .db()
        .query<{ event_id: string }>(
          `SELECT event_id FROM routing_work WHERE kind = 'resume' AND target_id = $1`,
          [waitId],
        );
      expect(work.rows).toEqual([{ event_id: eventId }]);
    }

    /** A transaction on `db` holding a transaction id, open until `release()`. */
    async function holdTransaction(db: Database) {
      const taken = deferred<string>();
      const release = deferred();
      const done = db.transaction(async (tx) => {
        const { rows } = await tx.query<{ xid: string }>(
          'SELECT pg_current_xact_id()::text AS xid',
        );
        taken.resolve(rows[0]!.xid);
        await release.promise;
      });
      const xid = BigInt(await within(taken.promise, 'a transaction id taken'));
      return {
        xid,
        release: async () => {
          release.resolve();
          await done;
        },
      };
    }
    const eventXid = async (eventId: string) => {
      const { rows } = await test
        .db()
        .query<{ xid: string }>('SELECT commit_xid::text AS xid FROM events WHERE event_id = $1', [
          eventId,
        ]);
      return BigInt(rows[0]!.xid);
    };
    /** The ids of the events the live stream's read finds after `from` now. */
    const streamRead = async (from: CommitPosition) =>
      (await readAfter(test.db(), from, { where: [], params: [] }, 1000)).map(
        (e) => e.event.eventId,
      );

    beforeEach(async () => {
      key = `order-${randomUUID()}`;
      resolutions = [];
    });

    it('an event committed after the registration locked and before its horizon: resolved once, by the lookback or else the next round, never by both', async () => {
      const event = await publishHeld();
      const registration = actor('registration');
      const atHorizon = registration.actor.stopBefore(STATEMENT.horizon);
      const registered = register(registration.waits);
      await atHorizon.reached;
      await event.commit();
      atHorizon.go();
      const wait = await registered;
      await expectResolvedOnceBy(wait.id, event.eventId);
    });

    it('an event in flight at the horizon and committed before the registration commits: the resolver resolves it', async () => {
      const event = await publishHeld();
      const registration = actor('registration');
      const atCommit = registration.actor.stopBefore(STATEMENT.commit);
      const registered = register(registration.waits);
      await atCommit.reached;
      await event.commit();
      atCommit.go();
      const wait = await registered;
      // Still running at the horizon: the lookback cannot have seen it.
      expect(wait.status).toBe('waiting');
      await expectResolvedOnceBy(wait.id, event.eventId);
    });

    it('an event in flight through the whole registration, committed after it: the resolver resolves it', async () => {
      const event = await publishHeld();
      const wait = await register(waitsOn(test.db()));
      expect(wait.status).toBe('waiting');
      await event.commit();
      await expectResolvedOnceBy(wait.id, event.eventId);
    });

    it('an event begun and committed inside the registration, after its horizon (no lookback): the resolver resolves it', async () => {
      const registration = actor('registration');
      const atCommit = registration.actor.stopBefore(STATEMENT.commit);
      const registered = register(registration.waits, { lookback: 'none' });
      await atCommit.reached;
      const eventId = await publish();
      atCommit.go();
      const wait = await registered;
      expect(wait.status).toBe('waiting');
      await expectResolvedOnceBy(wait.id, eventId);
    });

    /**
     * A registration stopped before its commit, an event committed meanwhile (which it cannot
     * see), and a resolver round started then, blocked at the registration's lock.
     */
    const roundBlockedByARegistration = async () => {
      const event = await publishHeld();
      const registration = actor('registration');
      const atCommit = registration.actor.stopBefore(STATEMENT.commit);
      const registered = register(registration.waits);
      await atCommit.reached;
      await event.commit();
      const resolver = actor('resolver');
      const rounding = round(resolver.waits, 'the blocked round');
      const blocked = await blocksOn(resolver.actor, registration.actor, rounding);
      return { event, registration, atCommit, registered, rounding, blocked };
    };

    it('a round started while a registration holds its lock waits for it, then resolves the wait with the event committed meanwhile', async () => {
      const { event, atCommit, registered, rounding, blocked } =
        await roundBlockedByARegistration();
      atCommit.go();
      const wait = await registered;
      await rounding;
      await expectResolvedOnceBy(wait.id, event.eventId);
      // Without the lock the round would have passed the event before the wait existed for it.
      expect(blocked).toBe('blocked at its lock');
    });

    it('a round let through by the registration’s commit resolves the wait before the registration answers: the answer is what the registration did (waiting), and the wait resolves once', async () => {
      const { event, registration, atCommit, registered, rounding, blocked } =
        await roundBlockedByARegistration();
      const committed = registration.actor.stopAfterCommit();
      atCommit.go();
      await committed.reached;
      // The round, granted its lock by that commit, resolves the wait and commits before the
      // registration's code goes on: the order the test above leaves to chance.
      expect(await rounding).toEqual([expect.objectContaining({ eventId: event.eventId })]);
      committed.go();
      const wait = await registered;
      // The lookback could not see the event (still running at its horizon): the answer must not
      // pass the round's resolution off as the registration's own.
      expect(wait.status).toBe('waiting');
      await expectResolvedOnceBy(wait.id, event.eventId);
      expect(blocked).toBe('blocked at its lock');
    });

    it('a registration arriving while a round holds the position waits for it; the events both then examine resolve the wait once', async () => {
      // An open wait of another key, so the round reads the events rather than only moving on.
      await register(waitsOn(test.db()), { correlationKey: `other-${key}` });
      const event = await publishHeld();
      const resolver = actor('resolver');
      const atHorizon = resolver.actor.stopBefore(STATEMENT.horizon);
      const atCommit = resolver.actor.stopBefore(STATEMENT.commit);
      const rounding = round(resolver.waits, 'the first round');
      await atHorizon.reached;
      const registration = actor('registration');
      const registered = register(registration.waits);
      const blocked = await blocksOn(registration.actor, resolver.actor, registered);
      atHorizon.go();
      await atCommit.reached;
      // After the round's horizon: the round leaves its position below this event, the
      // registration's horizon is above it, so the lookback and the next round both examine it.
      await event.commit();
      atCommit.go();
      await rounding;
      const wait = await registered;
      await expectResolvedOnceBy(wait.id, event.eventId);
      expect(blocked).toBe('blocked at its lock');
    });

    it('two instances’ rounds racing for one wait: the second waits for the first, and the wait resolves once', async () => {
      const wait = await register(waitsOn(test.db()));
      const eventId = await publish();
      const first = actor('first instance');
      const atHorizon = first.actor.stopBefore(STATEMENT.horizon);
      const firstRound = round(first.waits, 'the first instance');
      await atHorizon.reached;
      const second = actor('second instance');
      const secondRound = round(second.waits, 'the second instance');
      const blocked = await blocksOn(second.actor, first.actor, secondRound);
      atHorizon.go();
      await Promise.all([firstRound, secondRound]);
      await expectResolvedOnceBy(wait.id, eventId);
      expect(blocked).toBe('blocked at its lock');
    });

    it('the first matching event in commit order wins, even when a later one committed before it', async () => {
      const first = await publishHeld();
      // A second matching event, positioned after the first and committed before it.
      await publish();
      const wait = await register(waitsOn(test.db()));
      // The first is still running at the registration's horizon, so the second (above it) is
      // not looked at either: looking back past a running transaction would pick the second.
      expect(wait.status).toBe('waiting');
      await first.commit();
      await expectResolvedOnceBy(wait.id, first.eventId);
    });
    it('a transaction open in another database of the server holds back neither a resolution nor the stream', async () => {
      const other = await postgres.create();
      const otherDb = await other.open();
      const foreign = await holdTransaction(otherDb);
      try {
        const from = await currentPosition(test.db());
        const wait = await register(waitsOn(test.db()));
        const eventId = await publish();
        // The server-wide xmin is held below the event: what the resolver and the stream used
        // to read up to.
        const { rows } = await test
          .db()
          .query<{ xmin: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin');
        expect(BigInt(rows[0]!.xmin)).toBeLessThanOrEqual(foreign.xid);
        expect(await eventXid(eventId)).toBeGreaterThan(foreign.xid);
        // Resolved, and read by the stream, while the other database's transaction is open.
        await expectResolvedOnceBy(wait.id, eventId);
        expect(await streamRead(from)).toContain(eventId);
      } finally {
        await foreign.release();
        await otherDb.close();
        await other.destroy();
      }
    });

    it('a transaction open in this database holds back the resolution and the stream until it ends', async () => {
      const from = await currentPosition(test.db());
      const local = await holdTransaction(test.db());
      let wait: { id: string };
      let eventId: string;
      try {
        wait = await register(waitsOn(test.db()));
        eventId = await publish();
        expect(await eventXid(eventId)).toBeGreaterThan(local.xid);
        await round(waitsOn(test.db()), 'a round while it is open');
        const { rows } = await test
          .db()
          .query<{ status: string }>('SELECT status FROM waits WHERE id = $1', [wait.id]);
        expect(rows[0]?.status).toBe('waiting');
        expect(await streamRead(from)).not.toContain(eventId);
      } finally {
        await local.release();
      }
      await expectResolvedOnceBy(wait.id, eventId);
      expect(await streamRead(from)).toContain(eventId);
    });
  },
);
