-- A wait's lookback (src/waits/service.ts) reads the newest events of one pattern committed in
-- its window, newest first, up to a cap: through this index it reads those rows and no others.
-- Without it, `created_at` had no index (the table is partitioned by the publisher's
-- `timestamp`), so the read went through every stored event of the pattern, or every event.
CREATE INDEX events_pattern_commit_time_idx ON events (pattern, created_at);
