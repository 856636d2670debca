-- +goose Up
-- The token that created a token over the API (createAPIToken): revoking a
-- token revokes those it created, and theirs, so a leaked token revoked
-- leaves no token it made behind. Tokens made with the CLI have none. A
-- child never outlives its creator and stale records are deleted by age, so
-- the parent's record normally goes last; if it goes first the link is
-- dropped, the child being already expired.
ALTER TABLE api_tokens ADD COLUMN created_by text REFERENCES api_tokens (jti) ON DELETE SET NULL;
CREATE INDEX api_tokens_created_by ON api_tokens (created_by) WHERE created_by IS NOT NULL;

-- +goose Down
ALTER TABLE api_tokens DROP COLUMN created_by;
