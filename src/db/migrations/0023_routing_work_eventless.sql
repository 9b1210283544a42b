-- A wait's notice that it timed out or was cancelled (src/waits/resume.ts) is routing work of
-- kind `resume` tied to no event: its event columns are null. Work of every other kind, and a
-- resolved wait's notice, has its event. NOT VALID: every row stored before has its event, and
-- checking them would scan the table under an exclusive lock; new rows are checked all the same.
ALTER TABLE routing_work
  ALTER COLUMN event_id DROP NOT NULL,
  ALTER COLUMN event_row_id DROP NOT NULL,
  ALTER COLUMN event_timestamp DROP NOT NULL;
ALTER TABLE routing_work ADD CONSTRAINT routing_work_event_check
  CHECK (kind = 'resume' OR (event_id IS NOT NULL AND event_row_id IS NOT NULL AND event_timestamp IS NOT NULL))
  NOT VALID;
