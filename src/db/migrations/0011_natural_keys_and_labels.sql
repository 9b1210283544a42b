-- Natural keys for definitions kept as code: triggers and subscriptions get an optional, unique
-- `name` (rows created before have none), and the resources `eps apply` manages get `labels`
-- (string → string, like Kubernetes labels or AWS tags); apply marks what it created there, so
-- `--prune` deletes only those.
ALTER TABLE workflow_event_triggers ADD COLUMN name varchar(128);
ALTER TABLE workflow_event_triggers ADD COLUMN labels jsonb NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX workflow_event_triggers_name_key ON workflow_event_triggers (name);

ALTER TABLE subscriptions ADD COLUMN name varchar(128);
ALTER TABLE subscriptions ADD COLUMN labels jsonb NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX subscriptions_name_key ON subscriptions (name);

ALTER TABLE workflow_definitions ADD COLUMN labels jsonb NOT NULL DEFAULT '{}';
