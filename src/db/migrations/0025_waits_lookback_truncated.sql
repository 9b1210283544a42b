-- Whether a wait's lookback was narrowed to its newest WAITS_LOOKBACK_MAX_EVENTS events
-- (src/waits/service.ts): its window_start is then the commit time the lookback searched from,
-- shown on the wait as `lookbackFrom`.
ALTER TABLE waits ADD COLUMN lookback_truncated boolean NOT NULL DEFAULT false;
