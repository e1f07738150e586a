-- Model aliases: a short name for an ordered fallback chain of `provider/model` targets
-- (newline-separated, first choice first).
CREATE TABLE model_aliases (
    name TEXT PRIMARY KEY,
    targets TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
