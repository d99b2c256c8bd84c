-- +goose Up
-- The same tables as migrations/sqlite/005_verification_and_cutover.sql: see there.
CREATE TABLE batch_user_verifications (
    user_id      BIGINT PRIMARY KEY REFERENCES batch_users (id) ON DELETE CASCADE,
    state        TEXT   NOT NULL,
    requested_at BIGINT NOT NULL,
    started_at   BIGINT,
    error        TEXT   NOT NULL DEFAULT '',
    verified_at  BIGINT,
    duration_ms  BIGINT NOT NULL DEFAULT 0,
    grade        TEXT   NOT NULL DEFAULT '',
    grade_reason TEXT   NOT NULL DEFAULT '',
    totals       TEXT   NOT NULL DEFAULT '',
    details      TEXT   NOT NULL DEFAULT ''
);

CREATE TABLE batch_cutovers (
    batch_id     BIGINT PRIMARY KEY REFERENCES batches (id) ON DELETE CASCADE,
    options      TEXT   NOT NULL,
    requested_at BIGINT NOT NULL,
    switched_at  BIGINT,
    checked_at   BIGINT,
    status       TEXT   NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE batch_cutovers;
DROP TABLE batch_user_verifications;
