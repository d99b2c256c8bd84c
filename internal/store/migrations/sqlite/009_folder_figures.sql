-- +goose Up
-- A source folder's figures as the last pass that left it complete saw
-- them (every message at the destination, nothing failed or left out):
-- HIGHESTMODSEQ (0 when the source has no CONDSTORE), UIDNEXT and
-- MESSAGES. A later pass whose STATUS shows the same figures skips the
-- folder without examining it. 0 in source_uidnext means "not settled":
-- the folder is scanned.
ALTER TABLE sync_folders ADD COLUMN source_modseq   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_folders ADD COLUMN source_uidnext  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_folders ADD COLUMN source_messages INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sync_folders DROP COLUMN source_messages;
ALTER TABLE sync_folders DROP COLUMN source_uidnext;
ALTER TABLE sync_folders DROP COLUMN source_modseq;
