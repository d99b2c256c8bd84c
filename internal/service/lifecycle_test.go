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

// TestStopAndStart stops a batch in the middle of its initial sync and
// starts it again, as an admin does to free the source for a while: the
// stop ends every pass (the batch is Stopped only once no worker holds a
// mailbox), nothing is copied while it is stopped, and the start resumes
// where the passes were, with no message lost or copied twice.
func TestStopAndStart(t *testing.T) {
	t.Parallel()
	const n = 3
	// Enough messages, behind a slow link, for a pass to last seconds.
	b := setup(t, setupOpts{users: n, workers: n, messagesBase: 1500, delay: 100 * time.Millisecond})
	ctx := b.ctx
	if _, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, n, nil), Start: true}); err != nil {
		t.Fatal(err)
	}
	started := time.Now()

	// Stop once a pass has copied something.
	deadline := time.Now().Add(time.Minute)
	for {
		users, err := b.svc.Users(ctx, "b1")
		if err != nil {
			t.Fatal(err)
		}
		if anyUser(users, func(u service.User) bool { return u.Status == service.UserSyncing && u.ItemsCopied > 0 }) {
			break
		}
		if anyUser(users, func(u service.User) bool { return u.Status == service.UserSynced }) {
			t.Fatalf("a user synced before the batch could be stopped mid-pass (%v after the start); make the passes longer: %+v",
				time.Since(started), users)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no user copying after a minute: %+v\nlogs:\n%s", users, b.logs.tail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("stopping %v after the start", time.Since(started).Round(time.Millisecond))
	bt, err := b.svc.StopBatch(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if bt.State != service.BatchStopping && bt.State != service.BatchStopped {
		t.Errorf("StopBatch returned a batch %s; want Stopping or Stopped", bt.State)
	}
	stopAsked := time.Now()
	bt = b.waitBatch("b1", 30*time.Second, service.BatchStopped)
	t.Logf("stopped %v after the stop was asked", time.Since(stopAsked).Round(time.Millisecond))

	var total int
	for i := 1; i <= n; i++ {
		total += len(b.corpus[fmt.Sprintf("u%02d", i)])
	}
	interrupted := 0
	for i := 1; i <= n; i++ {
		u := b.user(fmt.Sprintf("u%02d", i))
		switch u.Status {
		case service.UserStopped:
			interrupted++
		case service.UserSynced: // its pass ended before the stop reached it
		default:
			t.Errorf("%s in a stopped batch: %s (%q); want Stopped, or Synced if its pass had ended", u.EmailAddress, u.Status, u.LastError)
		}
	}
	if interrupted == 0 {
		t.Errorf("no user was stopped mid-pass: %+v", bt.Totals.UsersByState)
	}
	if left := b.leases(); left != 0 {
		t.Errorf("%d lease(s) left in a stopped batch; want none", left)
	}

	// Nothing moves while stopped.
	copied := b.destMessages(n)
	time.Sleep(2 * time.Second)
	if again := b.destMessages(n); again != copied {
		t.Errorf("the destination went from %d to %d messages while the batch was stopped", copied, again)
	}
	if copied == 0 || copied >= total {
		t.Errorf("the destination holds %d of the %d messages at the stop; want the stop to cut the copy short", copied, total)
	}
	t.Logf("%d of %d messages copied at the stop", copied, total)
	if bt, err := b.svc.Batch(ctx, "b1"); err != nil || bt.State != service.BatchStopped {
		t.Errorf("two seconds later the batch is %v (%v); want Stopped", bt, err)
	}

	// Start again: the passes resume and finish.
	bt, err = b.svc.StartBatch(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if bt.State != service.BatchSyncing {
		t.Errorf("StartBatch returned a batch %s; want Syncing", bt.State)
	}
	bt = b.waitBatch("b1", 2*time.Minute, service.BatchSynced, service.BatchSyncedWithErrors, service.BatchFailed)
	if bt.State != service.BatchSynced || bt.Totals.UsersByState[service.UserSynced] != n {
		t.Errorf("after the restart: batch %s, users %v; want Synced with %d Synced", bt.State, bt.Totals.UsersByState, n)
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("u%02d", i)
		b.checkSynced(name, len(b.corpus[name]))
		b.checkMirrored(name)
	}
	if bt.Totals.ItemsSynced != int64(total) {
		t.Errorf("batch items synced = %d; want %d", bt.Totals.ItemsSynced, total)
	}
}

// TestAddUsersToRunningBatch adds users to a synced batch: it syncs them,
// and leaves the users already synced alone. A CSV file naming a user
// already in the batch is refused whole, and a completed batch takes no
// more users.
func TestAddUsersToRunningBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 4, workers: 4, messagesBase: 5})
	ctx := b.ctx
	if _, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 2, nil), Start: true}); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("b1", time.Minute, service.BatchSynced)
	first := map[string]*service.User{"u01": b.user("u01"), "u02": b.user("u02")}

	added, err := b.svc.AddUsers(ctx, "b1", b.csv(3, 4, nil))
	if err != nil || added != 2 {
		t.Fatalf("AddUsers(u03, u04) = %d, %v; want 2 added", added, err)
	}
	bt, err := b.svc.Batch(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if bt.State != service.BatchSyncing || bt.Totals.Users != 4 {
		t.Errorf("just after AddUsers: batch %s with %d users; want Syncing with 4", bt.State, bt.Totals.Users)
	}
	bt = b.waitBatch("b1", time.Minute, service.BatchSynced, service.BatchSyncedWithErrors, service.BatchFailed)
	if bt.State != service.BatchSynced || bt.Totals.UsersByState[service.UserSynced] != 4 {
		t.Errorf("after the new users' sync: batch %s, users %v; want Synced with 4 Synced", bt.State, bt.Totals.UsersByState)
	}
	var total int64
	for i := 1; i <= 4; i++ {
		name := fmt.Sprintf("u%02d", i)
		b.checkSynced(name, len(b.corpus[name]))
		total += int64(len(b.corpus[name]))
	}
	if bt.Totals.ItemsSynced != total {
		t.Errorf("batch items synced = %d; want %d", bt.Totals.ItemsSynced, total)
	}
	for name, before := range first {
		if u := b.user(name); !u.LastSync.Equal(*before.LastSync) {
			t.Errorf("%s was synced again when users were added: last sync %v, before %v", name, u.LastSync, before.LastSync)
		}
	}
	b.checkMirrored("u03")
	b.checkMirrored("u04")

	// A user already in the batch, written otherwise: the file is
	// refused whole, naming the line.
	csv := "EmailAddress,UserName,Password\nu05@example.com,u05,pw05\nU01@example.com,u01,pw01\n"
	_, err = b.svc.AddUsers(ctx, "b1", csv)
	var ce *service.CSVError
	if !errors.As(err, &ce) || !errors.Is(err, service.ErrInvalid) {
		t.Fatalf("AddUsers with a user already in the batch = %v; want a *CSVError", err)
	}
	if len(ce.Problems) != 1 || ce.Problems[0].Line != 3 || ce.Problems[0].Column != "EmailAddress" ||
		!strings.Contains(ce.Problems[0].Message, `already in batch "b1"`) {
		t.Errorf("AddUsers with U01 on line 3: problems %+v; want one, on line 3, saying it is already in batch \"b1\"", ce.Problems)
	}
	if bt, err := b.svc.Batch(ctx, "b1"); err != nil || bt.Totals.Users != 4 || bt.State != service.BatchSynced {
		t.Errorf("after a refused CSV file: %+v, %v; want the batch Synced with its 4 users", bt, err)
	}

	// Completed within seconds: the final passes are not held up by the
	// jobs of the passes that just ended.
	if _, err := b.svc.CompleteBatch(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("b1", 20*time.Second, service.BatchCompleted)
	if _, err := b.svc.AddUsers(ctx, "b1", "EmailAddress,UserName,Password\nu05@example.com,u05,pw05\n"); !errors.Is(err, service.ErrConflict) {
		t.Errorf("AddUsers to a completed batch = %v; want a conflict", err)
	}
	if bt, err := b.svc.Batch(ctx, "b1"); err != nil || bt.Totals.Users != 4 {
		t.Errorf("after AddUsers to a completed batch: %+v, %v; want its 4 users", bt, err)
	}
}

// TestCompleteAfter: a batch with a complete-after time syncs, waits for
// that time, then completes by itself with a final pass that brings over
// the mail that arrived meanwhile.
func TestCompleteAfter(t *testing.T) {
	t.Parallel()
	const wait = 8 * time.Second
	b := setup(t, setupOpts{users: 2, workers: 2, messagesBase: 5})
	ctx := b.ctx
	at := time.Now().Add(wait).UTC()
	if _, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 2, nil), Options: service.BatchOptions{CompleteAfter: &at}, Start: true}); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("b1", wait, service.BatchSynced)
	if !time.Now().Before(at) {
		t.Fatalf("the batch took longer than %v to sync; the test needs it synced before its complete-after time", wait)
	}
	extra := testserver.Corpus(testserver.CorpusOptions{Seed: 300, Messages: 3, Folders: []string{"INBOX"}, MinSize: 500, MaxSize: 1000})
	if err := testserver.Seed(ctx, b.src.Addr, "u01", b.password["u01"], extra); err != nil {
		t.Fatal(err)
	}

	// Synced until the time comes. The time is taken after the state is
	// read, so a state seen before `at` changed before `at`.
	for {
		bt, err := b.svc.Batch(ctx, "b1")
		seen := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		if !seen.Before(at) {
			break
		}
		if bt.State != service.BatchSynced {
			t.Fatalf("batch %s at %v, %v before its complete-after time; want Synced until then", bt.State,
				seen.Format(time.TimeOnly), at.Sub(seen).Round(time.Millisecond))
		}
		time.Sleep(100 * time.Millisecond)
	}
	bt := b.waitBatch("b1", 30*time.Second, service.BatchCompleted)
	if bt.Completed == nil || bt.Completed.Before(at) {
		t.Errorf("batch completed at %v; want after its complete-after time %v", bt.Completed, at)
	} else {
		t.Logf("completed %v after the complete-after time", bt.Completed.Sub(at).Round(time.Millisecond))
	}
	if bt.Options.CompleteAfter == nil || !bt.Options.CompleteAfter.Equal(at) {
		t.Errorf("complete-after = %v; want %v", bt.Options.CompleteAfter, at)
	}
	if bt.Totals.UsersByState[service.UserCompleted] != 2 {
		t.Errorf("users by state = %v; want 2 Completed", bt.Totals.UsersByState)
	}
	for name, want := range map[string]int{"u01": len(b.corpus["u01"]) + len(extra), "u02": len(b.corpus["u02"])} {
		u := b.user(name)
		if u.Status != service.UserCompleted || u.ItemsSynced != int64(want) || u.ItemsFailed != 0 || u.LastError != "" {
			t.Errorf("%s: %s, synced %d failed %d, error %q; want Completed with %d synced", name, u.Status,
				u.ItemsSynced, u.ItemsFailed, u.LastError, want)
		}
		b.checkMirrored(name)
	}
}

