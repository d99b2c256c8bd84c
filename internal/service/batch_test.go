package service_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestBatchLifecycle runs a batch of 20 users through its whole life on
// real Dovecot servers: two wrong passwords and one destination mailbox
// that does not exist fail alone; the others reach Synced with every
// message, flag and date; new mail arrives with sync-now; complete;
// remove, which leaves the mail alone.
func TestBatchLifecycle(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "SQLite", true: "Postgres"}[pg], func(t *testing.T) {
			testBatchLifecycle(t, pg)
		})
	}
}

func testBatchLifecycle(t *testing.T, pg bool) {
	const n = 20
	b := setup(t, setupOpts{users: n, missingDest: "u07", postgres: pg, workers: 6, messagesBase: 5})
	ctx := b.ctx
	wrong := map[int]bool{3: true, 12: true}

	// Dry run: the plan, nothing created.
	_, plan, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, n, wrong), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Users) != n || plan.Users[0].DestinationUser != "u01@example.com" || plan.Users[0].Line != 2 {
		t.Fatalf("plan = %+v", plan)
	}
	if _, err := b.svc.Batch(ctx, "b1"); !errors.Is(err, service.ErrNotFound) {
		t.Fatalf("after a dry run, Batch = %v; want not found", err)
	}

	if _, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, n, wrong), Start: true}); err != nil {
		t.Fatal(err)
	}
	bt := b.waitBatch("b1", 2*time.Minute, service.BatchSyncedWithErrors, service.BatchSynced, service.BatchFailed)
	if bt.State != service.BatchSyncedWithErrors {
		t.Errorf("batch state = %s; want SyncedWithErrors", bt.State)
	}
	if bt.Totals.Users != n || bt.Totals.UsersByState[service.UserFailed] != 3 || bt.Totals.UsersByState[service.UserSynced] != n-3 {
		t.Errorf("users by state = %v; want %d Synced, 3 Failed", bt.Totals.UsersByState, n-3)
	}
	var want int64
	for i := 1; i <= n; i++ {
		u := fmt.Sprintf("u%02d", i)
		got := b.user(u)
		switch {
		case wrong[i]:
			if got.Status != service.UserFailed || !strings.Contains(got.LastError, "source server refused the login of "+u) {
				t.Errorf("%s: status %s, error %q; want Failed naming the source login", u, got.Status, got.LastError)
			}
			if len(got.Errors) != 1 || got.Errors[0].Message != got.LastError {
				t.Errorf("%s: error history %+v; want the one failure", u, got.Errors)
			}
		case u == "u07":
			if got.Status != service.UserFailed || !strings.Contains(got.LastError, "destination") || !strings.Contains(got.LastError, "may not exist") {
				t.Errorf("%s: status %s, error %q; want Failed saying the destination mailbox may not exist", u, got.Status, got.LastError)
			}
		default:
			msgs := int64(len(b.corpus[u]))
			want += msgs
			if got.Status != service.UserSynced || got.ItemsSynced != msgs || got.ItemsFailed != 0 || got.ItemsSkipped != 0 || got.LastError != "" {
				t.Errorf("%s: %s, synced %d skipped %d failed %d, error %q; want Synced with %d synced", u, got.Status,
					got.ItemsSynced, got.ItemsSkipped, got.ItemsFailed, got.LastError, msgs)
			}
			if got.LastSync == nil || got.NextSync == nil || got.NextSync.Sub(*got.LastSync) < 23*time.Hour {
				t.Errorf("%s: last sync %v, next %v; want the next a day later", u, got.LastSync, got.NextSync)
			}
			if len(got.Folders) != 4 {
				t.Errorf("%s: folders %+v; want INBOX, Sent, Archive and Archive/2019", u, got.Folders)
			}
		}
	}
	if bt.Totals.ItemsSynced != want {
		t.Errorf("batch items synced = %d; want %d", bt.Totals.ItemsSynced, want)
	}
	for _, u := range []string{"u01", "u10", "u20"} {
		b.checkMirrored(u)
	}

	// New mail at the source arrives with sync-now.
	extra := testserver.Corpus(testserver.CorpusOptions{Seed: 100, Messages: 4, Folders: []string{"INBOX"}, MinSize: 500, MaxSize: 1000})
	if err := testserver.Seed(ctx, b.src.Addr, "u05", "pw05", extra); err != nil {
		t.Fatal(err)
	}
	before := b.user("u05").LastSync
	if _, err := b.svc.SyncNow(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		u := b.user("u05")
		if u.Status == service.UserSynced && u.LastSync.After(*before) {
			if u.ItemsSynced != int64(len(b.corpus["u05"])+4) {
				t.Errorf("u05 after sync-now: %d synced; want %d", u.ItemsSynced, len(b.corpus["u05"])+4)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("u05 not synced again after sync-now: %+v", u)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.checkMirrored("u05")

	// Retry the failed users once the cause is fixed: here, nothing is
	// fixed, so they fail again, alone.
	if _, err := b.svc.RetryFailed(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("b1", time.Minute, service.BatchSyncedWithErrors)

	// Complete: a final sync, then Completed.
	if _, err := b.svc.CompleteBatch(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	bt = b.waitBatch("b1", time.Minute, service.BatchCompleted)
	if bt.Totals.UsersByState[service.UserCompleted] != n-3 || bt.Completed == nil {
		t.Errorf("completed batch: %+v", bt)
	}
	if _, err := b.svc.SyncNow(ctx, "b1"); !errors.Is(err, service.ErrConflict) {
		t.Errorf("SyncNow on a completed batch = %v; want a conflict", err)
	}

	// Remove: the batch goes, the mail stays.
	if err := b.svc.RemoveBatch(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		if _, err := b.svc.Batch(ctx, "b1"); errors.Is(err, service.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("batch not removed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := b.svc.User(ctx, "u01@example.com"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("user of a removed batch: %v; want not found", err)
	}
	b.checkMirrored("u01")
	if err := b.svc.RemoveEndpoint(ctx, "src"); err != nil {
		t.Errorf("remove an endpoint no batch uses: %v", err)
	}
}
