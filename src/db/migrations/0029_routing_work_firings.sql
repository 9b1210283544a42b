-- An event matching two workflow triggers or more gets one routing work row of kind `firings`
-- for all its trigger firings, as its deliveries share a `fanout` row (0027): `fanout` holds
-- them, `[{ "id", "targetId", "maxAttempts" }]` in firing order (each id the firing's own,
-- fixed at planning). Per firing, a row of its own was inserted, claimed and recorded: three
-- row versions with five index entries each (primary key, idempotency key, the due, lease or
-- finished index, and the two trigger indexes). The firings row is inserted and claimed with
-- three entries each and deleted when its firings are recorded; each firing then gets a row of
-- its own as before (src/routing/work-store.ts, completeWork): the firing history is unchanged.
ALTER TABLE routing_work DROP CONSTRAINT routing_work_fanout_check;
-- NOT VALID, as in 0027: the rows stored before were checked by the constraint it replaces.
ALTER TABLE routing_work ADD CONSTRAINT routing_work_fanout_check
  CHECK (CASE WHEN kind IN ('fanout', 'firings') THEN fanout IS NOT NULL AND target_id IS NULL
              ELSE fanout IS NULL AND target_id IS NOT NULL END)
  NOT VALID;
-- A firings row finished by an instance of an earlier release (a rolling upgrade) has not fired
-- its triggers, as for a fan-out row (0028): the claim takes it back through this index.
DROP INDEX routing_work_orphaned_fanout_idx;
CREATE INDEX routing_work_orphaned_fanout_idx ON routing_work (id)
  WHERE kind IN ('fanout', 'firings') AND status IN ('done', 'dead');
