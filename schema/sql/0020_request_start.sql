-- A request may ask for access from a time in the future: once approved, its
-- grant is made when that time comes (0: at approval, as before).
ALTER TABLE requests ADD COLUMN starts_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX requests_starting ON requests (state, grant_id, starts_at);
