-- A person's live grants are read on every request (policy's "held" groups
-- and separation of duties): find them without scanning every grant.
CREATE INDEX grants_user ON grants (directory, user_id, state);
