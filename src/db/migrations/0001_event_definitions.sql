-- The spec's event_definitions table, column for column, plus `revision` for optimistic
-- concurrency (the ETag of a definition) and `is_latest`, the version a reference without
-- `?version=` resolves to (semver precedence is computed by the service and kept here, so
-- `latest=true` listings page in SQL).
CREATE TABLE event_definitions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  event_id varchar(255) NOT NULL,
  name varchar(255) NOT NULL,
  description text NOT NULL DEFAULT '',
  pattern varchar(255) NOT NULL,
  version varchar(50) NOT NULL,
  source_types jsonb NOT NULL DEFAULT '[]',
  payload_schema jsonb NOT NULL,
  examples jsonb NOT NULL DEFAULT '[]',
  ui_metadata jsonb NOT NULL DEFAULT '{}',
  created_at timestamp NOT NULL DEFAULT now(),
  updated_at timestamp NOT NULL DEFAULT now(),
  status varchar(50) NOT NULL DEFAULT 'active',
  revision integer NOT NULL DEFAULT 1,
  is_latest boolean NOT NULL DEFAULT false,
  CONSTRAINT event_definitions_event_id_version_key UNIQUE (event_id, version),
  CONSTRAINT event_definitions_status_check CHECK (status IN ('active', 'deprecated', 'draft'))
);

CREATE INDEX event_definitions_pattern_idx ON event_definitions (pattern);
CREATE INDEX event_definitions_event_id_idx ON event_definitions (event_id);

-- A pattern belongs to one event_id (its versions may share it). A row here claims a pattern;
-- the primary key settles concurrent claims.
CREATE TABLE event_pattern_owners (
  pattern varchar(255) PRIMARY KEY,
  event_id varchar(255) NOT NULL
);
