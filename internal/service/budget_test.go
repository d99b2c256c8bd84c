package service_test

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestDailyBudget gives the service a budget of about a third of a
// mailbox per window: the first pass stops early with the user Synced but
// behind, saying how many messages are left and when it goes on; the
// passes after the window frees budget copy the rest, nothing twice, none
// of them a failure.
func TestDailyBudget(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 1, workers: 1, messagesBase: 29})
	var total int64
	for _, m := range b.corpus["u01"] {
		total += int64(len(m.Raw))
	}
	const window = 4 * time.Second
	service.SetBudgetForTest(b.svc, total/3, window)
	if _, _, err := b.svc.CreateBatch(b.ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 1, nil), Start: true}); err != nil {
		t.Fatal(err)
	}

	// The first pass ends at the budget: Synced, behind, and saying so.
	left := regexp.MustCompile(`^daily budget reached; (\d+) messages left \([0-9.]+ MB\), continuing at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$`)
	deadline := time.Now().Add(time.Minute)
	for {
		u := b.user("u01")
		if m := left.FindStringSubmatch(u.LastError); m != nil && u.Status == service.UserSynced {
			n, _ := strconv.Atoi(m[1])
			if n == 0 || u.ItemsSynced+int64(n) != 30 {
				t.Errorf("user shows %d synced and %d left; want a sum of 30, some left", u.ItemsSynced, n)
			}
			if u.NextSync == nil || u.NextSync.After(time.Now().Add(window+time.Second)) {
				t.Errorf("next sync at %v; want within the %v window", u.NextSync, window)
			}
			break
		}
		if u.Status == service.UserFailed || time.Now().After(deadline) {
			t.Fatalf("user never stopped at the budget: %s, %q", u.Status, u.LastError)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Later passes go on until everything is there.
	deadline = time.Now().Add(2 * time.Minute)
	for {
		u := b.user("u01")
		if u.ItemsSynced == 30 && u.LastError == "" && u.Status == service.UserSynced {
			break
		}
		if u.Status == service.UserFailed || time.Now().After(deadline) {
			t.Fatalf("user never caught up: %s, %d synced, %q", u.Status, u.ItemsSynced, u.LastError)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.checkMirrored("u01")

	passes, err := b.svc.History(b.ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if len(passes) < 3 {
		t.Errorf("%d passes; want at least 3 for a budget of a third of the mailbox", len(passes))
	}
	var copied int64
	for i, p := range passes {
		copied += p.Copied
		if p.Outcome != service.PassOK {
			t.Errorf("pass %d: outcome %s (%s); want ok", i+1, p.Outcome, p.Error)
		}
		// A pass starts no message once its budget is spent, so it
		// overshoots by less than one message (at most 3 KB here).
		if p.Bytes >= total/3+4000 {
			t.Errorf("pass %d copied %d bytes over a budget of %d", i+1, p.Bytes, total/3)
		}
	}
	if copied != 30 {
		t.Errorf("passes copied %d messages in all; want 30, each once", copied)
	}
}
