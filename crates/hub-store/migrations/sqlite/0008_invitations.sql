-- Invitations: an admin invites an email with a role; the invited person sets a password through
-- a one-time link. Only the SHA-256 digest of the link's token is stored.
CREATE TABLE invitations (
    token_hash BLOB PRIMARY KEY,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX invitations_email ON invitations(email);
