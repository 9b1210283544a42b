-- The (event_id, kind, sequence) index serves trigger work only: firing order within an event
-- (the claim's checks of earlier and later triggers) and the per-event firing record. Delivery
-- rows, ten per event in a common fan-out, paid for it at planning, at claim and at completion
-- without ever being read through it.
DROP INDEX routing_work_event_idx;
CREATE INDEX routing_work_trigger_event_idx ON routing_work (event_id, sequence) WHERE kind = 'trigger';
