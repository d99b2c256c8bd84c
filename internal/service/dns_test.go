package service_test

import (
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/dnscheck"
	"github.com/imapmigrate/imapmigrate/internal/dnscheck/dnstest"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// beforeSwitch is the users' domain before the cut-over: MX at the old
// server, with a TTL short enough to switch.
const beforeSwitch = `
example.com.  3600 IN MX  10 mx.old.example.
example.com.  3600 IN TXT "v=spf1 mx -all"
`

// TestCompleteAfterMXSwitch runs the cut-over of a synced batch with real
// servers and a DNS server on loopback: `batch complete --after-mx-switch`
// waits while MX points at the old server, notes the switch when it
// happens, still waits (incremental syncs every hour: no pass runs by
// itself), and completes only after a pass that began after the switch,
// which copies the mail that reached the old server meanwhile.
func TestCompleteAfterMXSwitch(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, beforeSwitch)
	b := setup(t, setupOpts{users: 2, workers: 2, messagesBase: 5,
		dns: setupDNS{resolver: dns.Addr, interval: 200 * time.Millisecond}})
	ctx := b.ctx
	if _, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 2, nil), Start: true,
		Options: service.BatchOptions{IncrementalIntervalSeconds: 3600, ExpectMX: []string{"mx.new.example"}}}); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("b1", time.Minute, service.BatchSynced)

	d, err := b.svc.BatchDNS(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Domains) != 1 || d.Domains[0].Domain != "example.com" || d.Domains[0].Users != 2 || d.Switched ||
		d.Domains[0].State() != string(dnscheck.StateNotSwitched) || d.Cutover != nil {
		t.Fatalf("BatchDNS before the switch: %+v; want example.com (2 users) not-switched, no cut-over", d)
	}

	c, err := b.svc.CompleteBatchWith(ctx, "b1", service.CompleteOptions{AfterMXSwitch: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != service.BatchSynced || c.Cutover == nil || strings.Join(c.Cutover.ExpectMX, ",") != "mx.new.example" {
		t.Fatalf("complete after the MX switch: %s, cut-over %+v; want Synced, waiting for mx.new.example", c.State, c.Cutover)
	}
	cutover := func(ok func(*service.Cutover) bool) *service.Batch {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			bt, err := b.svc.Batch(ctx, "b1")
			if err != nil {
				t.Fatal(err)
			}
			if ok(bt.Cutover) {
				return bt
			}
			if time.Now().After(deadline) {
				t.Fatalf("batch %s, cut-over %+v after 30s\nlogs:\n%s", bt.State, bt.Cutover, b.logs.tail(30))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	bt := cutover(func(c *service.Cutover) bool { return c != nil && c.CheckedAt != nil })
	if bt.State != service.BatchSynced || bt.Cutover.SwitchedAt != nil || bt.Cutover.Status != "MX not switched yet: example.com not-switched" {
		t.Errorf("checked before the switch: %s, %+v; want Synced, not switched", bt.State, bt.Cutover)
	}

	dns.SetZone(t, strings.Replace(beforeSwitch, "mx.old.example.", "mx.new.example.", 1))
	bt = cutover(func(c *service.Cutover) bool { return c != nil && c.SwitchedAt != nil })
	switched := *bt.Cutover.SwitchedAt
	// Several checks later, still waiting: no pass has begun since.
	bt = cutover(func(c *service.Cutover) bool { return c != nil && c.CheckedAt.After(switched.Add(time.Second)) })
	if bt.State != service.BatchSynced || !strings.Contains(bt.Cutover.Status, "waiting for an incremental pass begun since of 2 users") {
		t.Errorf("after the switch, without a pass: %s, %+v; want Synced, waiting for 2 users", bt.State, bt.Cutover)
	}

	// Mail that reached the old server around the switch.
	late := testserver.Corpus(testserver.CorpusOptions{Seed: 99, Messages: 2, Folders: []string{"INBOX"}, MinSize: 500, MaxSize: 900})
	if err := testserver.Seed(ctx, b.src.Addr, "u01", b.password["u01"], late); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.SyncNow(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("b1", time.Minute, service.BatchCompleted)
	for _, user := range []string{"u01", "u02"} {
		u := b.user(user)
		began := u.LastSync.Add(-time.Duration(u.Duration * float64(time.Second)))
		if u.Status != service.UserCompleted || began.Before(switched.Truncate(time.Millisecond)) {
			t.Errorf("%s: %s, last pass began %v; want Completed, a pass begun after the switch at %v", user, u.Status, began, switched)
		}
		b.checkMirrored(user)
	}
	if bt, _ := b.svc.Batch(ctx, "b1"); bt.Cutover != nil {
		t.Errorf("completed batch still has a cut-over: %+v", bt.Cutover)
	}
	if !strings.Contains(b.logs.String(), "Completing the batch: its domains' MX records point at the destination") {
		t.Errorf("the log does not say why the batch completed")
	}
}
