-- Grants: the truth about who has what until when. Times are Unix nanoseconds;
-- 0 means unset.
CREATE TABLE grants (
    id              TEXT PRIMARY KEY,
    directory       TEXT NOT NULL,
    group_id        TEXT NOT NULL,
    group_name      TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    user_name       TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending','applying','active','apply_failed','revoking','revoke_failed','revoked','cancelled')),
    reason          TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    preexisting     INTEGER NOT NULL DEFAULT 0,
    starts_at       INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    ended_at        INTEGER NOT NULL DEFAULT 0,
    end_reason      TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    lease_owner     TEXT NOT NULL DEFAULT '',
    lease_until     INTEGER NOT NULL DEFAULT 0,
    CHECK (expires_at > starts_at)
);

-- The expiry scheduler's "next due" lookups.
CREATE INDEX grants_due ON grants (state, expires_at);
CREATE INDEX grants_retry ON grants (state, next_attempt_at);
-- Overlap checks: other live grants of the same user on the same group.
CREATE INDEX grants_membership ON grants (directory, group_id, user_id, state);

-- Append-only, hash-chained audit log.
CREATE TABLE audit_events (
    seq        INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    grant_id   TEXT NOT NULL DEFAULT '',
    directory  TEXT NOT NULL DEFAULT '',
    group_name TEXT NOT NULL DEFAULT '',
    user_name  TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_events_grant ON audit_events (grant_id, seq);

-- The last event written, so that rows deleted from the end are detected.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);

-- API tokens; only a SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
