-- A request can ask to extend a live grant (extends: the grant id) instead
-- of asking for a new one, or be break-glass: granted at once by the
-- requester's own authority, reviewed afterwards.
ALTER TABLE requests ADD COLUMN extends TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN breakglass INTEGER NOT NULL DEFAULT 0;

-- After-the-fact reviews of break-glass use: open until someone other than
-- the person who used it closes them.
CREATE TABLE reviews (
    id          TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES requests (id),
    subject     TEXT NOT NULL,
    directory   TEXT NOT NULL,
    group_name  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('open','closed')),
    created_at  INTEGER NOT NULL,
    closed_at   INTEGER NOT NULL DEFAULT 0,
    closed_by   TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL DEFAULT '',
    comment     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX reviews_state ON reviews (state, created_at);
