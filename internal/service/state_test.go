package service

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/imapmigrate/imapmigrate/internal/secret"
	"github.com/imapmigrate/imapmigrate/internal/store"
)

var passNames = map[pass]string{passNone: "none", passInitial: "initial", passIncremental: "incremental", passFinal: "final"}

// TestNext: what each user needs in each batch state. Users left
// Validating, Syncing or IncrementalSyncing by a worker that died still
// need their pass; a Synced user needs one only when its incremental sync
// is due; a batch that is not running needs nothing of anyone.
func TestNext(t *testing.T) {
	t.Parallel()
	const at = 1_000_000
	due := sql.NullInt64{Int64: at, Valid: true}
	past := sql.NullInt64{Int64: at - 1, Valid: true}
	later := sql.NullInt64{Int64: at + 1, Valid: true}
	never := sql.NullInt64{}
	running := []string{BatchSyncing, BatchSynced, BatchSyncedWithErrors}

	type user struct {
		status   string
		initial  bool // initial_done
		nextSync sql.NullInt64
	}
	type nextCase struct {
		name   string
		states []string // batch states the case holds in
		u      user
		want   pass
	}
	tests := []nextCase{
		{"QueuedNew", running, user{UserQueued, false, never}, passInitial},
		{"ValidatingLeftByDeadWorker", running, user{UserValidating, false, never}, passInitial},
		{"SyncingLeftByDeadWorker", running, user{UserSyncing, false, never}, passInitial},
		// StartBatch after a stop queues users that had their initial sync:
		// they need an incremental one.
		{"QueuedAfterRestart", running, user{UserQueued, true, later}, passIncremental},
		{"SyncingLeftByDeadWorkerAfterInitial", running, user{UserSyncing, true, later}, passIncremental},
		{"IncrementalSyncingLeftByDeadWorker", running, user{UserIncrementalSyncing, true, later}, passIncremental},
		{"SyncedDueNow", running, user{UserSynced, true, due}, passIncremental},
		{"SyncedOverdue", running, user{UserSynced, true, past}, passIncremental},
		{"SyncedNotDue", running, user{UserSynced, true, later}, passNone},
		{"SyncedNoNextSync", running, user{UserSynced, true, never}, passNone},
		{"Failed", running, user{UserFailed, false, never}, passNone},
		{"FailedAfterInitial", running, user{UserFailed, true, due}, passNone},
		{"StoppedNotRestartedYet", running, user{UserStopped, true, due}, passNone},
		{"CompletedInRunningBatch", running, user{UserCompleted, true, due}, passNone},

		{"CompletingUser", []string{BatchCompleting}, user{UserCompleting, true, later}, passFinal},
		{"CompletingQueued", []string{BatchCompleting}, user{UserQueued, true, later}, passFinal},
		{"CompletingValidatingLeftByDeadWorker", []string{BatchCompleting}, user{UserValidating, false, never}, passFinal},
		{"CompletingSyncingLeftByDeadWorker", []string{BatchCompleting}, user{UserSyncing, false, never}, passFinal},
		{"CompletingIncrementalLeftByDeadWorker", []string{BatchCompleting}, user{UserIncrementalSyncing, true, later}, passFinal},
		// A Synced user in a Completing batch is moved to Completing by
		// settle; until then it needs nothing, even when due.
		{"CompletingSyncedDue", []string{BatchCompleting}, user{UserSynced, true, due}, passNone},
		{"CompletingCompleted", []string{BatchCompleting}, user{UserCompleted, true, never}, passNone},
		{"CompletingFailed", []string{BatchCompleting}, user{UserFailed, false, never}, passNone},
		{"CompletingStopped", []string{BatchCompleting}, user{UserStopped, true, due}, passNone},
	}
	// A batch that is not running needs nothing of any user, whatever a
	// dead worker left behind.
	idle := []string{BatchCreated, BatchStopping, BatchStopped, BatchCompleted, BatchFailed, BatchRemoving}
	for _, status := range []string{UserQueued, UserValidating, UserSyncing, UserSynced, UserIncrementalSyncing,
		UserCompleting, UserCompleted, UserFailed, UserStopped} {
		for _, initial := range []bool{false, true} {
			name := fmt.Sprintf("Idle%s%s", status, map[bool]string{false: "New", true: "AfterInitial"}[initial])
			tests = append(tests, nextCase{name, idle, user{status, initial, past}, passNone})
		}
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, state := range tc.states {
				b := &batchRow{State: state}
				u := &userRow{Status: tc.u.status, InitialDone: tc.u.initial, NextSync: tc.u.nextSync}
				if got := next(b, u, at); got != tc.want {
					t.Errorf("next(batch %s, user %s initial_done=%v next_sync=%v at %d) = %s; want %s",
						state, tc.u.status, tc.u.initial, tc.u.nextSync, int64(at), passNames[got], passNames[tc.want])
				}
			}
		})
	}
}

