-- Salted commitments to the personal fields of audit events (actor, user,
-- detail): the chain's hash covers the commitment, so those fields can be
-- erased after the retention period while the chain still verifies.
-- Events written before this migration have no commitment and keep theirs.
ALTER TABLE audit_events ADD COLUMN pii_commit TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN pii_salt TEXT NOT NULL DEFAULT '';
