-- Key scopes and limits (least privilege). NULL means "no restriction". Lists are stored as
-- comma-separated text: model patterns, endpoint names (chat, embeddings, images, models),
-- CIDR ranges. A budget per period joins these columns later.
ALTER TABLE api_keys ADD COLUMN allowed_models TEXT;
ALTER TABLE api_keys ADD COLUMN allowed_endpoints TEXT;
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT;
ALTER TABLE api_keys ADD COLUMN rpm_limit INTEGER;
ALTER TABLE api_keys ADD COLUMN tpm_limit INTEGER;
ALTER TABLE api_keys ADD COLUMN max_concurrency INTEGER;
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;

-- A rotation gives a key a second secret under the same kid: the kid no longer identifies one
-- secret row, the secret's HMAC does.
CREATE TABLE api_key_secrets_v2 (
    secret_hash BLOB PRIMARY KEY,
    kid TEXT NOT NULL,
    key_id TEXT NOT NULL REFERENCES api_keys(id),
    hint TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
INSERT INTO api_key_secrets_v2 (secret_hash, kid, key_id, hint, created_at, expires_at)
    SELECT secret_hash, kid, key_id, hint, created_at, expires_at FROM api_key_secrets;
DROP TABLE api_key_secrets;
ALTER TABLE api_key_secrets_v2 RENAME TO api_key_secrets;
CREATE INDEX api_key_secrets_key ON api_key_secrets(key_id);
CREATE INDEX api_key_secrets_kid ON api_key_secrets(kid);

CREATE INDEX audit_log_target ON audit_log(target, ts);
