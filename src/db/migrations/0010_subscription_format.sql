-- How a subscription receives events: the service's own JSON (`native`), or a CloudEvent in
-- the structured or binary content mode of the HTTP / NATS binding.
ALTER TABLE subscriptions ADD COLUMN format varchar(30) NOT NULL DEFAULT 'native'
  CHECK (format IN ('native', 'cloudevents-structured', 'cloudevents-binary'));
