-- +goose Up
-- The error history of a migration user, newest last, at most 50 kept per
-- user (the service trims it), so that the console can show what went
-- wrong before the last error.
CREATE TABLE batch_user_errors (
    id      INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES batch_users (id) ON DELETE CASCADE,
    at      INTEGER NOT NULL,
    message TEXT    NOT NULL
);
CREATE INDEX batch_user_errors_user ON batch_user_errors (user_id, id);

-- +goose Down
DROP TABLE batch_user_errors;
