package service

import (
	"database/sql"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
)

// TestNextBlocked: a Blocked user needs nothing until its retry is due,
// then the pass it was blocked in.
func TestNextBlocked(t *testing.T) {
	t.Parallel()
	const at = 1_000_000
	due := sql.NullInt64{Int64: at, Valid: true}
	later := sql.NullInt64{Int64: at + 1, Valid: true}
	tests := []struct {
		name     string
		state    string
		initial  bool
		nextSync sql.NullInt64
		want     pass
	}{
		{"InitialNotDue", BatchSyncedWithErrors, false, later, passNone},
		{"InitialDue", BatchSyncedWithErrors, false, due, passInitial},
		{"IncrementalDue", BatchSynced, true, due, passIncremental},
		{"IncrementalDueWhileSyncing", BatchSyncing, true, due, passIncremental},
		{"IncrementalNotDue", BatchSynced, true, later, passNone},
		{"FinalDue", BatchCompleting, true, due, passFinal},
		{"FinalNotDue", BatchCompleting, true, later, passNone},
		{"StoppedBatch", BatchStopped, true, due, passNone},
		{"CompletedBatch", BatchCompleted, true, due, passNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &userRow{Status: UserBlocked, InitialDone: tc.initial, NextSync: tc.nextSync}
			if got := next(&batchRow{State: tc.state}, u, at); got != tc.want {
				t.Errorf("next(batch %s, Blocked user initial_done=%v next_sync=%v at %d) = %s; want %s",
					tc.state, tc.initial, tc.nextSync, int64(at), passNames[got], passNames[tc.want])
			}
		})
	}
}

// TestSettleWithBlocked: for its batch a Blocked user counts as a failed
// one, but a batch with a Blocked user is never Failed, so that its
// retries go on; a completing batch does not wait for it.
func TestSettleWithBlocked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		from     string
		statuses []string
		want     string
	}{
		{"SyncedAndBlocked", BatchSyncing, []string{UserSynced, UserBlocked}, BatchSyncedWithErrors},
		{"AllBlocked", BatchSyncing, []string{UserBlocked, UserBlocked}, BatchSyncedWithErrors},
		{"BlockedAndFailed", BatchSyncing, []string{UserFailed, UserBlocked}, BatchSyncedWithErrors},
		{"AllFailed", BatchSyncing, []string{UserFailed, UserFailed}, BatchFailed},
		{"BlockedUserRetrying", BatchSyncedWithErrors, []string{UserSynced, UserSyncing}, BatchSyncing},
		{"CompletingWithBlocked", BatchCompleting, []string{UserCompleted, UserBlocked}, BatchCompleted},
		{"CompletingWithBlockedRetrying", BatchCompleting, []string{UserCompleted, UserCompleting}, BatchCompleting},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupState(t, len(tc.statuses))
			b.set(tc.from, tc.statuses...)
			if err := b.s.settle(b.ctx, b.user(0).BatchID); err != nil {
				t.Fatal(err)
			}
			if got := b.state(); got != tc.want {
				t.Errorf("settle(batch %s, users %v) = %s; want %s", tc.from, tc.statuses, got, tc.want)
			}
		})
	}
}

// TestBlockedRetries: the scheduler queues a Blocked user once its retry
// is due, not before; sync-now makes it due at once, and retry-failed
// queues it with the failed users. Stopping the batch leaves it Blocked.
func TestBlockedRetries(t *testing.T) {
	t.Parallel()
	b := setupState(t, 2)
	b.set(BatchSyncedWithErrors, UserBlocked, UserSynced)
	hour := time.Hour.Milliseconds()
	for i := range 2 {
		if err := b.s.setUser(b.ctx, b.users[i], "initial_done = 1, next_sync_at = $1", now()+hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.s.enqueue(b.ctx); err != nil {
		t.Fatal(err)
	}
	if b.queue.inserts != 0 {
		t.Fatalf("enqueue before the retry is due inserted %d jobs; want none", b.queue.inserts)
	}
	if err := b.s.setUser(b.ctx, b.users[0], "next_sync_at = $1", now()-1); err != nil {
		t.Fatal(err)
	}
	if err := b.s.enqueue(b.ctx); err != nil {
		t.Fatal(err)
	}
	if b.queue.inserts != 1 {
		t.Fatalf("enqueue once the retry is due inserted %d jobs; want 1", b.queue.inserts)
	}

	if err := b.s.setUser(b.ctx, b.users[0], "next_sync_at = $1, enqueued_at = NULL", now()+hour); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.SyncNow(b.ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if u := b.user(0); u.Status != UserBlocked || next(&batchRow{State: BatchSyncedWithErrors}, u, now()) != passIncremental {
		t.Errorf("after sync-now the blocked user is %s, needing %s; want Blocked, needing an incremental pass",
			u.Status, passNames[next(&batchRow{State: BatchSyncedWithErrors}, u, now())])
	}

	if _, err := b.s.StopBatch(b.ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if u := b.user(0); u.Status != UserBlocked {
		t.Errorf("a blocked user of a stopped batch is %s; want Blocked still", u.Status)
	}
	if err := b.s.settle(b.ctx, b.user(0).BatchID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.StartBatch(b.ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.RetryFailed(b.ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if u := b.user(0); u.Status != UserQueued || u.Validated {
		t.Errorf("after retry-failed the blocked user is %s (validated %v); want Queued, to be validated again", u.Status, u.Validated)
	}
}

// TestUnavailableStreak: passes whose APPENDs met Exchange's "Server
// Unavailable" are counted in a row; a pass without ends the run.
func TestUnavailableStreak(t *testing.T) {
	t.Parallel()
	b := setupState(t, 1)
	unavailable := &mailsync.Report{Skipped: []mailsync.Item{
		{Folder: "INBOX", UID: 3, Reason: mailsync.ReasonTooLarge, Detail: "over 35 MiB"},
		{Folder: "INBOX", UID: 4, Reason: mailsync.ReasonRejected, Detail: "destination said: NO Server Unavailable. 15"},
	}}
	rejected := &mailsync.Report{Skipped: []mailsync.Item{
		{Folder: "INBOX", UID: 4, Reason: mailsync.ReasonRejected, Detail: "destination said: NO [TOOBIG] message too large"},
	}}
	if got := appendUnavailable(unavailable); got != "destination said: NO Server Unavailable. 15" {
		t.Errorf("appendUnavailable = %q; want Exchange's answer", got)
	}
	for i, tc := range []struct {
		rep  *mailsync.Report
		want int
	}{{unavailable, 1}, {unavailable, 2}, {rejected, 0}, {unavailable, 1}, {unavailable, 2}, {unavailable, 3}} {
		got, err := b.s.unavailableStreak(b.ctx, b.users[0], appendUnavailable(tc.rep) != "")
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("pass %d: streak %d; want %d", i+1, got, tc.want)
		}
	}
}
