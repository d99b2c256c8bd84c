package service

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/dnscheck"
	"github.com/imapmigrate/imapmigrate/internal/dnscheck/dnstest"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
)

// TestGradeUser: a user's grade is its last verification's once one has
// run, whatever the statistics say, and the statistics' (with
// over_append_limit counted as missing, like rejected) before.
func TestGradeUser(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		u      User
		grade  mailsync.Grade
		from   string
		reason string
	}{
		{"NoVerification", User{Status: UserSynced, ItemsSynced: 1000}, mailsync.GradePerfect, GradeFromStatistics,
			"every item is at the destination"},
		{"OverAppendLimitIsMissing", User{Status: UserSynced, ItemsSynced: 1000, SkippedBy: map[string]int64{"over_append_limit": 2}},
			mailsync.GradeInvestigate, GradeFromStatistics,
			"2 of 1002 messages missing at the destination: 2 over the destination's APPENDLIMIT"},
		{"QueuedVerificationOnly", User{Status: UserSynced, ItemsSynced: 10, Verification: &Verification{State: VerifyQueued}},
			mailsync.GradePerfect, GradeFromStatistics, "every item is at the destination"},
		{"VerificationWins", User{Status: UserSynced, ItemsSynced: 1000,
			Verification: &Verification{State: VerifyDone, VerifiedAt: &at, Grade: mailsync.GradeInvestigate, GradeReason: "3 of 1000 messages missing"}},
			mailsync.GradeInvestigate, GradeFromVerification, "3 of 1000 messages missing"},
		{"FailedRequestKeepsTheLastVerification", User{Status: UserFailed,
			Verification: &Verification{State: VerifyFailed, Error: "login refused", VerifiedAt: &at, Grade: mailsync.GradeGood, GradeReason: "1 flag or date difference"}},
			mailsync.GradeGood, GradeFromVerification, "1 flag or date difference"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := GradeUser(tc.u)
			if g.Grade != tc.grade || g.From != tc.from || g.Reason != tc.reason {
				t.Errorf("GradeUser(%+v) = %+v; want %s from %s, %q", tc.u, g, tc.grade, tc.from, tc.reason)
			}
			if (g.From == GradeFromVerification) != (g.At != nil) {
				t.Errorf("GradeUser(%+v).At = %v; want the verification's time, and only for it", tc.u, g.At)
			}
		})
	}
}

