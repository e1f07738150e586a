-- Money: model rates (admin overrides of the built-in list prices), key budgets, hub settings
-- and credit grants. Amounts and rates are nano-credits (10^-9 credit) in 64-bit integers.
--
-- A user's balance is derived, never stored: the sum of their unexpired grants minus the
-- credits of their usage records marked `billed` (calls debited while credit billing was on).
-- The usage records are the only debits, so the ledger always sums.

CREATE TABLE model_rates (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    input BIGINT NOT NULL,
    output BIGINT NOT NULL,
    cached_input BIGINT NOT NULL,
    per_image BIGINT NOT NULL,
    per_video_second BIGINT NOT NULL,
    unit_cost_input BIGINT NOT NULL,
    unit_cost_output BIGINT NOT NULL,
    unit_cost_cached_input BIGINT NOT NULL,
    unit_cost_per_image BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (provider, model)
);

-- A key's budget: NULL means none. Spending counts from budget_since (when it was first set).
ALTER TABLE api_keys ADD COLUMN budget BIGINT;
ALTER TABLE api_keys ADD COLUMN budget_period TEXT;
ALTER TABLE api_keys ADD COLUMN budget_since BIGINT;

-- Hub-wide settings by name: billing_enabled, starter_grant, topup_link.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE credit_grants (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    amount BIGINT NOT NULL,
    expires_at BIGINT,
    actor TEXT NOT NULL,
    note TEXT,
    ts BIGINT NOT NULL
);
CREATE INDEX credit_grants_user ON credit_grants(user_id, ts);

-- 1 when the call was debited from its user's balance.
ALTER TABLE usage_records ADD COLUMN billed BIGINT NOT NULL DEFAULT 0;
CREATE INDEX usage_records_user_ts ON usage_records(user_id, ts);
