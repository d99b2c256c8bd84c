-- +goose Up
-- The same tables as migrations/sqlite/006_notifications.sql: see there.
CREATE TABLE notifications (
    id          BIGSERIAL PRIMARY KEY,
    batch_id    BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    event       TEXT   NOT NULL,
    round       BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    recipients  TEXT   NOT NULL,
    state       TEXT   NOT NULL,
    message_id  TEXT   NOT NULL,
    response    TEXT   NOT NULL DEFAULT '',
    error       TEXT   NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    sent_at     BIGINT,
    enqueued_at BIGINT NOT NULL,
    UNIQUE (batch_id, event, round)
);

CREATE TABLE welcome_letters (
    id          BIGSERIAL PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES batch_users (id) ON DELETE CASCADE,
    address     TEXT   NOT NULL,
    state       TEXT   NOT NULL,
    subject     TEXT   NOT NULL,
    body        TEXT   NOT NULL,
    message_id  TEXT   NOT NULL,
    response    TEXT   NOT NULL DEFAULT '',
    error       TEXT   NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    queued_at   BIGINT NOT NULL,
    sent_at     BIGINT,
    enqueued_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX welcome_letters_queued ON welcome_letters (user_id) WHERE state = 'queued';
CREATE INDEX welcome_letters_user ON welcome_letters (user_id, id);

ALTER TABLE batches ADD COLUMN notify_round BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN round_mark   BIGINT;

-- +goose Down
ALTER TABLE batches DROP COLUMN round_mark;
ALTER TABLE batches DROP COLUMN notify_round;
DROP TABLE welcome_letters;
DROP TABLE notifications;
