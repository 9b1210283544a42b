-- The compatibility mode of each event_id (Confluent Schema Registry's modes). An event_id
-- without a row uses BACKWARD, so existing events need no backfill.
CREATE TABLE event_compatibility (
  event_id varchar(255) PRIMARY KEY,
  mode varchar(32) NOT NULL CHECK (mode IN ('BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD',
    'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE')),
  updated_at timestamp NOT NULL DEFAULT now()
);
