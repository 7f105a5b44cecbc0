-- Access requests and their approvals. A request names the requester (a
-- login in its directory), the group, how long, and why; policy decided its
-- approval steps (JSON) when it was made. Times are Unix nanoseconds; 0 unset.
CREATE TABLE requests (
    id          TEXT PRIMARY KEY,
    requester   TEXT NOT NULL,
    directory   TEXT NOT NULL,
    group_name  TEXT NOT NULL,
    duration_ns INTEGER NOT NULL CHECK (duration_ns > 0),
    reason      TEXT NOT NULL,
    ticket      TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL CHECK (state IN ('pending','approved','denied','cancelled','expired','failed')),
    rule        TEXT NOT NULL DEFAULT '',
    steps       TEXT NOT NULL DEFAULT '[]',
    step        INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    decided_at  INTEGER NOT NULL DEFAULT 0,
    decided_by  TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    grant_id    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX requests_pending ON requests (state, expires_at);
CREATE INDEX requests_requester ON requests (requester, created_at);

-- One decision per person per request: nobody approves two steps of one request.
CREATE TABLE approvals (
    request_id TEXT NOT NULL REFERENCES requests (id),
    approver   TEXT NOT NULL,
    step       INTEGER NOT NULL,
    decision   TEXT NOT NULL CHECK (decision IN ('approve','deny')),
    comment    TEXT NOT NULL DEFAULT '',
    at         INTEGER NOT NULL,
    PRIMARY KEY (request_id, approver)
);
