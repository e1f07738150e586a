-- Budgets shared by several instances. Each key budget window and each billed user's balance is
-- an account: what its usage records charged (spent) and what instances hold as leases (leased).
-- spent + leased never exceeds the account's limit; an instance reserves calls against its own
-- lease in memory and takes more, or gives the unused part back, in short transactions.
CREATE TABLE credit_accounts (
    account TEXT PRIMARY KEY,
    spent INTEGER NOT NULL,
    leased INTEGER NOT NULL DEFAULT 0,
    -- When an instance last found the account short: others give back their unused leases.
    wanted_at INTEGER NOT NULL DEFAULT 0
);
-- One row per account and instance holding part of it; a lease not renewed by its instance
-- before expires_at is released by any other instance.
CREATE TABLE credit_leases (
    account TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    amount INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    -- The last want of the account this instance answered by giving back its unused part.
    answered_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, instance_id)
);
CREATE INDEX credit_leases_instance ON credit_leases(instance_id);
CREATE INDEX credit_leases_expiry ON credit_leases(expires_at);
-- A non-secret verifier of each server secret (pepper, master key), stored by the first instance
-- to start: an instance started with other secrets refuses to serve the same database.
CREATE TABLE server_secret_checks (
    name TEXT PRIMARY KEY,
    verifier TEXT NOT NULL
);
