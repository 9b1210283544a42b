-- API keys. Only the SHA-256 of a key is stored (hex), never the key: a copy of the database
-- cannot be used to call the service. `prefix` is the key's first characters, shown in listings
-- so a person can tell keys apart. Revoked keys stay (revoked_at set) so listings keep history.
CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name varchar(255) NOT NULL DEFAULT '',
  prefix varchar(16) NOT NULL,
  key_hash char(64) NOT NULL,
  scopes jsonb NOT NULL,
  created_at timestamp NOT NULL,
  revoked_at timestamp,
  CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);
