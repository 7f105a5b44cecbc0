-- A token stands for a person, named by their login and refused once the
-- directory disables or removes them, or for a system (a SCIM client,
-- automation), whose name never passes for a login. Tokens made before
-- this change that are not a requester's or an approver's keep working as
-- systems; requester and approver tokens were always people.
ALTER TABLE api_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'person';
UPDATE api_tokens SET kind = 'system' WHERE role NOT IN ('requester', 'approver');

-- Whether someone is a user of any directory, by login, on every API call.
CREATE INDEX mirror_users_by_login ON mirror_users (login);
