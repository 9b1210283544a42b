-- The commit-order horizon of this database (src/store/commit-order.ts): a transaction id below
-- which every transaction that can still add an event row to this database has ended. The wait
-- resolver, a wait's lookback and the live stream read events below it. It used to be
-- pg_snapshot_xmin(pg_current_snapshot()), which is server-wide: a transaction left open in
-- ANOTHER database of the same server held all of them back (and made CI flaky, where every
-- test file has a database of its own). This is the same bound without the transactions that
-- other databases' sessions run.
--
-- How: take the statement's snapshot S (the one the calling statement reads with: the function
-- is STABLE), then read which of S's running transactions belong to sessions of other
-- databases, and leave those out of the minimum:
--   least(xmax(S), own xid, min(xip(S) minus those of other databases)).
-- With nothing left out this is exactly pg_snapshot_xmin(S): xmin is the least of xip, the
-- own xid and xmax.
--
-- Why it is safe (nothing below it can still change, and what is below it is visible to S):
-- - A session writes only to the database it is connected to, for its whole life (there are
--   no cross-database writes; dblink or a foreign table opens a session of its own, in the
--   other database). So an xid of a session of another database never stamps an event here.
-- - Only xids positively seen in another database are left out. A running xid of S that ended
--   before the read, or whose owner is not found (unreadable, a system process, a prepared
--   transaction of this database), stays in: being wrong there only holds the horizon back,
--   as before.
-- - The read comes after S. pg_stat_activity is read into a per-transaction cache on first
--   use and kept until the transaction ends, so it is cleared first (pg_stat_clear_snapshot;
--   stats_fetch_consistency does not govern this cache): an earlier read in the same
--   transaction would predate S. The backend status array is copied slot by slot, each slot's
--   database before its xid, and a slot can be reused by a new session between the two; but
--   the xid such a reuse pairs with a stale database is assigned after the read began, after
--   S, so it is at or above xmax(S) and is not one of S's running xids. For the xids of S the
--   pairing is right.
-- - A prepared transaction keeps its database; pg_prepared_xact() is read after the sessions,
--   and PREPARE adds the prepared entry before it clears the session's xid, so a transaction
--   being prepared in another database is seen in one or the other.
-- - The horizon only moves forward, as pg_snapshot_xmin does, which the wait protocol and the
--   stream's catch-up rely on (src/waits/service.ts, src/stream/hub.ts): an xid below an
--   earlier horizon and running later was running at that earlier snapshot too, and was left
--   out then, so it belongs to another database and is left out again (its session still
--   shows it, or its prepared entry does).
-- backend_xid and datid are shown to every role (the query text is what needs
-- pg_read_all_stats), so this works for an unprivileged service role as well.
--
-- Cost: one copy of the backend status array per call (it grows with max_connections); see
-- README ("Waits") for the figures.
CREATE FUNCTION events_commit_horizon() RETURNS xid8
LANGUAGE plpgsql STABLE AS $$
DECLARE
  snapshot pg_snapshot := pg_current_snapshot();
  here oid := (SELECT oid FROM pg_database WHERE datname = current_database());
BEGIN
  PERFORM pg_stat_clear_snapshot();
  RETURN least(
    pg_snapshot_xmax(snapshot),
    pg_current_xact_id_if_assigned(),
    (SELECT min(running) FROM pg_snapshot_xip(snapshot) AS running
      WHERE running::xid NOT IN (
        SELECT session.backend_xid FROM pg_stat_get_activity(NULL) AS session
         WHERE session.datid <> here AND session.backend_xid IS NOT NULL
        UNION ALL
        SELECT prepared.transaction FROM pg_prepared_xact() AS prepared
         WHERE prepared.dbid <> here)));
END
$$;
