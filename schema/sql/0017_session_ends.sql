-- When a membership of a group with end_sessions goes, the user's sessions
-- in the directory are ended too: a separate fact, recorded in the same
-- transaction as the removal and retried like one until it is done.
CREATE TABLE session_ends (
    grant_id        TEXT PRIMARY KEY,
    directory       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    user_name       TEXT NOT NULL,
    group_name      TEXT NOT NULL,
    state           TEXT NOT NULL,               -- pending, failed (alerted, still retried), ended
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    ended_at        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX session_ends_due ON session_ends (state, next_attempt_at);