// TestVerifyClaimsTheLease: a verification takes the user's lease as a
// pass does, so the two never run on one mailbox at once, and it counts
// towards the endpoint's MaxConcurrentMigrations; it may run in a
// completed batch, not in a stopped one.
func TestVerifyClaimsTheLease(t *testing.T) {
	t.Parallel()
	b := setupState(t, 2)
	b.set(BatchSynced, UserSynced, UserSynced)
	b.src.MaxConcurrentMigrations = 1

	pass, err := b.s.acquire(b.ctx, b.users[0], b.src, b.dst, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.claim(b.ctx, b.users[0], b.src, b.dst, false, verifyMayRun); !errors.Is(err, errNoSlot) {
		t.Errorf("verification claimed while the user's pass runs: %v; want errNoSlot", err)
	}
	pass.release()
	v, err := b.s.claim(b.ctx, b.users[0], b.src, b.dst, false, verifyMayRun)
	if err != nil {
		t.Fatalf("verification claim of a free mailbox: %v", err)
	}
	if _, err := b.s.acquire(b.ctx, b.users[0], b.src, b.dst, true); !errors.Is(err, errNoSlot) {
		t.Errorf("pass claimed while the user's verification runs: %v; want errNoSlot", err)
	}
	if _, err := b.s.acquire(b.ctx, b.users[1], b.src, b.dst, true); err == nil || !strings.Contains(err.Error(), "MaxConcurrentMigrations") {
		t.Errorf("another user's pass beside a verification at an endpoint capped at 1: %v; want MaxConcurrentMigrations", err)
	}
	v.release()

	for _, tc := range []struct {
		state string
		ok    bool
	}{{BatchCompleted, true}, {BatchCompleting, true}, {BatchSyncing, true}, {BatchStopped, false}, {BatchRemoving, false}, {BatchCreated, false}} {
		err := verifyMayRun(tc.state, UserSynced)
		if (err == nil) != tc.ok {
			t.Errorf("verifyMayRun(%s) = %v; want ok %v", tc.state, err, tc.ok)
		}
	}
}

// TestVerifyBatchRequests: one job per synced user, none for a user whose
// verification is queued already or who has never been synced, and the
// states and names that cannot be verified are refused.
func TestVerifyBatchRequests(t *testing.T) {
	t.Parallel()
	b := setupState(t, 3)
	b.set(BatchSynced, UserSynced, UserSynced, UserFailed)
	for _, i := range []int{0, 1} {
		if err := b.s.setUser(b.ctx, b.users[i], "initial_done = 1"); err != nil {
			t.Fatal(err)
		}
	}
	g, err := b.s.VerifyBatch(b.ctx, "b1", "")
	if err != nil {
		t.Fatal(err)
	}
	if b.queue.inserts != 2 || g.Verifying != 2 {
		t.Errorf("VerifyBatch queued %d jobs, %d verifying; want 2 (the failed user was never synced)", b.queue.inserts, g.Verifying)
	}
	if u := g.Users[2]; u.Verification != nil || u.Grade.Grade != mailsync.GradePoor || u.Grade.From != GradeFromStatistics {
		t.Errorf("the failed user: verification %+v, grade %+v; want none, Poor from statistics", u.Verification, u.Grade)
	}
	if _, err := b.s.VerifyBatch(b.ctx, "b1", "U01@example.com"); err != nil || b.queue.inserts != 2 {
		t.Errorf("asking again while queued: %v, %d jobs in all; want no new job", err, b.queue.inserts)
	}
	if _, err := b.s.VerifyBatch(b.ctx, "b1", "u03@example.com"); !errors.Is(err, ErrConflict) {
		t.Errorf("verifying a user never synced: %v; want ErrConflict", err)
	}
	if _, err := b.s.VerifyBatch(b.ctx, "b1", "nobody@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("verifying a user of no batch: %v; want ErrNotFound", err)
	}
	// The job of a request that was answered, or replaced, does nothing.
	if err := b.s.verify(b.ctx, verifyArgs{UserID: b.users[0], RequestedAt: 1}, false); err != nil {
		t.Errorf("the job of an old request: %v; want nil", err)
	}
	b.set(BatchStopped)
	if _, err := b.s.VerifyBatch(b.ctx, "b1", ""); !errors.Is(err, ErrConflict) {
		t.Errorf("verifying a stopped batch: %v; want ErrConflict", err)
	}
	// The queued job finds the batch stopped: its request fails, in words.
	var requested int64
	if err := b.s.db.QueryRowContext(b.ctx, `SELECT requested_at FROM batch_user_verifications WHERE user_id = $1`, b.users[0]).Scan(&requested); err != nil {
		t.Fatal(err)
	}
	if err := b.s.verify(b.ctx, verifyArgs{UserID: b.users[0], RequestedAt: requested}, false); err != nil {
		t.Fatal(err)
	}
	u, err := b.s.User(b.ctx, "u01@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if v := u.Verification; v == nil || v.State != VerifyFailed || v.Error != "not verified: the batch is Stopped" {
		t.Errorf("verification of a user of a stopped batch: %+v; want failed, saying the batch is Stopped", v)
	}
}

// TestCompleteBatchWithGrades: completing warns of the users below Good,
// and a required grade refuses, naming every user below it; an unknown
// grade is bad input.
func TestCompleteBatchWithGrades(t *testing.T) {
	t.Parallel()
	b := setupState(t, 3)
	b.set(BatchSyncedWithErrors, UserSynced, UserSynced, UserSynced)
	for i, failed := range []int{0, 1, 100} { // Perfect, Good, Poor by the statistics
		if err := b.s.setUser(b.ctx, b.users[i], "items_synced = 1000, items_failed = $1", failed); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.s.CompleteBatchWith(b.ctx, "b1", CompleteOptions{RequireGrade: "excellent"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("require_grade excellent: %v; want ErrInvalid", err)
	}
	_, err := b.s.CompleteBatchWith(b.ctx, "b1", CompleteOptions{RequireGrade: "Perfect"})
	var ge *GradeError
	if !errors.As(err, &ge) || len(ge.Users) != 2 || ge.Users[0].User != "u02@example.com" || ge.Users[1].User != "u03@example.com" {
		t.Fatalf("require perfect: %v; want a GradeError naming u02 and u03", err)
	}
	if want := `complete batch "b1": 2 users grade below Perfect (u02@example.com Good, u03@example.com Poor)`; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("refusal says %q; want it to start %q", err, want)
	}
	if got := b.state(); got != BatchSyncedWithErrors {
		t.Errorf("batch after the refusal: %s; want SyncedWithErrors still", got)
	}
	c, err := b.s.CompleteBatchWith(b.ctx, "b1", CompleteOptions{RequireGrade: "investigate"})
	if err == nil || !errors.As(err, &ge) || len(ge.Users) != 1 {
		t.Fatalf("require investigate with a Poor user: %v; want refused for u03", err)
	}
	c, err = b.s.CompleteBatchWith(b.ctx, "b1", CompleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != BatchCompleting || len(c.Warnings) != 1 || c.Warnings[0].User != "u03@example.com" ||
		c.Warnings[0].Grade != mailsync.GradePoor || c.Warnings[0].From != GradeFromStatistics {
		t.Errorf("completion without a bar: %s, warnings %+v; want Completing, warning of u03 (Poor, from statistics)", c.State, c.Warnings)
	}
}

// cutoverZone is example.com before the switch: MX at the old server.
const cutoverZone = `
example.com.  3600 IN MX  10 mx.old.example.
example.com.  3600 IN TXT "v=spf1 mx -all"
`

// TestCutoverWaitsForAPassAfterTheSwitch drives a batch waiting for its MX
// switch by hand: nothing happens while MX points at the old server; once
// it points at the destination the moment is noted, and the batch
// completes only when every synced user's last pass began after it.
func TestCutoverWaitsForAPassAfterTheSwitch(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, cutoverZone)
	b := setupState(t, 2)
	b.s.cfg.DNSResolver = dns.Addr
	b.set(BatchSynced, UserSynced, UserFailed)
	lastPass := func(beganAt int64) {
		t.Helper()
		if err := b.s.setUser(b.ctx, b.users[0], "last_sync_at = $1, duration_ms = 1000", beganAt+1000); err != nil {
			t.Fatal(err)
		}
	}
	lastPass(now() - 60_000)

	if _, err := b.s.CompleteBatchWith(b.ctx, "b1", CompleteOptions{AfterMXSwitch: true}); !errors.Is(err, ErrInvalid) {
		t.Errorf("after the MX switch without expected MX hosts: %v; want ErrInvalid", err)
	}
	c, err := b.s.CompleteBatchWith(b.ctx, "b1", CompleteOptions{AfterMXSwitch: true, ExpectMX: []string{"mx.new.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != BatchSynced || c.Cutover == nil || c.Cutover.SwitchedAt != nil {
		t.Fatalf("after-mx-switch answer: %s, cutover %+v; want Synced, waiting", c.State, c.Cutover)
	}
	cutover := func() *Cutover {
		t.Helper()
		if err := b.s.advanceCutover(b.ctx, b.user(0).BatchID); err != nil {
			t.Fatal(err)
		}
		bt, err := b.s.Batch(b.ctx, "b1")
		if err != nil {
			t.Fatal(err)
		}
		if bt.Cutover == nil {
			return nil
		}
		if bt.Cutover.CheckedAt == nil {
			t.Errorf("a check left no time")
		}
		return bt.Cutover
	}

	if c := cutover(); c == nil || c.SwitchedAt != nil || c.Status != "MX not switched yet: example.com not-switched" || b.state() != BatchSynced {
		t.Errorf("before the switch: %+v, batch %s; want not switched, Synced", c, b.state())
	}
	dns.SetZone(t, strings.Replace(cutoverZone, "mx.old.example.", "mx.new.example.", 1))
	c1 := cutover()
	if c1 == nil || c1.SwitchedAt == nil || b.state() != BatchSynced ||
		!strings.HasSuffix(c1.Status, "waiting for an incremental pass begun since of 1 user") {
		t.Fatalf("at the switch: %+v, batch %s; want the moment noted, waiting for 1 user's pass, Synced", c1, b.state())
	}
	// A pass that began before the switch and ended after it is not enough.
	lastPass(c1.SwitchedAt.UnixMilli() - 500)
	if c := cutover(); c == nil || !c.SwitchedAt.Equal(*c1.SwitchedAt) || b.state() != BatchSynced {
		t.Errorf("after a pass begun before the switch: %+v, batch %s; want still waiting, the same moment", c, b.state())
	}
	lastPass(c1.SwitchedAt.UnixMilli() + 1)
	if c := cutover(); c != nil || b.state() != BatchCompleting {
		t.Errorf("after a pass begun after the switch: cutover %+v, batch %s; want Completing, the cutover gone", c, b.state())
	}
}

// TestBatchDNS: the batch's domains come from its users' addresses, each
// checked against the batch's expected MX hosts; a domain that cannot be
// checked is listed with the error while the others are checked.
func TestBatchDNS(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, `
example.com.  300 IN MX 0 example-com.mail.protection.outlook.com.
example.org.  300 IN MX 10 mx.old.example.
`)
	b := setupState(t, 1)
	b.s.cfg.DNSResolver = dns.Addr
	if _, err := b.s.AddUsers(b.ctx, "b1", "EmailAddress,UserName,Password\nann@example.org,ann,pw\nbob@Example.ORG,bob,pw\nzed@broken.example,zed,pw\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.db.ExecContext(b.ctx, `UPDATE batches SET options = $1`, `{"expect_mx":["*.mail.protection.outlook.com"]}`); err != nil {
		t.Fatal(err)
	}
	d, err := b.s.BatchDNS(b.ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		domain, state string
		users         int
	}
	var got []row
	for _, dom := range d.Domains {
		got = append(got, row{dom.Domain, dom.State(), dom.Users})
	}
	want := []row{{"broken.example", "error", 1}, {"example.com", string(dnscheck.StateSwitched), 1}, {"example.org", string(dnscheck.StateNotSwitched), 2}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("BatchDNS domains = %+v; want %+v", got, want)
	}
	if d.Switched || d.Resolver != dns.Addr || !strings.Contains(d.Domains[0].Error, "NXDOMAIN") {
		t.Errorf("BatchDNS = switched %v, resolver %s, broken.example error %q; want not switched, %s, NXDOMAIN",
			d.Switched, d.Resolver, d.Domains[0].Error, dns.Addr)
	}
	if adv := d.Domains[2].Result.Advice; len(adv) == 0 || !strings.Contains(adv[0], "not at the destination") {
		t.Errorf("example.org advice: %q; want it to say MX is not at the destination", adv)
	}
}
