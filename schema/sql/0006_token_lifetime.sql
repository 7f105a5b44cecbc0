-- API tokens can expire and be revoked. 0 means never / not revoked.
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;
