package service_test

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestThrottledIsNotFailed: a destination that refuses a login for now
// (NO [LIMIT]: the user's own mail client holds the one connection the
// server allows) makes the user wait, Throttled until a time, without
// failing; once the connection is free the user syncs.
func TestThrottledIsNotFailed(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 2, workers: 2, messagesBase: 5, dstConnLimit: 1})
	held, err := imapclient.DialInsecure(b.dst.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := held.Login("u01@example.com", "dest-u01").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.svc.CreateBatch(b.ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 2, nil), Start: true}); err != nil {
		t.Fatal(err)
	}

	// u01 waits, throttled, and says until when; u02 is not held up.
	deadline := time.Now().Add(30 * time.Second)
	for {
		u := b.user("u01")
		if u.ThrottledUntil != nil && strings.Contains(u.LastError, "throttled, retrying at") && strings.Contains(u.LastError, "LIMIT") {
			if u.Status == service.UserFailed {
				t.Fatalf("u01 failed: %s", u.LastError)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("u01 never throttled: %+v", u)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if u := b.user("u02"); u.Status == service.UserFailed {
		t.Errorf("u02 failed: %s", u.LastError)
	}
	time.Sleep(time.Second)
	if u := b.user("u01"); u.Status == service.UserFailed {
		t.Fatalf("u01 failed while throttled: %s", u.LastError)
	}

	held.Logout().Wait()
	held.Close()
	bt := b.waitBatch("b1", time.Minute, service.BatchSynced, service.BatchSyncedWithErrors)
	if bt.State != service.BatchSynced {
		t.Errorf("batch %s; want Synced once the connection is free", bt.State)
	}
	u := b.user("u01")
	if u.Status != service.UserSynced || u.ThrottledUntil != nil || u.LastError != "" {
		t.Errorf("u01 after the throttling: %s, throttled until %v, error %q; want Synced and clear", u.Status, u.ThrottledUntil, u.LastError)
	}
	if len(u.Errors) == 0 || !strings.Contains(u.Errors[len(u.Errors)-1].Message, "throttled, retrying at") {
		t.Errorf("u01's error history %+v; want the throttling kept after the sync cleared the last error", u.Errors)
	}
	b.checkMirrored("u01")
}
