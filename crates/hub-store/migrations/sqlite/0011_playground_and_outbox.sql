-- Keys the hub manages for a user (today only 'playground': the key the Playground page calls
-- models with). NULL for the keys users create themselves.
ALTER TABLE api_keys ADD COLUMN managed TEXT;

-- The alert webhook's outbox: one row per alert raised while a webhook was set, written in the
-- alert's own transaction, so a delivery pending or failing when the process stops is resumed
-- on start. state is 'pending', 'delivered' or 'failed'; attempts counts the POSTs begun.
CREATE TABLE alert_deliveries (
    alert_id TEXT PRIMARY KEY REFERENCES alerts(id),
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    last_at INTEGER,
    last_status INTEGER,
    last_error TEXT,
    delivered_at INTEGER
);
CREATE INDEX alert_deliveries_due ON alert_deliveries(state, next_at);

-- At most one active key of each managed kind per user, also when two first uses race.
CREATE UNIQUE INDEX api_keys_managed ON api_keys(owner_id, managed) WHERE managed IS NOT NULL AND revoked_at IS NULL;
