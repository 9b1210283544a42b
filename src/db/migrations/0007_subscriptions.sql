-- Subscribers of events (webhooks and queues). Credentials and signing secrets are sealed
-- (AES-256-GCM) by the service; the database never holds them in clear.
CREATE TABLE subscriptions (
  id uuid PRIMARY KEY,
  event_pattern varchar(255) NOT NULL,
  subscriber_id varchar(255) NOT NULL,
  subscriber_type varchar(20) NOT NULL CHECK (subscriber_type IN ('webhook', 'queue')),
  endpoint text NOT NULL,
  headers jsonb NOT NULL DEFAULT '{}',
  auth_type varchar(20) CHECK (auth_type IN ('basic', 'bearer', 'api-key')),
  auth_credentials_sealed text,
  filter_expression text,
  retry_policy jsonb NOT NULL,
  circuit_breaker jsonb NOT NULL,
  circuit_state jsonb NOT NULL,
  description text,
  status varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'disabled')),
  disabled_reason text,
  signing_secret_sealed text NOT NULL,
  previous_secret_sealed text,
  secret_rotated_at timestamp,
  failing_since timestamp,
  created_at timestamp NOT NULL,
  updated_at timestamp NOT NULL,
  revision integer NOT NULL DEFAULT 1
);
CREATE INDEX subscriptions_subscriber_idx ON subscriptions (subscriber_id);
CREATE INDEX subscriptions_pattern_idx ON subscriptions (event_pattern);

-- Every delivery attempt, for the delivery log.
CREATE TABLE delivery_attempts (
  id uuid PRIMARY KEY,
  work_id uuid NOT NULL,
  subscription_id uuid NOT NULL,
  event_id varchar(255) NOT NULL,
  attempt integer NOT NULL,
  outcome varchar(20) NOT NULL,
  status_code integer,
  latency_ms integer,
  error text,
  replay boolean NOT NULL DEFAULT false,
  next_attempt_at timestamp,
  created_at timestamp NOT NULL
);
CREATE INDEX delivery_attempts_subscription_idx ON delivery_attempts (subscription_id, created_at DESC);
CREATE INDEX delivery_attempts_event_idx ON delivery_attempts (event_id, created_at);
