-- The spec's workflow_event_triggers table, plus `revision` for optimistic concurrency.
CREATE TABLE workflow_event_triggers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  workflow_definition_id uuid NOT NULL REFERENCES workflow_definitions (id) ON DELETE RESTRICT,
  event_pattern varchar(255) NOT NULL,
  trigger_type varchar(10) NOT NULL CHECK (trigger_type IN ('START', 'CANCEL')),
  event_condition text,
  input_mapping jsonb,
  correlation_key varchar(1024),
  enabled boolean NOT NULL DEFAULT true,
  priority integer,
  description text,
  created_at timestamp NOT NULL DEFAULT now(),
  updated_at timestamp NOT NULL DEFAULT now(),
  revision integer NOT NULL DEFAULT 1
);
CREATE INDEX workflow_event_triggers_definition_idx ON workflow_event_triggers (workflow_definition_id);
CREATE INDEX workflow_event_triggers_pattern_idx ON workflow_event_triggers (event_pattern);

-- Bumped in the transaction of every change to a routing target (trigger or subscription), so
-- every instance sharing the database knows when to reload its matching index.
CREATE TABLE routing_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  targets_version bigint NOT NULL DEFAULT 0
);
INSERT INTO routing_state DEFAULT VALUES;

-- One row per (event, target): the routing engine's unit of work, written in the transaction
-- that stores the event. Workers claim due rows with FOR UPDATE SKIP LOCKED and a lease.
CREATE TABLE routing_work (
  id uuid PRIMARY KEY,
  kind varchar(20) NOT NULL,
  target_id uuid NOT NULL,
  event_id varchar(255) NOT NULL,
  event_row_id uuid NOT NULL,
  event_timestamp timestamp(6) NOT NULL,
  -- Firing order among one event's work of one kind (triggers fire by priority, then age).
  sequence integer NOT NULL DEFAULT 0,
  idempotency_key text NOT NULL UNIQUE,
  status varchar(20) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL,
  next_attempt_at timestamp NOT NULL,
  locked_until timestamp,
  locked_by text,
  replay boolean NOT NULL DEFAULT false,
  outcome jsonb,
  last_error text,
  created_at timestamp NOT NULL,
  updated_at timestamp NOT NULL
);
CREATE INDEX routing_work_due_idx ON routing_work (next_attempt_at) WHERE status = 'pending';
CREATE INDEX routing_work_lease_idx ON routing_work (locked_until) WHERE status = 'running';
CREATE INDEX routing_work_event_idx ON routing_work (event_id, kind, sequence);
CREATE INDEX routing_work_target_idx ON routing_work (kind, target_id, created_at);
