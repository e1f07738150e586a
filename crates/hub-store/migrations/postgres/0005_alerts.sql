-- Alerts on unusual activity (shown in the admin UI, sent to the webhook). The subject is what
-- the alert is about, never a secret: a key's id, a kid, or a provider credential's id.
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    ts BIGINT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    message TEXT NOT NULL,
    detail TEXT NOT NULL,
    read_at BIGINT
);
CREATE INDEX alerts_ts ON alerts(ts);
CREATE INDEX alerts_subject ON alerts(kind, subject_type, subject_id, ts);

-- The client addresses each key has been used from, so a restart does not take every address
-- for a new one.
CREATE TABLE alert_known_addresses (
    key_id TEXT NOT NULL,
    address TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (key_id, address)
);

-- The one alert webhook. Its signing secret is sealed with the master key like provider
-- credentials (AES-256-GCM, the row's name as associated data) and never shown again.
CREATE TABLE alert_webhook (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret_ciphertext BYTEA NOT NULL,
    secret_nonce BYTEA NOT NULL,
    key_version BIGINT NOT NULL,
    secret_hint TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
