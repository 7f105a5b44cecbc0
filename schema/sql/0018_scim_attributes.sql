-- What a SCIM client wrote of a user that the directory cannot hold (the
-- attributes the mapping does not place in the directory), as a JSON
-- object; '' for none. A resource with neither externalId nor attributes
-- has no row.
ALTER TABLE scim_resources ADD COLUMN attrs TEXT NOT NULL DEFAULT '';
