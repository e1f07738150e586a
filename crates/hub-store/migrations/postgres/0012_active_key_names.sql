-- Creating a key first checks that its owner has no active key of the same name. With only the
-- owner index that check read every key the owner ever made, so creating keys slowed as an
-- account's keys grew (a few thousand per account halved the rate). This index answers it with
-- one lookup. Not unique: the check stays where it is, and a database written by an older
-- release that raced two creations must still start.
CREATE INDEX api_keys_owner_active_name ON api_keys(owner_id, name) WHERE revoked_at IS NULL;
