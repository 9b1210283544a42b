-- An event matching two subscriptions or more gets one routing work row of kind `fanout` for
-- all its deliveries instead of one row per subscription (src/routing/planner.ts): `fanout`
-- holds them, `[{ "id", "targetId", "maxAttempts" }]` (each id the delivery's own, fixed at
-- planning), and the row has no single target. Per delivery, a row of its own cost PostgreSQL
-- an insert with its index entries, a claim that moved them and a delete; a fan-out row pays
-- that once per event. A delivery not finished at its first attempt (retrying, dead, deferred,
-- filtered, skipped) gets a row of its own then (src/routing/work-store.ts, completeWork).
-- NOT VALID: every row stored before has a target and no fan-out; new rows are checked.
ALTER TABLE routing_work ADD COLUMN fanout jsonb;
ALTER TABLE routing_work ALTER COLUMN target_id DROP NOT NULL;
ALTER TABLE routing_work ADD CONSTRAINT routing_work_fanout_check
  CHECK (CASE WHEN kind = 'fanout' THEN fanout IS NOT NULL AND target_id IS NULL
              ELSE fanout IS NULL AND target_id IS NOT NULL END)
  NOT VALID;
