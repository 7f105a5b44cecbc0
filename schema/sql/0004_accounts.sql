-- Ephemeral (contractor) accounts jitd creates, disables at their end and
-- deletes after retention. Times are Unix nanoseconds; 0 means unset. Audit
-- events about an account carry its id in audit_events.grant_id.
CREATE TABLE accounts (
    id                 TEXT PRIMARY KEY,
    directory          TEXT NOT NULL,
    external_id        TEXT NOT NULL DEFAULT '',
    login              TEXT NOT NULL,
    email              TEXT NOT NULL DEFAULT '',
    given_name         TEXT NOT NULL DEFAULT '',
    surname            TEXT NOT NULL DEFAULT '',
    sponsor            TEXT NOT NULL,
    created_by         TEXT NOT NULL,
    reason             TEXT NOT NULL DEFAULT '',
    state              TEXT NOT NULL CHECK (state IN ('creating','create_failed','active','disabling','disable_failed','disabled','deleting','deleted')),
    ends_at            INTEGER NOT NULL,
    delete_at          INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    disabled_at        INTEGER NOT NULL DEFAULT 0,
    deleted_at         INTEGER NOT NULL DEFAULT 0,
    end_reason         TEXT NOT NULL DEFAULT '',
    password_delivered INTEGER NOT NULL DEFAULT 0,
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT NOT NULL DEFAULT '',
    CHECK (delete_at >= ends_at)
);

-- One live account per login and directory.
CREATE UNIQUE INDEX accounts_live_login ON accounts (directory, login) WHERE state NOT IN ('deleted','create_failed');
CREATE INDEX accounts_ends ON accounts (state, ends_at);
CREATE INDEX accounts_delete ON accounts (state, delete_at);
CREATE INDEX accounts_retry ON accounts (state, next_attempt_at);
CREATE INDEX accounts_sponsor ON accounts (sponsor, state);
