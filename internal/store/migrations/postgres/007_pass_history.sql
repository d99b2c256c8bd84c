-- +goose Up
-- The same table and column as migrations/sqlite/007_pass_history.sql: see there.
CREATE TABLE pass_history (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES batch_users (id) ON DELETE CASCADE,
    batch_id     BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    kind         TEXT   NOT NULL,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT NOT NULL,
    copied       BIGINT NOT NULL,
    bytes        BIGINT NOT NULL,
    skipped      BIGINT NOT NULL,
    failed       BIGINT NOT NULL,
    items_synced BIGINT NOT NULL,
    bytes_total  BIGINT NOT NULL,
    outcome      TEXT   NOT NULL,
    error        TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX pass_history_batch ON pass_history (batch_id, finished_at);
CREATE INDEX pass_history_user ON pass_history (user_id, id);

ALTER TABLE batches ADD COLUMN last_action_at BIGINT;

-- +goose Down
ALTER TABLE batches DROP COLUMN last_action_at;
DROP TABLE pass_history;
