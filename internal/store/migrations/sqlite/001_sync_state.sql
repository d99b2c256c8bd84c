-- +goose Up
-- One row per source folder of a mailbox migration. "mailbox" names the
-- migration (source user@host to destination user@host), so one database can
-- hold the state of many mailboxes.
CREATE TABLE sync_folders (
    id                 INTEGER PRIMARY KEY,
    mailbox            TEXT    NOT NULL,
    source_name        TEXT    NOT NULL,
    source_uidvalidity INTEGER NOT NULL,
    dest_name          TEXT    NOT NULL,
    dest_uidvalidity   INTEGER NOT NULL,
    updated_at         TEXT    NOT NULL,
    UNIQUE (mailbox, source_name)
);

-- One row per source message that is at the destination. dest_uid is 0 when
-- the destination did not say (no UIDPLUS). flags are the flags last written
-- to the destination, so that a later run changes only what changed at the
-- source and leaves flags set by the user at the destination alone.
CREATE TABLE sync_messages (
    folder_id   INTEGER NOT NULL REFERENCES sync_folders (id) ON DELETE CASCADE,
    source_uid  INTEGER NOT NULL,
    dest_uid    INTEGER NOT NULL,
    flags       TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    PRIMARY KEY (folder_id, source_uid)
);

-- +goose Down
DROP TABLE sync_messages;
DROP TABLE sync_folders;
