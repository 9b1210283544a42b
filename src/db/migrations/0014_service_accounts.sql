-- Service accounts: API keys of kind `service` belong to a system (a named service with scopes
-- of its own) rather than to a person, and are listed apart from the `standard` keys. Existing
-- keys stay `standard`. A service account must have a name: it is how operators tell it apart.
ALTER TABLE api_keys
  ADD COLUMN kind varchar(16) NOT NULL DEFAULT 'standard' CHECK (kind IN ('standard', 'service'));
ALTER TABLE api_keys
  ADD CONSTRAINT api_keys_service_named CHECK (kind <> 'service' OR name <> '');
CREATE INDEX api_keys_kind_created_idx ON api_keys (kind, created_at, id);
