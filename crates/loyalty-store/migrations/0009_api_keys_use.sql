-- API keys can be listed and revoked. A revoked key keeps its row (who it was, when it was
-- made and last used) and stops authenticating: `revoked_at` is set. `last_used_at` is written
-- at most once a minute per key and server process, never on every request.
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
ALTER TABLE api_keys ADD COLUMN revoked_at BIGINT;
CREATE INDEX api_keys_by_name ON api_keys (name);
