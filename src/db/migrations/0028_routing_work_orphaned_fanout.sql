-- A fan-out row (0027) finished by an instance still on the release before it: that release's
-- claim takes any due row, has no handler of kind `fanout`, and records the row dead ("no
-- handler for fanout work"). This release never leaves a fan-out row dead or done (it deletes
-- it and gives each delivery not delivered a row of its own), so any such row is an old
-- worker's, its deliveries not sent: the claim takes it back as due work through this index
-- (src/routing/work-store.ts, claimWork). Empty in steady state, so it costs next to nothing.
CREATE INDEX routing_work_orphaned_fanout_idx ON routing_work (id)
  WHERE kind = 'fanout' AND status IN ('done', 'dead');
