-- Retention (src/store/retention.ts) deletes waits that ended (resolved, timed out, cancelled)
-- by their end time, oldest first, in small batches: each batch finds them through this index.
CREATE INDEX waits_finished_idx ON waits (finished_at) WHERE status <> 'waiting';
