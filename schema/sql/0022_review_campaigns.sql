-- Access review campaigns: a scope of standing access (or of a period's
-- grants), reviewers per item, a due date and what happens on no answer.
-- settings holds the campaign's scope, reviewers, reminders and escalation
-- as JSON; next_at is when the review loop must act on it next (a reminder,
-- the escalation or the due date; 0 once closed).
CREATE TABLE campaigns (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    schedule     TEXT NOT NULL DEFAULT '',
    settings     TEXT NOT NULL,
    on_no_answer TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    reminders    INTEGER NOT NULL DEFAULT 0,
    escalated    INTEGER NOT NULL DEFAULT 0,
    closed_at    INTEGER NOT NULL DEFAULT 0,
    closed_by    TEXT NOT NULL DEFAULT '',
    next_at      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX campaigns_next ON campaigns (state, next_at);
CREATE INDEX campaigns_schedule ON campaigns (schedule, created_at);

-- One item under review: a membership, an account or a grant. decision is
-- '' until someone (or the due date) decides; applied_at is when a revoke's
-- effect was handed to the removal path (0: not yet, or nothing to do).
CREATE TABLE campaign_items (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    source      TEXT NOT NULL,
    directory   TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    group_name  TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    ref         TEXT NOT NULL,
    detail      TEXT NOT NULL,
    reviewers   TEXT NOT NULL,
    decision    TEXT NOT NULL DEFAULT '',
    decided_by  TEXT NOT NULL DEFAULT '',
    decided_at  INTEGER NOT NULL DEFAULT 0,
    comment     TEXT NOT NULL DEFAULT '',
    effect      TEXT NOT NULL DEFAULT '',
    applied_at  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, seq)
);
CREATE INDEX campaign_items_unapplied ON campaign_items (decision, applied_at) WHERE applied_at = 0 AND decision IN ('revoke', 'jit');

-- Who may decide an item (lower-case logins), so a reviewer's queue is one
-- indexed read.
CREATE TABLE campaign_reviewers (
    campaign_id TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    login       TEXT NOT NULL,
    PRIMARY KEY (campaign_id, login, seq)
);

-- Standing memberships a review turned into just-in-time access: policy
-- reads them as requester.jit_groups.
CREATE TABLE jit_eligible (
    directory  TEXT NOT NULL,
    group_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    group_name TEXT NOT NULL,
    added_at   INTEGER NOT NULL,
    added_by   TEXT NOT NULL,
    PRIMARY KEY (directory, user_id, group_id)
);
