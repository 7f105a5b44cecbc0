-- The mirror: each directory's users, groups and direct memberships as of the
-- last sync. gen is the full-sync generation that last saw the row; a full
-- sync sweeps rows older than its own.
CREATE TABLE mirror_users (
    directory    TEXT NOT NULL,
    id           TEXT NOT NULL,
    login        TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    dn           TEXT NOT NULL DEFAULT '',
    ref          TEXT NOT NULL DEFAULT '',
    enabled      INTEGER NOT NULL DEFAULT 1,
    gen          INTEGER NOT NULL,
    PRIMARY KEY (directory, id)
);
CREATE INDEX mirror_users_login ON mirror_users (directory, login);
CREATE INDEX mirror_users_ref ON mirror_users (directory, ref);

CREATE TABLE mirror_groups (
    directory TEXT NOT NULL,
    id        TEXT NOT NULL,
    name      TEXT NOT NULL,
    dn        TEXT NOT NULL DEFAULT '',
    gen       INTEGER NOT NULL,
    PRIMARY KEY (directory, id)
);
CREATE INDEX mirror_groups_name ON mirror_groups (directory, name);

CREATE TABLE mirror_members (
    directory TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (directory, group_id, user_id)
);
CREATE INDEX mirror_members_user ON mirror_members (directory, user_id);

-- Where each directory's sync stands. The cursor is committed in the same
-- transaction as the changes it covers.
CREATE TABLE sync_state (
    directory           TEXT PRIMARY KEY,
    cursor              TEXT NOT NULL DEFAULT '',
    gen                 INTEGER NOT NULL DEFAULT 0,
    last_full_at        INTEGER NOT NULL DEFAULT 0,
    last_incremental_at INTEGER NOT NULL DEFAULT 0,
    cursor_at           INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT NOT NULL DEFAULT '',
    last_error_at       INTEGER NOT NULL DEFAULT 0,
    full_syncs          INTEGER NOT NULL DEFAULT 0,
    incremental_syncs   INTEGER NOT NULL DEFAULT 0,
    cursor_expired      INTEGER NOT NULL DEFAULT 0
);
