-- The spec's events table, range-partitioned by time. The primary key must contain the
-- partition column, so it is (id, timestamp); `id` alone is unique by construction (UUIDv7).
CREATE TABLE events (
  id uuid NOT NULL,
  event_id varchar(255) NOT NULL,
  pattern varchar(255) NOT NULL,
  version varchar(50) NOT NULL,
  source jsonb,
  "timestamp" timestamp(6) NOT NULL,
  payload jsonb NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}',
  created_at timestamp NOT NULL DEFAULT now(),
  partition_key varchar(255) NOT NULL,
  PRIMARY KEY (id, "timestamp")
) PARTITION BY RANGE ("timestamp");

-- Events whose period has no partition yet land here and are never refused; partition
-- maintenance later moves them into a partition of their own.
CREATE TABLE events_default PARTITION OF events DEFAULT;

CREATE INDEX events_pattern_time_idx ON events (pattern, "timestamp" DESC);
CREATE INDEX events_time_idx ON events ("timestamp" DESC, id DESC);
CREATE INDEX events_event_id_idx ON events (event_id);
CREATE INDEX events_payload_gin ON events USING gin (payload jsonb_path_ops);
CREATE INDEX events_metadata_gin ON events USING gin (metadata jsonb_path_ops);
CREATE INDEX events_correlation_idx ON events ((metadata->>'correlationId'), "timestamp");
CREATE INDEX events_causation_idx ON events ((metadata->>'causationId'));

-- Partitions the service manages (one row per attached partition), so maintenance can find
-- gaps and expired periods without parsing catalog bounds.
CREATE TABLE event_partitions (
  name text PRIMARY KEY,
  label varchar(255) NOT NULL,
  range_start timestamp NOT NULL,
  range_end timestamp NOT NULL,
  created_at timestamp NOT NULL DEFAULT now()
);

-- Idempotency across partitions: a unique index on a partitioned table must contain the
-- partition column, so each accepted eventId is claimed here once. Rows are removed together
-- with the partition that holds their event (retention).
CREATE TABLE event_ids (
  event_id varchar(255) PRIMARY KEY,
  id uuid NOT NULL,
  "timestamp" timestamp(6) NOT NULL,
  body_hash text NOT NULL
);
CREATE INDEX event_ids_time_idx ON event_ids ("timestamp");

-- Deprecation support: when a version was deprecated and when it stops being accepted.
ALTER TABLE event_definitions ADD COLUMN deprecated_at timestamp;
ALTER TABLE event_definitions ADD COLUMN sunset_at timestamp;

-- Who still publishes deprecated versions.
CREATE TABLE definition_producers (
  definition_id uuid NOT NULL REFERENCES event_definitions (id) ON DELETE CASCADE,
  source_type varchar(255) NOT NULL,
  source_id varchar(255) NOT NULL,
  event_count bigint NOT NULL DEFAULT 0,
  first_seen_at timestamp NOT NULL,
  last_seen_at timestamp NOT NULL,
  PRIMARY KEY (definition_id, source_type, source_id)
);