// stateBundle is a service on its own SQLite database, not started: the
// tests run its steps (acquire, settle, enqueue) by hand, with endpoints
// that are never dialled.
type stateBundle struct {
	t        *testing.T
	ctx      context.Context
	s        *Service
	src, dst *endpoint
	users    []int64 // of batch b1, in CSV order
	queue    *fakeQueue
}

func setupState(t *testing.T, users int) *stateBundle {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "imapmigrate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key, err := secret.NewKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, Config{DB: db, Key: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	q := &fakeQueue{}
	s.queue = q
	for _, spec := range []EndpointSpec{
		{Endpoint: Endpoint{Name: "src", Host: "127.0.0.1", Port: 1, Security: "none"}},
		{Endpoint: Endpoint{Name: "dst", Host: "127.0.0.1", Port: 2, Security: "none", Credentials: CredentialsAdmin,
			AdminFormat: AdminAuthzid, AdminUser: "admin"}, AdminPassword: "admin pw"},
	} {
		if _, err := s.AddEndpoint(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	var csv strings.Builder
	csv.WriteString("EmailAddress,UserName,Password\n")
	for i := 1; i <= users; i++ {
		fmt.Fprintf(&csv, "u%02d@example.com,u%02d,pw%02d\n", i, i, i)
	}
	if _, _, err := s.CreateBatch(ctx, BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst", CSV: csv.String()}); err != nil {
		t.Fatal(err)
	}
	b := &stateBundle{t: t, ctx: ctx, s: s, queue: q}
	if b.src, err = s.endpointByName(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	if b.dst, err = s.endpointByName(ctx, "dst"); err != nil {
		t.Fatal(err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM batch_users ORDER BY line`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		b.users = append(b.users, id)
	}
	return b
}

// set puts batch b1 in state and its users in the given statuses, as a
// mix of admin actions and worker steps would have.
func (b *stateBundle) set(state string, statuses ...string) {
	b.t.Helper()
	if _, err := b.s.db.ExecContext(b.ctx, `UPDATE batches SET state = $1`, state); err != nil {
		b.t.Fatal(err)
	}
	for i, st := range statuses {
		if err := b.s.setUser(b.ctx, b.users[i], "status = $1", st); err != nil {
			b.t.Fatal(err)
		}
	}
}

func (b *stateBundle) state() string {
	b.t.Helper()
	var st string
	if err := b.s.db.QueryRowContext(b.ctx, `SELECT state FROM batches WHERE name = 'b1'`).Scan(&st); err != nil {
		b.t.Fatal(err)
	}
	return st
}

func (b *stateBundle) user(i int) *userRow {
	b.t.Helper()
	u, err := scanUser(b.s.db.QueryRowContext(b.ctx, `SELECT `+userColumns+` FROM batch_users WHERE id = $1`, b.users[i]))
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// TestAcquireOnlyInRunningBatches: a worker that read its batch before
// StopBatch or RemoveBatch cannot claim the mailbox after them; settle
// counts the claims to call the batch Stopped, and remove to delete it.
func TestAcquireOnlyInRunningBatches(t *testing.T) {
	t.Parallel()
	b := setupState(t, 1)
	tests := []struct {
		state, status string
		ok            bool
	}{
		{BatchSyncing, UserQueued, true},
		{BatchSynced, UserSynced, true},
		{BatchSyncedWithErrors, UserSynced, true},
		{BatchCompleting, UserCompleting, true},
		{BatchSyncing, UserStopped, false},
		{BatchStopping, UserStopped, false},
		{BatchStopping, UserSyncing, false},
		{BatchStopped, UserStopped, false},
		{BatchRemoving, UserStopped, false},
		{BatchCreated, UserQueued, false},
		{BatchCompleted, UserCompleted, false},
		{BatchFailed, UserFailed, false},
	}
	for _, tc := range tests {
		b.set(tc.state, tc.status)
		l, err := b.s.acquire(b.ctx, b.users[0], b.src, b.dst, false)
		switch {
		case tc.ok && err != nil:
			t.Errorf("acquire in a batch %s, user %s = %v; want the claim", tc.state, tc.status, err)
		case !tc.ok && !errors.Is(err, errNoSlot):
			t.Errorf("acquire in a batch %s, user %s = %v; want errNoSlot", tc.state, tc.status, err)
		}
		if l != nil {
			l.release()
		}
	}
}

// TestSettleStopped: a stopping batch is Stopped once no worker holds one
// of its users, and then none of them is shown in a pass, even one whose
// worker wrote its status over StopBatch's.
func TestSettleStopped(t *testing.T) {
	t.Parallel()
	b := setupState(t, 3)
	b.set(BatchStopping, UserSyncing, UserStopped, UserFailed)
	// A claim taken before the stop holds the batch in Stopping.
	if _, err := b.s.db.ExecContext(b.ctx, `INSERT INTO leases (user_id, holder, incremental, source_endpoint_id,
		dest_endpoint_id, expires_at) VALUES ($1, 'other', 0, $2, $3, $4)`, b.users[0], b.src.ID, b.dst.ID, now()+time.Minute.Milliseconds()); err != nil {
		t.Fatal(err)
	}
	if err := b.s.settle(b.ctx, b.user(0).BatchID); err != nil {
		t.Fatal(err)
	}
	if st, u := b.state(), b.user(0); st != BatchStopping || u.Status != UserSyncing {
		t.Errorf("settle while a worker holds a user: batch %s, user %s; want Stopping, Syncing", st, u.Status)
	}
	if _, err := b.s.db.ExecContext(b.ctx, `DELETE FROM leases`); err != nil {
		t.Fatal(err)
	}
	if err := b.s.settle(b.ctx, b.user(0).BatchID); err != nil {
		t.Fatal(err)
	}
	if st := b.state(); st != BatchStopped {
		t.Errorf("settle with no worker left: batch %s; want Stopped", st)
	}
	for i, want := range []string{UserStopped, UserStopped, UserFailed} {
		if u := b.user(i); u.Status != want {
			t.Errorf("%s in a stopped batch: %s; want %s", u.Email, u.Status, want)
		}
	}
}

// TestSettleSendsLateSyncedUsersToFinalPass: a user whose incremental pass
// ended Synced after CompleteBatch still gets its final pass, so the batch
// can complete.
func TestSettleSendsLateSyncedUsersToFinalPass(t *testing.T) {
	t.Parallel()
	b := setupState(t, 2)
	b.set(BatchCompleting, UserCompleted, UserSynced)
	if err := b.s.setUser(b.ctx, b.users[1], "initial_done = 1, enqueued_at = $1", now()); err != nil {
		t.Fatal(err)
	}
	if err := b.s.settle(b.ctx, b.user(0).BatchID); err != nil {
		t.Fatal(err)
	}
	u := b.user(1)
	if u.Status != UserCompleting {
		t.Errorf("a Synced user of a completing batch after settle: %s; want Completing", u.Status)
	}
	if p := next(&batchRow{State: BatchCompleting}, u, now()); p != passFinal {
		t.Errorf("next for it = %s; want final", passNames[p])
	}
	if st := b.state(); st != BatchCompleting {
		t.Errorf("batch %s; want Completing until that pass", st)
	}
	var queued sql.NullInt64
	if err := b.s.db.QueryRowContext(b.ctx, `SELECT enqueued_at FROM batch_users WHERE id = $1`, b.users[1]).Scan(&queued); err != nil || queued.Valid {
		t.Errorf("enqueued_at = %v, %v; want NULL, so the scheduler queues the pass at once", queued, err)
	}
}

// TestEnqueueAsksAgainSoonWhenJobRunning: an insert absorbed by the user's
// job still running is asked again within seconds, not after
// requeueAfter: that job may be ending a pass begun before the need.
func TestEnqueueAsksAgainSoonWhenJobRunning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		existing rivertype.JobState // "" for a fresh insert
		wantIn   time.Duration      // how soon the scheduler asks again
	}{
		{"Inserted", "", requeueAfter},
		{"Available", rivertype.JobStateAvailable, requeueAfter},
		{"Scheduled", rivertype.JobStateScheduled, requeueAfter},
		{"Running", rivertype.JobStateRunning, requeueRunning},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupState(t, 1)
			b.set(BatchSyncing, UserQueued)
			b.queue.existing = tc.existing
			before := now()
			if err := b.s.enqueue(b.ctx); err != nil {
				t.Fatal(err)
			}
			after := now()
			if b.queue.inserts != 1 {
				t.Fatalf("enqueue inserted %d jobs; want 1", b.queue.inserts)
			}
			var queued int64
			if err := b.s.db.QueryRowContext(b.ctx, `SELECT enqueued_at FROM batch_users WHERE id = $1`, b.users[0]).Scan(&queued); err != nil {
				t.Fatal(err)
			}
			// The scheduler asks again once enqueued_at < now - requeueAfter.
			again := time.Duration(queued+requeueAfter.Milliseconds()-after) * time.Millisecond
			lo := time.Duration(queued+requeueAfter.Milliseconds()-before) * time.Millisecond
			if again > tc.wantIn || lo < tc.wantIn {
				t.Errorf("enqueue with the job %q: asks again in %v to %v; want %v", tc.existing, again, lo, tc.wantIn)
			}
		})
	}
}

// fakeQueue stands for River: Insert finds a job of the given state, or
// none.
type fakeQueue struct {
	existing rivertype.JobState
	inserts  int
}

func (q *fakeQueue) Start(context.Context) error         { return nil }
func (q *fakeQueue) Stop(context.Context) error          { return nil }
func (q *fakeQueue) StopAndCancel(context.Context) error { return nil }

func (q *fakeQueue) Insert(_ context.Context, _ river.JobArgs, _ *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	q.inserts++
	if q.existing == "" {
		return &rivertype.JobInsertResult{Job: &rivertype.JobRow{State: rivertype.JobStateAvailable}}, nil
	}
	return &rivertype.JobInsertResult{Job: &rivertype.JobRow{State: q.existing}, UniqueSkippedAsDuplicate: true}, nil
}
