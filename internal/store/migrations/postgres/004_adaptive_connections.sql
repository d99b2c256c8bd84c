-- +goose Up
-- The same columns as migrations/sqlite/004_adaptive_connections.sql: see there.
ALTER TABLE endpoints ADD COLUMN source_connections INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN source_calm        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN dest_connections   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN dest_calm          INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batch_users ADD COLUMN unavailable_passes INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE batch_users DROP COLUMN unavailable_passes;
ALTER TABLE endpoints DROP COLUMN dest_calm;
ALTER TABLE endpoints DROP COLUMN dest_connections;
ALTER TABLE endpoints DROP COLUMN source_calm;
ALTER TABLE endpoints DROP COLUMN source_connections;
