-- +goose Up
-- The same table as migrations/sqlite/003_user_errors.sql: see there.
CREATE TABLE batch_user_errors (
    id      BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES batch_users (id) ON DELETE CASCADE,
    at      BIGINT NOT NULL,
    message TEXT   NOT NULL
);
CREATE INDEX batch_user_errors_user ON batch_user_errors (user_id, id);

-- +goose Down
DROP TABLE batch_user_errors;
