-- Waits (src/waits/): a wait resolves with the first committed event of its pattern whose
-- correlation key equals its own and whose condition holds, or times out.
CREATE TABLE waits (
  id uuid PRIMARY KEY,
  pattern varchar(255) NOT NULL,
  condition text,
  correlation_key varchar(1024) NOT NULL,
  -- The path that resolves an event's key; '' for metadata.correlationId (a trigger's default).
  key_path varchar(1024) NOT NULL DEFAULT '',
  status varchar(20) NOT NULL CHECK (status IN ('waiting', 'resolved', 'timed_out', 'cancelled')),
  -- Events committed (events.created_at) at or after this count: registration − lookback.
  window_start timestamp(6) NOT NULL,
  timeout varchar(64) NOT NULL,
  lookback varchar(64),
  expires_at timestamp(6) NOT NULL,
  notify jsonb NOT NULL,
  workflow_instance_id uuid,
  event_id varchar(255),
  event jsonb,
  created_at timestamp(6) NOT NULL,
  updated_at timestamp(6) NOT NULL,
  finished_at timestamp(6)
);
-- The resolver's lookup per event: open waits by pattern and correlation key.
CREATE INDEX waits_open_match_idx ON waits (pattern, correlation_key, key_path) WHERE status = 'waiting';
CREATE INDEX waits_open_key_path_idx ON waits (key_path) WHERE status = 'waiting';
CREATE INDEX waits_open_expiry_idx ON waits (expires_at) WHERE status = 'waiting';
CREATE INDEX waits_correlation_idx ON waits (correlation_key, created_at);
CREATE INDEX waits_instance_idx ON waits (workflow_instance_id, created_at) WHERE workflow_instance_id IS NOT NULL;

-- The position in commit order (see store/commit-order.ts) up to which the resolver has
-- matched events against the open waits. One row; registrations read it FOR SHARE, the
-- resolver FOR UPDATE (see src/waits/service.ts for why).
CREATE TABLE wait_resolver (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  position_xid xid8 NOT NULL,
  position_seq bigint NOT NULL
);
INSERT INTO wait_resolver (position_xid, position_seq)
  VALUES (pg_snapshot_xmin(pg_current_snapshot()), 0);
