-- Fixed one-minute rate-limit windows shared by every instance: one row per (API key, route
-- class, window). Instances add to `count` with INSERT … ON CONFLICT DO UPDATE … RETURNING, in
-- batches (leases), so the sum over all instances never passes the limit. Old windows are pruned.
CREATE TABLE rate_limit_windows (
  subject varchar(100) NOT NULL,
  rate_class varchar(50) NOT NULL,
  window_start timestamp NOT NULL,
  count bigint NOT NULL,
  PRIMARY KEY (subject, rate_class, window_start)
);

CREATE INDEX rate_limit_windows_window_start_idx ON rate_limit_windows (window_start);
