-- Retention (src/store/retention.ts) deletes finished rows by age, in small batches: each batch
-- finds its oldest rows through one of these indexes instead of scanning the table.
CREATE INDEX routing_work_finished_idx ON routing_work (updated_at) WHERE status IN ('done', 'dead');
CREATE INDEX delivery_attempts_time_idx ON delivery_attempts (created_at);
CREATE INDEX workflow_instances_finished_idx ON workflow_instances (updated_at) WHERE status <> 'running';
