-- The (kind, target_id) index served only dead-letter reads (by subscription, newest first)
-- and requeues by target, yet every routing work row paid for it three times: at planning, at
-- claim and at completion (none of those updates can be HOT). Dead rows are the only ones
-- read by target, so the index now holds them alone.
DROP INDEX routing_work_target_idx;
CREATE INDEX routing_work_dead_idx ON routing_work (kind, target_id, updated_at DESC) WHERE status = 'dead';
