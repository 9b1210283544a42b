-- A START trigger's declared waits (src/triggers/, src/waits/): registered for every instance
-- it starts, keyed by the firing's correlation key. A JSON array of { pattern, condition?,
-- correlationKeyPath?, timeout, lookback? }, at most 10, checked when the trigger is written.
ALTER TABLE workflow_event_triggers ADD COLUMN wait_for jsonb NOT NULL DEFAULT '[]'::jsonb;
