-- +goose Up
-- OAuth 2.0 logins of an endpoint and per-user refresh tokens, and the
-- batch validation step.
--
-- endpoints.oauth_secrets holds the endpoint's OAuth client secret,
-- certificate private key or service account key as JSON, sealed by package
-- secret like admin_password and bound to the endpoint and the column; the
-- rest of the OAuth settings (provider, tenant, client ID, token URL) and
-- the provider profile are in settings, in the clear.
ALTER TABLE endpoints ADD COLUMN oauth_secrets TEXT NOT NULL DEFAULT '';

-- The refresh tokens of the CSV's RefreshToken and DestinationRefreshToken
-- columns (consumer accounts), sealed like the passwords. A provider that
-- rotates them sends a new one with each access token: it replaces the old
-- one here, sealed again.
ALTER TABLE batch_users ADD COLUMN source_refresh_token TEXT NOT NULL DEFAULT '';
ALTER TABLE batch_users ADD COLUMN dest_refresh_token   TEXT NOT NULL DEFAULT '';

-- The user's last validation (service.Validation as JSON): logins, quota
-- against the source's size, folder mapping, messages over the size limit;
-- '' when the user was never validated.
ALTER TABLE batch_users ADD COLUMN validation TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE batch_users DROP COLUMN validation;
ALTER TABLE batch_users DROP COLUMN dest_refresh_token;
ALTER TABLE batch_users DROP COLUMN source_refresh_token;
ALTER TABLE endpoints DROP COLUMN oauth_secrets;
