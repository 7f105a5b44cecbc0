-- The notification outbox. The audit log is the source of events: the
-- notifier reads events after its cursor, turns them into deliveries (one per
-- channel and recipient) and moves the cursor in the same transaction, so an
-- event is never lost or routed twice. A delivery is retried until it is
-- sent or too old (dead); skipped: no longer relevant when its time came.
CREATE TABLE notify_cursor (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);

CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel    TEXT NOT NULL,
    event      TEXT NOT NULL,
    audit_seq  INTEGER NOT NULL,
    subject    TEXT NOT NULL DEFAULT '',
    recipient  TEXT NOT NULL DEFAULT '',
    data       TEXT NOT NULL DEFAULT '{}',
    state      TEXT NOT NULL CHECK (state IN ('pending','sent','dead','skipped')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    due_at     INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    sent_at    INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notifications_due ON notifications (state, due_at);
