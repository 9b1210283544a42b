-- Workflow definitions: what workflow triggers start and cancel. The issue's columns, plus
-- `revision` (the ETag, as for event definitions) and what the `http` executor needs to reach
-- its engine: `executor_url` (base URL; `/start` and `/cancel` are appended) and
-- `executor_timeout_ms`. They sit on the definition rather than in a table of engines because
-- each definition names exactly one engine and the adapter needs nothing else; both are NULL
-- for `builtin` definitions (the check below keeps that true).
CREATE TABLE workflow_definitions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name varchar(255) NOT NULL,
  version varchar(50) NOT NULL DEFAULT '1.0.0',
  description text NOT NULL DEFAULT '',
  input_schema jsonb,
  executor varchar(20) NOT NULL DEFAULT 'builtin',
  executor_url text,
  executor_timeout_ms integer,
  created_at timestamp NOT NULL DEFAULT now(),
  updated_at timestamp NOT NULL DEFAULT now(),
  revision integer NOT NULL DEFAULT 1,
  -- A repeated registration (a retried POST) is a conflict, not a second definition.
  CONSTRAINT workflow_definitions_name_version_key UNIQUE (name, version),
  CONSTRAINT workflow_definitions_executor_check CHECK (executor IN ('builtin', 'http')),
  CONSTRAINT workflow_definitions_http_target_check CHECK (
    (executor = 'http' AND executor_url IS NOT NULL AND executor_timeout_ms IS NOT NULL)
    OR (executor = 'builtin' AND executor_url IS NULL AND executor_timeout_ms IS NULL)
  )
);

-- Instances started by the builtin executor (the system of record for `builtin` definitions;
-- an `http` engine keeps its own). Deleting a definition deletes its instances' history: the
-- definition cannot be deleted while triggers reference it, so nothing can start new ones.
CREATE TABLE workflow_instances (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  workflow_definition_id uuid NOT NULL
    REFERENCES workflow_definitions (id) ON DELETE CASCADE,
  status varchar(20) NOT NULL DEFAULT 'running',
  correlation_key varchar(1024),
  input jsonb NOT NULL DEFAULT '{}',
  -- What the engine reported with /complete (not in the issue's list: without it the output
  -- the API accepts would be thrown away).
  output jsonb,
  -- No foreign key: workflow_event_triggers comes in a later migration, and a firing's record
  -- must outlive a deleted trigger.
  trigger_id uuid,
  trigger_event_id varchar(255),
  cancelled_by_event_id varchar(255),
  -- The start's idempotency key (one per event and trigger): a retried start finds its instance.
  idempotency_key text,
  error text,
  created_at timestamp NOT NULL DEFAULT now(),
  updated_at timestamp NOT NULL DEFAULT now(),
  CONSTRAINT workflow_instances_idempotency_key_key UNIQUE (idempotency_key),
  CONSTRAINT workflow_instances_status_check
    CHECK (status IN ('running', 'completed', 'failed', 'cancelled'))
);

-- CANCEL by correlation key looks only at running instances.
CREATE INDEX workflow_instances_running_correlation_idx
  ON workflow_instances (workflow_definition_id, correlation_key) WHERE status = 'running';
-- Listing (newest first), optionally per definition.
CREATE INDEX workflow_instances_definition_time_idx
  ON workflow_instances (workflow_definition_id, created_at DESC, id DESC);
CREATE INDEX workflow_instances_time_idx ON workflow_instances (created_at DESC, id DESC);
