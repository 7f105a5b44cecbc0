-- Action links that may be used only once (extend): the hash of what a link
-- says, kept until the link expires.
CREATE TABLE used_links (
    key        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX used_links_expiry ON used_links (expires_at);