// TestRetryFailedAfterFix: a user fails because its destination mailbox
// does not exist; the admin creates it and retries the failed users. That
// user syncs, and the others are not synced again.
func TestRetryFailedAfterFix(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 3, workers: 3, messagesBase: 5, missingDest: "u02"})
	ctx := b.ctx
	if _, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 3, nil), Start: true}); err != nil {
		t.Fatal(err)
	}
	bt := b.waitBatch("b1", time.Minute, service.BatchSyncedWithErrors, service.BatchSynced, service.BatchFailed)
	if bt.State != service.BatchSyncedWithErrors {
		t.Errorf("batch %s; want SyncedWithErrors", bt.State)
	}
	if u := b.user("u02"); u.Status != service.UserFailed || !strings.Contains(u.LastError, "destination") ||
		!strings.Contains(u.LastError, "may not exist") {
		t.Fatalf("u02 without a destination mailbox: %s, %q; want Failed saying the destination mailbox may not exist", u.Status, u.LastError)
	}
	others := map[string]*service.User{"u01": b.user("u01"), "u03": b.user("u03")}

	if err := b.dst.AddUser("u02@example.com", "dest-u02"); err != nil {
		t.Fatal(err)
	}
	bt, err := b.svc.RetryFailed(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if bt.State != service.BatchSyncing {
		t.Errorf("RetryFailed returned a batch %s; want Syncing", bt.State)
	}
	bt = b.waitBatch("b1", time.Minute, service.BatchSynced, service.BatchSyncedWithErrors, service.BatchFailed)
	if bt.State != service.BatchSynced || bt.Totals.UsersByState[service.UserSynced] != 3 {
		t.Errorf("after the retry: batch %s, users %v; want Synced with 3 Synced", bt.State, bt.Totals.UsersByState)
	}
	b.checkSynced("u02", len(b.corpus["u02"]))
	b.checkMirrored("u02")
	for name, before := range others {
		u := b.user(name)
		if u.Status != service.UserSynced || !u.LastSync.Equal(*before.LastSync) || u.ItemsSynced != before.ItemsSynced {
			t.Errorf("%s after retrying the failed users: %s, last sync %v, %d synced; want it untouched: Synced at %v with %d",
				name, u.Status, u.LastSync, u.ItemsSynced, before.LastSync, before.ItemsSynced)
		}
	}
}

