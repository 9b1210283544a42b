-- A trigger's firing history (GET /v1/workflow-triggers/{id}/firings), newest first: the
-- target index was dropped in 0008, when nothing read all of a target's work.
CREATE INDEX routing_work_trigger_target_idx ON routing_work (target_id, created_at DESC) WHERE kind = 'trigger';
