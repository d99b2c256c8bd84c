-- +goose Up
-- The same tables as migrations/sqlite/001_sync_state.sql: see there.
CREATE TABLE sync_folders (
    id                 BIGSERIAL PRIMARY KEY,
    mailbox            TEXT   NOT NULL,
    source_name        TEXT   NOT NULL,
    source_uidvalidity BIGINT NOT NULL,
    dest_name          TEXT   NOT NULL,
    dest_uidvalidity   BIGINT NOT NULL,
    updated_at         TEXT   NOT NULL,
    UNIQUE (mailbox, source_name)
);

CREATE TABLE sync_messages (
    folder_id   BIGINT NOT NULL REFERENCES sync_folders (id) ON DELETE CASCADE,
    source_uid  BIGINT NOT NULL,
    dest_uid    BIGINT NOT NULL,
    flags       TEXT   NOT NULL,
    fingerprint TEXT   NOT NULL,
    PRIMARY KEY (folder_id, source_uid)
);

-- +goose Down
DROP TABLE sync_messages;
DROP TABLE sync_folders;
