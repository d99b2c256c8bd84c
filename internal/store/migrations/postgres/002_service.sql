-- +goose Up
-- The same tables as migrations/sqlite/002_service.sql: see there.

CREATE TABLE endpoints (
    id             BIGSERIAL PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    settings       TEXT    NOT NULL,
    admin_password TEXT    NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL
);

CREATE TABLE batches (
    id                 BIGSERIAL PRIMARY KEY,
    name               TEXT    NOT NULL UNIQUE,
    source_endpoint_id BIGINT NOT NULL REFERENCES endpoints (id),
    dest_endpoint_id   BIGINT NOT NULL REFERENCES endpoints (id),
    state              TEXT    NOT NULL,
    options            TEXT    NOT NULL,
    created_at         BIGINT NOT NULL,
    started_at         BIGINT,
    completed_at       BIGINT
);

CREATE TABLE batch_users (
    id              BIGSERIAL PRIMARY KEY,
    batch_id        BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    email           TEXT    NOT NULL UNIQUE,
    line            BIGINT NOT NULL,
    source_user     TEXT    NOT NULL,
    source_password TEXT    NOT NULL,
    user_root       TEXT    NOT NULL,
    dest_user       TEXT    NOT NULL,
    dest_password   TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    validated       BIGINT NOT NULL DEFAULT 0,
    initial_done    BIGINT NOT NULL DEFAULT 0,
    failures        BIGINT NOT NULL DEFAULT 0,
    items_synced    BIGINT NOT NULL DEFAULT 0,
    items_skipped   BIGINT NOT NULL DEFAULT 0,
    skipped_by      TEXT    NOT NULL DEFAULT '{}',
    items_failed    BIGINT NOT NULL DEFAULT 0,
    bytes           BIGINT NOT NULL DEFAULT 0,
    pass_to_copy    BIGINT NOT NULL DEFAULT 0,
    pass_copied     BIGINT NOT NULL DEFAULT 0,
    last_sync_at    BIGINT,
    next_sync_at    BIGINT,
    enqueued_at     BIGINT,
    throttled_until BIGINT,
    duration_ms     BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    report          TEXT    NOT NULL DEFAULT '{}',
    created_at      BIGINT NOT NULL
);
CREATE INDEX batch_users_batch ON batch_users (batch_id, status);

CREATE TABLE leases (
    user_id            BIGINT PRIMARY KEY REFERENCES batch_users (id) ON DELETE CASCADE,
    holder             TEXT    NOT NULL,
    incremental        BIGINT NOT NULL,
    source_endpoint_id BIGINT NOT NULL,
    dest_endpoint_id   BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL
);

-- +goose Down
DROP TABLE leases;
DROP TABLE batch_users;
DROP TABLE batches;
DROP TABLE endpoints;
