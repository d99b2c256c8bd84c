-- +goose Up
-- Mail the service sends (package notify): batch reports to a batch's
-- notification addresses and welcome letters to its users. A row is
-- written before the mail is handed to the SMTP server, so that an event
-- is claimed once across every process on the database and a process that
-- dies after the claim leaves a row that the scheduler queues again. Times
-- are Unix milliseconds, as in 002_service.sql.

-- One batch report per event. event is initial_sync, incremental_errors or
-- completed; round numbers the batch's incremental rounds (0 for the other
-- two events), so that the unique key lets each event be claimed once.
-- recipients are comma-separated, as the batch had them at the event.
-- message_id is chosen at the claim: a send repeated after a crash carries
-- the same Message-ID. state is pending, sent or failed.
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY,
    batch_id    INTEGER NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    event       TEXT    NOT NULL,
    round       INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    recipients  TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    message_id  TEXT    NOT NULL,
    response    TEXT    NOT NULL DEFAULT '',
    error       TEXT    NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    sent_at     INTEGER,
    enqueued_at INTEGER NOT NULL,
    UNIQUE (batch_id, event, round)
);

-- One row per welcome letter queued for a user: the letter as rendered
-- when it was queued (what the user got), and what the SMTP server said.
-- state is queued, sent or failed. The partial unique index keeps one
-- letter in the queue per user at a time, whatever the number of callers.
CREATE TABLE welcome_letters (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES batch_users (id) ON DELETE CASCADE,
    address     TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    message_id  TEXT    NOT NULL,
    response    TEXT    NOT NULL DEFAULT '',
    error       TEXT    NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    queued_at   INTEGER NOT NULL,
    sent_at     INTEGER,
    enqueued_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX welcome_letters_queued ON welcome_letters (user_id) WHERE state = 'queued';
CREATE INDEX welcome_letters_user ON welcome_letters (user_id, id);

-- Incremental rounds of a synced batch: round_mark is when the last round
-- (or the initial sync) ended, notify_round how many rounds have ended.
ALTER TABLE batches ADD COLUMN notify_round INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN round_mark   INTEGER;

-- +goose Down
ALTER TABLE batches DROP COLUMN round_mark;
ALTER TABLE batches DROP COLUMN notify_round;
DROP TABLE welcome_letters;
DROP TABLE notifications;
