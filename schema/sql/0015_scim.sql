-- What SCIM clients say about the users and groups they provision that the
-- directory cannot hold: the client's own id for each (externalId).
CREATE TABLE scim_resources (
    directory   TEXT NOT NULL,
    kind        TEXT NOT NULL,  -- user | group
    id          TEXT NOT NULL,  -- the directory's id
    external_id TEXT NOT NULL,
    PRIMARY KEY (directory, kind, id)
);
CREATE INDEX scim_resources_external ON scim_resources (directory, kind, external_id);
