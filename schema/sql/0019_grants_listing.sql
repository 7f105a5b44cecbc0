-- Lists of grants (the API's and the portal's) filter by user or group name
-- and go newest first: these indexes answer them without reading or sorting
-- every grant.
CREATE INDEX grants_created ON grants (created_at, id);
CREATE INDEX grants_by_user_name ON grants (user_name, created_at, id);
CREATE INDEX grants_by_group_name ON grants (group_name, created_at, id);
