-- +goose Up
-- The migration service: endpoints, batches and their users, and the leases
-- that keep a mailbox to one worker and an endpoint under its caps. Times
-- are Unix milliseconds (the same in both dialects); 0 or NULL means never.

-- settings is the endpoint as JSON (service.Endpoint without the password);
-- admin_password is sealed by package secret.
CREATE TABLE endpoints (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    settings       TEXT    NOT NULL,
    admin_password TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL
);

CREATE TABLE batches (
    id                 INTEGER PRIMARY KEY,
    name               TEXT    NOT NULL UNIQUE,
    source_endpoint_id INTEGER NOT NULL REFERENCES endpoints (id),
    dest_endpoint_id   INTEGER NOT NULL REFERENCES endpoints (id),
    state              TEXT    NOT NULL,
    options            TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    started_at         INTEGER,
    completed_at       INTEGER
);

-- One row per mailbox. email is lowercased and unique across batches: a
-- mailbox is in one batch at a time, as in Exchange. report holds the last
-- pass's folders and skipped and failed items as JSON.
CREATE TABLE batch_users (
    id              INTEGER PRIMARY KEY,
    batch_id        INTEGER NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    email           TEXT    NOT NULL UNIQUE,
    line            INTEGER NOT NULL,
    source_user     TEXT    NOT NULL,
    source_password TEXT    NOT NULL,
    user_root       TEXT    NOT NULL,
    dest_user       TEXT    NOT NULL,
    dest_password   TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    validated       INTEGER NOT NULL DEFAULT 0,
    initial_done    INTEGER NOT NULL DEFAULT 0,
    failures        INTEGER NOT NULL DEFAULT 0,
    items_synced    INTEGER NOT NULL DEFAULT 0,
    items_skipped   INTEGER NOT NULL DEFAULT 0,
    skipped_by      TEXT    NOT NULL DEFAULT '{}',
    items_failed    INTEGER NOT NULL DEFAULT 0,
    bytes           INTEGER NOT NULL DEFAULT 0,
    pass_to_copy    INTEGER NOT NULL DEFAULT 0,
    pass_copied     INTEGER NOT NULL DEFAULT 0,
    last_sync_at    INTEGER,
    next_sync_at    INTEGER,
    enqueued_at     INTEGER,
    throttled_until INTEGER,
    duration_ms     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    report          TEXT    NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL
);
CREATE INDEX batch_users_batch ON batch_users (batch_id, status);

-- A lease says that holder (a worker process) is migrating the user's
-- mailbox until expires_at, through these two endpoints. One row per user
-- keeps a mailbox to one worker; counting rows per endpoint keeps the
-- endpoint caps across workers. A dead worker's leases expire.
CREATE TABLE leases (
    user_id            INTEGER PRIMARY KEY REFERENCES batch_users (id) ON DELETE CASCADE,
    holder             TEXT    NOT NULL,
    incremental        INTEGER NOT NULL,
    source_endpoint_id INTEGER NOT NULL,
    dest_endpoint_id   INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL
);

-- +goose Down
DROP TABLE leases;
DROP TABLE batch_users;
DROP TABLE batches;
DROP TABLE endpoints;
