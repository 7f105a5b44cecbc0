-- What policy reads of people: their manager (a ref or id of another
-- mirrored user) for the reporting line, and mapped HR attributes as JSON.
ALTER TABLE mirror_users ADD COLUMN manager TEXT NOT NULL DEFAULT '';
ALTER TABLE mirror_users ADD COLUMN attributes TEXT NOT NULL DEFAULT '';
