-- +goose Up
-- Every sync pass of a migration user, as it ended: what the HTML report
-- draws progress over time from. One row per job run of the engine (a
-- pass longer than the job slice is several rows, the first ones
-- "continued"). items_synced and bytes_total are the user's figures after
-- the pass (messages recorded at the destination, bytes copied so far),
-- so that a curve drawn from the rows left after trimming (the service
-- keeps the last 500 per user) still starts at the right height. Rows go
-- with their user, and so with their batch.
CREATE TABLE pass_history (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES batch_users (id) ON DELETE CASCADE,
    batch_id     INTEGER NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL, -- initial, incremental, final
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER NOT NULL,
    copied       INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    skipped      INTEGER NOT NULL,
    failed       INTEGER NOT NULL,
    items_synced INTEGER NOT NULL,
    bytes_total  INTEGER NOT NULL,
    outcome      TEXT    NOT NULL, -- ok, errors, failed, interrupted, continued
    error        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX pass_history_batch ON pass_history (batch_id, finished_at);
CREATE INDEX pass_history_user ON pass_history (user_id, id);

-- When the admin last acted on the batch (created, started, stopped,
-- synced now, completed, users added or retried): a batch Synced with no
-- action for stale_after is flagged as stale. NULL means at creation.
ALTER TABLE batches ADD COLUMN last_action_at INTEGER;

-- +goose Down
ALTER TABLE batches DROP COLUMN last_action_at;
DROP TABLE pass_history;
