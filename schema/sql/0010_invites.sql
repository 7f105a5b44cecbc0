-- Contractor onboarding. A sponsor's invite is a single-use link (only the
-- hash of its secret is kept) that lets someone outside the directory ask for
-- an ephemeral account and memberships, as an onboarding request that the
-- sponsor, and whoever policy adds, approve. Times are Unix nanoseconds.
CREATE TABLE invites (
    id              TEXT PRIMARY KEY,
    secret_hash     TEXT NOT NULL,
    public_key      BLOB NOT NULL,        -- the account's password is sealed to it
    directory       TEXT NOT NULL,
    sponsor         TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    max_until       INTEGER NOT NULL,     -- the latest end the contractor may ask for
    groups          TEXT NOT NULL DEFAULT '[]',
    note            TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL CHECK (state IN ('open','used','revoked')),
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,     -- an open invite no longer works then
    used_at         INTEGER NOT NULL DEFAULT 0,
    request_id      TEXT NOT NULL DEFAULT '',
    sealed_password BLOB,                 -- until the contractor fetches it
    revoked_by      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX invites_sponsor ON invites (sponsor, created_at);

-- An onboarding request asks for an account (and memberships) instead of a
-- group: what the contractor submitted, as JSON, and the account made.
ALTER TABLE requests ADD COLUMN onboarding TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
