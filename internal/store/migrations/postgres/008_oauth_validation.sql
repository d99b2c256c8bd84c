-- +goose Up
-- The same columns as migrations/sqlite/008_oauth_validation.sql: see there.
ALTER TABLE endpoints ADD COLUMN oauth_secrets TEXT NOT NULL DEFAULT '';
ALTER TABLE batch_users ADD COLUMN source_refresh_token TEXT NOT NULL DEFAULT '';
ALTER TABLE batch_users ADD COLUMN dest_refresh_token   TEXT NOT NULL DEFAULT '';
ALTER TABLE batch_users ADD COLUMN validation TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE batch_users DROP COLUMN validation;
ALTER TABLE batch_users DROP COLUMN dest_refresh_token;
ALTER TABLE batch_users DROP COLUMN source_refresh_token;
ALTER TABLE endpoints DROP COLUMN oauth_secrets;
