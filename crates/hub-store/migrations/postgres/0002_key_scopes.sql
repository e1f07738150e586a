-- Key scopes and limits (least privilege). NULL means "no restriction". Lists are stored as
-- comma-separated text: model patterns, endpoint names (chat, embeddings, images, models),
-- CIDR ranges. A budget per period joins these columns later.
ALTER TABLE api_keys ADD COLUMN allowed_models TEXT;
ALTER TABLE api_keys ADD COLUMN allowed_endpoints TEXT;
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT;
ALTER TABLE api_keys ADD COLUMN rpm_limit BIGINT;
ALTER TABLE api_keys ADD COLUMN tpm_limit BIGINT;
ALTER TABLE api_keys ADD COLUMN max_concurrency BIGINT;
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;

-- A rotation gives a key a second secret under the same kid: the kid no longer identifies one
-- secret row, the secret's HMAC does.
ALTER TABLE api_key_secrets DROP CONSTRAINT api_key_secrets_pkey;
CREATE INDEX api_key_secrets_kid ON api_key_secrets(kid);

CREATE INDEX audit_log_target ON audit_log(target, ts);
