package service_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestVerifyBatch verifies a synced batch against the real servers, then
// breaks the destination behind the service's back, as a user or another
// tool would: one message deleted in u01's INBOX, a whole folder deleted
// in u02's. The grades follow the definition (one missing message of 41 is
// Good, a folder gone is Poor), the missing message is listed with its
// folder and subject, the batch takes its worst user's grade, and
// completing with --require-grade good is refused until sync-now has
// recreated the folder and a new verification says so.
func TestVerifyBatch(t *testing.T) {
	t.Parallel()
	for _, pg := range []bool{false, true} {
		name := map[bool]string{false: "SQLite", true: "PostgreSQL"}[pg]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testVerifyBatch(t, pg)
		})
	}
}

func testVerifyBatch(t *testing.T, pg bool) {
	b := setup(t, setupOpts{users: 2, workers: 2, messagesBase: 40, postgres: pg})
	ctx := b.ctx
	if _, err := b.svc.VerifyBatch(ctx, "b1", ""); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("VerifyBatch of no batch = %v; want ErrNotFound", err)
	}
	if _, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 2, nil)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.VerifyBatch(ctx, "b1", ""); !errors.Is(err, service.ErrConflict) {
		t.Errorf("VerifyBatch of a Created batch = %v; want ErrConflict", err)
	}
	if _, err := b.svc.StartBatch(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("b1", time.Minute, service.BatchSynced)

	// 1. Synced: both mailboxes are Perfect.
	g := b.verify("b1", "")
	if g.Grade != mailsync.GradePerfect {
		t.Errorf("batch grade after a sync = %s (%s); want Perfect", g.Grade, g.Reason)
	}
	for _, u := range g.Users {
		user := strings.TrimSuffix(u.EmailAddress, "@example.com")
		v := u.Verification
		if v == nil || v.State != service.VerifyDone || v.Totals == nil {
			t.Fatalf("%s: verification %+v; want done with totals", u.EmailAddress, v)
		}
		if want := len(b.corpus[user]); v.Totals.Expected != want || v.Totals.Matched != want || v.Totals.Missing != 0 {
			t.Errorf("%s: verified %d expected, %d matched, %d missing; want %d, %d, 0",
				u.EmailAddress, v.Totals.Expected, v.Totals.Matched, v.Totals.Missing, want, want)
		}
		if u.Grade.Grade != mailsync.GradePerfect || u.Grade.From != service.GradeFromVerification || u.Grade.At == nil {
			t.Errorf("%s: grade %+v; want Perfect from the verification, with its time", u.EmailAddress, u.Grade)
		}
		if v.Details != nil {
			t.Errorf("%s: the batch's listing carries the verification's details", u.EmailAddress)
		}
	}

	// 2. Break the destination: one message of u01's INBOX, and u02's
	// Archive/2019 with all its messages.
	snap, err := testserver.Take(ctx, b.dst.Addr, "u01@example.com", "dest-u01")
	if err != nil {
		t.Fatal(err)
	}
	gone := snap.Folders["INBOX"].Messages[0]
	if _, err := b.dst.Doveadm("expunge", "-u", "u01@example.com", "mailbox", "INBOX", "uid", fmt.Sprint(gone.UID)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.dst.Doveadm("mailbox", "delete", "-u", "u02@example.com", "Archive/2019"); err != nil {
		t.Fatal(err)
	}
	archived := 0
	for _, m := range b.corpus["u02"] {
		if m.Folder == "Archive/2019" {
			archived++
		}
	}

	g = b.verify("b1", "")
	u01, u02 := b.user("u01"), b.user("u02")
	if u01.Grade.Grade != mailsync.GradeGood || u01.Grade.From != service.GradeFromVerification {
		t.Errorf("u01 with 1 message deleted at the destination: %+v; want Good from the verification", u01.Grade)
	}
	v := u01.Verification
	if v == nil || v.Details == nil || len(v.Details.Missing) != 1 {
		t.Fatalf("u01's verification: %+v; want its details with one missing message", v)
	}
	if m := v.Details.Missing[0]; m.Folder != "INBOX" || m.Subject != gone.Subject || m.Size != gone.Size || m.UID == 0 {
		t.Errorf("u01's missing message: %+v; want folder INBOX, subject %q, %d bytes, its source UID", m, gone.Subject, gone.Size)
	}
	if u02.Grade.Grade != mailsync.GradePoor || !strings.Contains(u02.Grade.Reason, `folder "Archive/2019" not at the destination`) {
		t.Errorf("u02 with a folder deleted at the destination: %+v; want Poor, naming Archive/2019", u02.Grade)
	}
	if got := u02.Verification.Totals.Missing; got != archived {
		t.Errorf("u02: %d missing; want the %d messages of Archive/2019", got, archived)
	}
	if g.Grade != mailsync.GradePoor || g.Reason != "the worst of 2 users: 1 Poor, 1 Good" {
		t.Errorf("batch grade = %s (%s); want Poor, the worst of 1 Poor and 1 Good", g.Grade, g.Reason)
	}

	// 3. Completing with --require-grade good is refused, naming u02 only.
	_, err = b.svc.CompleteBatchWith(ctx, "b1", service.CompleteOptions{RequireGrade: "good"})
	var ge *service.GradeError
	if !errors.As(err, &ge) || !errors.Is(err, service.ErrConflict) {
		t.Fatalf("CompleteBatchWith(require good) = %v; want a GradeError (conflict)", err)
	}
	if len(ge.Users) != 1 || ge.Users[0].User != "u02@example.com" || ge.Users[0].Grade != mailsync.GradePoor {
		t.Errorf("refusal lists %+v; want u02@example.com, Poor", ge.Users)
	}
	if bt, _ := b.svc.Batch(ctx, "b1"); bt.State != service.BatchSynced {
		t.Errorf("batch after the refusal: %s; want Synced still", bt.State)
	}

	// 4. The fix: sync-now recreates the folder and copies its mail again
	// (a message deleted in a folder that stays is the user's doing, and
	// is not copied again: u01 stays Good).
	before := time.Now()
	if _, err := b.svc.SyncNow(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	b.waitUser("u02", time.Minute, func(u *service.User) bool {
		return u.Status == service.UserSynced && u.LastSync != nil && u.LastSync.After(before)
	})
	b.verify("b1", "u02@example.com")
	if u02 := b.user("u02"); u02.Grade.Grade != mailsync.GradePerfect {
		t.Errorf("u02 after sync-now and a new verification: %+v; want Perfect", u02.Grade)
	}
	c, err := b.svc.CompleteBatchWith(ctx, "b1", service.CompleteOptions{RequireGrade: "good"})
	if err != nil {
		t.Fatalf("CompleteBatchWith(require good) after the fix: %v", err)
	}
	if c.State != service.BatchCompleting || len(c.Warnings) != 0 {
		t.Errorf("completion: %s with warnings %+v; want Completing, no warning (u01 is Good)", c.State, c.Warnings)
	}
	b.waitBatch("b1", time.Minute, service.BatchCompleted)

	// 5. A completed batch can still be verified.
	g = b.verify("b1", "u01@example.com")
	if u01 := b.user("u01"); u01.Grade.Grade != mailsync.GradeGood || u01.Verification.Totals.Missing != 1 {
		t.Errorf("u01 verified after completion: %+v, totals %+v; want Good, 1 missing", u01.Grade, u01.Verification.Totals)
	}
	if g.Grade != mailsync.GradeGood {
		t.Errorf("batch grade after the fix = %s (%s); want Good", g.Grade, g.Reason)
	}
	if n := b.leases(); n != 0 {
		t.Errorf("%d leases left after the verifications", n)
	}
	if log := b.logs.String(); !strings.Contains(log, "Verification finished.") || strings.Contains(log, "dest-u0") {
		t.Errorf("log has no finished verification, or a password")
	}
}

// verify asks for a verification of the batch (or of user) and waits for
// it to end.
func (b *bundle) verify(batch, user string) *service.BatchGrades {
	b.t.Helper()
	asked := time.Now()
	if _, err := b.svc.VerifyBatch(b.ctx, batch, user); err != nil {
		b.t.Fatalf("VerifyBatch(%s, %q): %v", batch, user, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		g, err := b.svc.BatchGrades(b.ctx, batch)
		if err != nil {
			b.t.Fatal(err)
		}
		if g.Verifying == 0 {
			for _, u := range g.Users {
				v := u.Verification
				if (user == "" || u.EmailAddress == user) && (v == nil || v.State != service.VerifyDone || v.RequestedAt.Before(asked.Add(-time.Second))) {
					b.t.Fatalf("%s: verification %+v; want done\nlogs:\n%s", u.EmailAddress, v, b.logs.tail(30))
				}
			}
			return g
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("verifications still running after a minute: %+v\nlogs:\n%s", g.Users, b.logs.tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
