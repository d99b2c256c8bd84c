package service_test

import (
	"errors"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestStartAfter: a batch started before its start-after time is
// Scheduled and migrates nothing; at the time the scheduler starts it by
// itself. A batch scheduled for later can be stopped, and keeps its users
// Queued meanwhile. Times are stored in UTC with the zone they were given
// in.
func TestStartAfter(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 2, workers: 2, messagesBase: 3})
	ctx := b.ctx
	paris, err := service.LoadZone("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}

	// Later: an hour from now, given in Paris time.
	later := time.Now().Add(time.Hour).In(paris).Truncate(time.Second)
	bt, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "later", SourceEndpoint: "src", DestEndpoint: "dst", CSV: b.csv(2, 2, nil),
		Options: service.BatchOptions{StartAfter: &later, TimeZone: "Europe/Paris"}, Start: true})
	if err != nil {
		t.Fatal(err)
	}
	if bt.State != service.BatchScheduled || bt.Started != nil {
		t.Fatalf("batch started an hour before its start-after time: %s, started %v; want Scheduled, not started", bt.State, bt.Started)
	}
	if o := bt.Options; o.StartAfter.Location() != time.UTC || !o.StartAfter.Equal(later) || o.TimeZone != "Europe/Paris" {
		t.Errorf("start-after stored as %v in %q; want %v in UTC, zone Europe/Paris", o.StartAfter, o.TimeZone, later.UTC())
	}
	if _, err := b.svc.StartBatch(ctx, "later"); !errors.Is(err, service.ErrConflict) {
		t.Errorf("starting a Scheduled batch again: %v; want a conflict saying when it starts", err)
	}

	// Soon: two seconds from now. Scheduled at once, then started by the
	// scheduler at the time, and synced.
	soon := time.Now().Add(2 * time.Second)
	bt, _, err = b.svc.CreateBatch(ctx, service.BatchSpec{Name: "soon", SourceEndpoint: "src", DestEndpoint: "dst", CSV: b.csv(1, 1, nil),
		Options: service.BatchOptions{StartAfter: &soon}, Start: true})
	if err != nil {
		t.Fatal(err)
	}
	if bt.State != service.BatchScheduled {
		// Only a machine stalled for two seconds since the call gets here.
		t.Logf("batch soon is already %s", bt.State)
	} else if u := b.user("u01"); u.Status != service.UserQueued || u.ItemsSynced != 0 || u.LastSync != nil {
		t.Errorf("a user of a Scheduled batch was worked on: %+v", u)
	}
	synced := b.waitBatch("soon", time.Minute, service.BatchSynced)
	if synced.Started == nil || synced.Started.Before(soon.Truncate(time.Millisecond)) {
		t.Errorf("batch soon started at %v; its start-after time is %v", synced.Started, soon)
	}
	b.checkMirrored("u01")

	// Meanwhile the later batch waited, its user untouched.
	if bt, err := b.svc.Batch(ctx, "later"); err != nil || bt.State != service.BatchScheduled {
		t.Fatalf("batch later: %+v, %v; want still Scheduled", bt, err)
	}
	if u := b.user("u02"); u.Status != service.UserQueued || u.LastSync != nil {
		t.Errorf("the user of a batch scheduled for later was worked on: %+v", u)
	}
	if ps, err := b.svc.History(ctx, "later"); err != nil || len(ps) != 0 {
		t.Errorf("batch later has passes %+v, %v; want none", ps, err)
	}
	if _, err := b.svc.StopBatch(ctx, "later"); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("later", 30*time.Second, service.BatchStopped)
}

// TestStaleBatch: a batch synced with no admin action for longer than
// stale_after is flagged, keeps syncing, and an action clears the flag.
func TestStaleBatch(t *testing.T) {
	t.Parallel()
	const staleAfter = 2 * time.Second
	b := setup(t, setupOpts{users: 1, workers: 1, messagesBase: 3, staleAfter: staleAfter})
	ctx := b.ctx
	created, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "idle", SourceEndpoint: "src", DestEndpoint: "dst", CSV: b.csv(1, 1, nil),
		Options: service.BatchOptions{IncrementalIntervalSeconds: 10}})
	if err != nil {
		t.Fatal(err)
	}
	started, err := b.svc.StartBatch(ctx, "idle")
	if err != nil {
		t.Fatal(err)
	}
	if started.LastAction.Before(created.LastAction) || started.Stale {
		t.Errorf("after start: last action %v (created %v), stale %v", started.LastAction, created.LastAction, started.Stale)
	}
	b.waitBatch("idle", time.Minute, service.BatchSynced)
	deadline := time.Now().Add(time.Minute)
	var bt *service.Batch
	for {
		if bt, err = b.svc.Batch(ctx, "idle"); err != nil {
			t.Fatal(err)
		}
		if bt.Stale {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch not flagged stale a minute after its last action: %+v", bt)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if bt.StaleSince == nil || !bt.StaleSince.Equal(started.LastAction) || time.Since(*bt.StaleSince) < staleAfter {
		t.Errorf("stale since %v; want the start, %v, at least %v ago", bt.StaleSince, started.LastAction, staleAfter)
	}
	// Flagged, never stopped: the incremental syncs go on.
	first := b.user("u01")
	if bt.State != service.BatchSynced || first.NextSync == nil {
		t.Errorf("a stale batch is %s with next sync %v; want Synced with its next sync due", bt.State, first.NextSync)
	}
	b.waitNextSync("u01", first, time.Minute)

	before := time.Now().Truncate(time.Millisecond)
	now, err := b.svc.SyncNow(ctx, "idle")
	if err != nil {
		t.Fatal(err)
	}
	if now.LastAction.Before(before) {
		t.Errorf("sync now left the last action at %v", now.LastAction)
	}
	if now.Stale && time.Since(before) < staleAfter {
		t.Errorf("just after sync now the batch is still stale: %+v", now)
	}
}
