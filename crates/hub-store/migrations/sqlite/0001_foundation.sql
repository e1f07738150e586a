-- Foundation schema. Timestamps are Unix milliseconds; money is nano-credits (BIGINT).
-- Every table keeps to the SQL subset SQLite and PostgreSQL share, so the PostgreSQL folder
-- differs only in column types.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    id_hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE setup_tokens (
    token_hash BLOB PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    key_type TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_used_at INTEGER,
    last_used_ip TEXT,
    request_count INTEGER NOT NULL DEFAULT 0,
    tokens_in INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_owner ON api_keys(owner_id);

-- One row per secret of a key (two during a rotation's grace period). Only the HMAC is stored.
CREATE TABLE api_key_secrets (
    kid TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES api_keys(id),
    secret_hash BLOB NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX api_key_secrets_key ON api_key_secrets(key_id);

CREATE TABLE providers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    base_url TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Credentials are sealed with AES-256-GCM under the master key (version in key_version);
-- the credential id is the associated data, so a ciphertext cannot be moved to another row.
CREATE TABLE provider_credentials (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers(id),
    ciphertext BLOB NOT NULL,
    nonce BLOB NOT NULL,
    key_version INTEGER NOT NULL,
    hint TEXT NOT NULL,
    weight INTEGER NOT NULL DEFAULT 1,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE INDEX provider_credentials_provider ON provider_credentials(provider_id);

CREATE TABLE usage_records (
    request_id TEXT PRIMARY KEY,
    ts INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    kid TEXT NOT NULL,
    user_id TEXT NOT NULL,
    project TEXT,
    provider TEXT NOT NULL,
    credential_id TEXT,
    model TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    stream INTEGER NOT NULL,
    client_ip TEXT,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error_class TEXT,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    tokens_cached INTEGER NOT NULL,
    credits INTEGER NOT NULL,
    reserved INTEGER NOT NULL,
    upstream_cost INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    ttfb_ms INTEGER,
    upstream_ttfb_ms INTEGER,
    cut_short INTEGER NOT NULL,
    estimated INTEGER NOT NULL
);
CREATE INDEX usage_records_ts ON usage_records(ts);
CREATE INDEX usage_records_key_ts ON usage_records(key_id, ts);

-- Changes other processes (the CLI, other instances) must notice within a second.
CREATE TABLE change_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    ts INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    ts INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    address TEXT,
    detail TEXT
);
CREATE INDEX audit_log_ts ON audit_log(ts);
