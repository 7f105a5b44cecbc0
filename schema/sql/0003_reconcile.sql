-- When a grant's membership was found missing from the directory (removed
-- outside jitd); 0 while it is there.
ALTER TABLE grants ADD COLUMN vanished_at INTEGER NOT NULL DEFAULT 0;

-- The baseline: members a JIT-managed group had when jitd first saw it (and
-- members an operator accepted since). They are standing access, not drift.
CREATE TABLE baselines (
    directory   TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (directory, group_id)
);
CREATE TABLE baseline_members (
    directory TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    added_at  INTEGER NOT NULL,
    added_by  TEXT NOT NULL,
    PRIMARY KEY (directory, group_id, user_id)
);

-- Open drift: members of JIT-managed groups with neither a grant nor a
-- baseline entry. A row goes when the membership does (the audit log keeps
-- the history).
CREATE TABLE drift (
    directory  TEXT NOT NULL,
    group_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    group_name TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (directory, group_id, user_id)
);