func anyUser(users []service.User, f func(service.User) bool) bool {
	for _, u := range users {
		if f(u) {
			return true
		}
	}
	return false
}

// checkSynced checks that a user is Synced with want items and nothing
// skipped, failed or wrong.
func (b *bundle) checkSynced(name string, want int) {
	b.t.Helper()
	u := b.user(name)
	if u.Status != service.UserSynced || u.ItemsSynced != int64(want) || u.ItemsSkipped != 0 || u.ItemsFailed != 0 || u.LastError != "" {
		b.t.Errorf("%s: %s, synced %d skipped %d failed %d, error %q; want Synced with %d synced", name, u.Status,
			u.ItemsSynced, u.ItemsSkipped, u.ItemsFailed, u.LastError, want)
	}
}

// destMessages counts the messages in the destination mailboxes of users
// u01..uNN.
func (b *bundle) destMessages(n int) int {
	b.t.Helper()
	var count int
	for i := 1; i <= n; i++ {
		snap, err := testserver.Take(b.ctx, b.dst.Addr, fmt.Sprintf("u%02d@example.com", i), fmt.Sprintf("dest-u%02d", i))
		if err != nil {
			b.t.Fatal(err)
		}
		for _, f := range snap.Folders {
			count += len(f.Messages)
		}
	}
	return count
}

// leases counts the live and expired leases of all workers.
func (b *bundle) leases() int {
	b.t.Helper()
	var n int
	if err := b.db.SQL().QueryRowContext(b.ctx, `SELECT count(*) FROM leases`).Scan(&n); err != nil {
		b.t.Fatal(err)
	}
	return n
}
