-- +goose Up
-- The last verification of each migration user (service.VerifyBatch):
-- state is queued, running, done or failed, for the request made at
-- requested_at; error says why the last attempt could not run. The other
-- columns keep the last verification that ran, so that its grade stays
-- shown while a new one is queued: when it finished (verified_at), its
-- grade and reason, its totals (small JSON, read for every listing) and
-- its details (the folders and the lists of differences, at most 1,000
-- items each, read for one user's details only).
CREATE TABLE batch_user_verifications (
    user_id      INTEGER PRIMARY KEY REFERENCES batch_users (id) ON DELETE CASCADE,
    state        TEXT    NOT NULL,
    requested_at INTEGER NOT NULL,
    started_at   INTEGER,
    error        TEXT    NOT NULL DEFAULT '',
    verified_at  INTEGER,
    duration_ms  INTEGER NOT NULL DEFAULT 0,
    grade        TEXT    NOT NULL DEFAULT '',
    grade_reason TEXT    NOT NULL DEFAULT '',
    totals       TEXT    NOT NULL DEFAULT '',
    details      TEXT    NOT NULL DEFAULT ''
);

-- A batch that completes once its domains' MX records point at the
-- destination (batch complete --after-mx-switch): options is the
-- service.CompleteOptions JSON; switched_at is when the scheduler first
-- found every domain switched (NULL until then, and again if the records
-- went back); checked_at and status are its last DNS check, in words.
CREATE TABLE batch_cutovers (
    batch_id     INTEGER PRIMARY KEY REFERENCES batches (id) ON DELETE CASCADE,
    options      TEXT    NOT NULL,
    requested_at INTEGER NOT NULL,
    switched_at  INTEGER,
    checked_at   INTEGER,
    status       TEXT    NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE batch_cutovers;
DROP TABLE batch_user_verifications;
