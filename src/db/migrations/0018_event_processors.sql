-- Event processors (derived events): every event matching event_pattern (and event_condition)
-- becomes one new event as `output` describes ({ pattern, version?, payload, source? }),
-- published through the receiver by routing work of kind 'processor'.
CREATE TABLE event_processors (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name varchar(128) NOT NULL UNIQUE,
  event_pattern varchar(255) NOT NULL,
  event_condition text,
  output jsonb NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  description text,
  labels jsonb NOT NULL DEFAULT '{}',
  created_at timestamp NOT NULL,
  updated_at timestamp NOT NULL,
  revision integer NOT NULL DEFAULT 1
);

-- A processor's firings (GET /v1/event-processors/{id}/firings), newest first.
CREATE INDEX routing_work_processor_target_idx ON routing_work (target_id, created_at DESC) WHERE kind = 'processor';
