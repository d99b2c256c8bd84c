-- +goose Up
-- The same columns as migrations/sqlite/009_folder_figures.sql: see there.
-- HIGHESTMODSEQ is a 63-bit number (RFC 7162): BIGINT holds it.
ALTER TABLE sync_folders ADD COLUMN source_modseq   BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sync_folders ADD COLUMN source_uidnext  BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sync_folders ADD COLUMN source_messages BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sync_folders DROP COLUMN source_messages;
ALTER TABLE sync_folders DROP COLUMN source_uidnext;
ALTER TABLE sync_folders DROP COLUMN source_modseq;
