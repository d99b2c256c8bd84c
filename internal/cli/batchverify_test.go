package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/dnscheck"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// investigated is alice, synced, after a verification that found two
// messages missing.
func investigated(state string) service.User {
	when := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return service.User{
		Batch: "spring", EmailAddress: "alice@example.com", SourceUser: "alice", DestUser: "alice@example.com", Status: service.UserSynced,
		ItemsSynced: 120, LastSync: &when, SkippedBy: map[string]int64{},
		Verification: &service.Verification{State: state, RequestedAt: when, VerifiedAt: &when, Duration: 3,
			Grade: mailsync.GradeInvestigate, GradeReason: "2 of 120 messages missing at the destination",
			Totals: &mailsync.CheckTotals{Expected: 120, Matched: 118, Missing: 2, Extra: 1},
			Details: &mailsync.Verification{Source: "alice@imap.old.example.com:993", Destination: "alice@example.com@imap.new.example.com:993",
				Grade: mailsync.GradeInvestigate, GradeReason: "2 of 120 messages missing at the destination",
				Folders: []mailsync.FolderCheck{{Source: "INBOX", Destination: "INBOX", Status: "compared", SourceCount: 120, DestCount: 119, Matched: 118, Missing: 2, Extra: 1}},
				Missing: []mailsync.Difference{{Folder: "INBOX", UID: 7, Size: 1234, Date: when, Subject: "Quarterly figures"}}},
		},
	}
}

func TestBatchVerifyCommand(t *testing.T) {
	rb := setupRemote(t)
	rb.mustRun(t, "batch", "create", "spring", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", rb.file(t, "u.csv", twoUsersCSV))
	rb.fake.PutUser(investigated(service.VerifyDone))

	out := rb.mustRun(t, "batch", "verify", "spring")
	wantLines(t, "batch verify", out, "Verification queued; 1 running or waiting. See: imapmigrate batch grades spring",
		"EMAIL", "GRADE", "alice@example.com", "Investigate", "verification", "queued",
		"bob@example.com", "Queued", "Good", "statistics", "Batch grade: Investigate: the worst of 2 users: 1 Investigate, 1 Good")

	// --wait polls until no verification is queued or running, then
	// prints the grades; Investigate is exit status 5, as verify's.
	// The fake runs no verification: once the command has asked for one,
	// it ends.
	rb.fake.PutUser(investigated(service.VerifyDone))
	go func() {
		for {
			if u, err := rb.fake.User(context.Background(), "alice@example.com"); err != nil || u.Verification.State == service.VerifyQueued {
				rb.fake.PutUser(investigated(service.VerifyDone))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	code, out, errOut := rb.run("batch", "verify", "spring", "--user", "alice@example.com", "--wait")
	if code != ExitPartial {
		t.Errorf("batch verify --wait of an Investigate user = exit %d; want %d\n%s%s", code, ExitPartial, out, errOut)
	}
	wantLines(t, "batch verify --wait", out, "alice@example.com", "Investigate", "120", "118", "done")
	if strings.Contains(out, "bob@example.com") || strings.Contains(out, "Batch grade") {
		t.Errorf("batch verify --user shows other users or the batch's grade:\n%s", out)
	}

	out = rb.mustRun(t, "batch", "grades", "spring")
	wantLines(t, "batch grades", out, "alice@example.com", "Batch grade: Investigate")
	if code, _, errOut := rb.run("batch", "verify", "spring", "--user", "nobody@example.com"); code != ExitInternal || !strings.Contains(errOut, "not a user of batch") {
		t.Errorf("batch verify --user of a stranger = exit %d, %q; want 1, not a user of the batch", code, errOut)
	}
}

func TestBatchCompleteCommand(t *testing.T) {
	rb := setupRemote(t)
	rb.mustRun(t, "batch", "create", "spring", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", rb.file(t, "u.csv", twoUsersCSV), "--start")
	rb.fake.PutUser(investigated(service.VerifyDone))

	code, out, errOut := rb.run("batch", "complete", "spring", "--require-grade", "good")
	if code != ExitInternal {
		t.Errorf("batch complete --require-grade good with an Investigate user = exit %d; want 1\n%s%s", code, out, errOut)
	}
	wantLines(t, "batch complete --require-grade good", errOut, "1 user grades below good:",
		"alice@example.com: Investigate (2 of 120 messages missing at the destination; from verification at 2026-03-01 12:00 UTC)",
		`batch "spring" not completed`)
	if strings.Contains(errOut, "bob@example.com") {
		t.Errorf("the refusal lists bob, who is Good:\n%s", errOut)
	}
	if code, _, errOut := rb.run("batch", "complete", "spring", "--require-grade", "excellent"); code != ExitUsage {
		t.Errorf("--require-grade excellent = exit %d (%s); want 2", code, errOut)
	}

	code, out, errOut = rb.run("batch", "complete", "spring", "--after-mx-switch", "--expect-mx", "mx.new.example")
	if code != ExitOK {
		t.Fatalf("batch complete --after-mx-switch = exit %d\n%s%s", code, out, errOut)
	}
	wantLines(t, "batch complete --after-mx-switch", out, `batch "spring": Syncing; completes after the MX switch to mx.new.example: waiting for the first DNS check`)
	wantLines(t, "batch status", rb.mustRun(t, "batch", "status", "spring"), "Completes after:", "the MX switch to mx.new.example")

	code, out, errOut = rb.run("batch", "complete", "spring")
	if code != ExitOK {
		t.Fatalf("batch complete = exit %d\n%s%s", code, out, errOut)
	}
	wantLines(t, "batch complete", out, `batch "spring": Completing`)
	wantLines(t, "batch complete (warnings)", errOut, "warning: alice@example.com: Investigate (2 of 120 messages missing")
}

func TestBatchDNSCommand(t *testing.T) {
	rb := setupRemote(t)
	rb.mustRun(t, "batch", "create", "spring", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", rb.file(t, "u.csv", twoUsersCSV),
		"--expect-mx", "*.mail.protection.outlook.com")
	rb.fake.SetDNS("spring", &service.BatchDNS{Batch: "spring", Resolver: "127.0.0.1:53", ExpectMX: []string{"*.mail.protection.outlook.com"},
		Switched: false, Domains: []service.DomainDNS{
			{Domain: "example.com", Users: 2, Result: &dnscheck.Result{Domain: "example.com", State: dnscheck.StatePartlySwitched,
				MX: []dnscheck.MX{{Preference: 0, Host: "example-com.mail.protection.outlook.com", TTL: 300, Destination: true},
					{Preference: 10, Host: "mx.old.example", TTL: 3600}},
				Advice: []string{"Remove the MX records that do not point at the destination."}}},
			{Domain: "example.org", Users: 1, Error: "look up MX example.org at 127.0.0.1:53: no answer"},
		}})
	out := rb.mustRun(t, "batch", "dns", "spring")
	wantLines(t, "batch dns", out, "DNS server 127.0.0.1:53, destination MX *.mail.protection.outlook.com",
		"example.com", "partly-switched", "0 example-com.mail.protection.outlook.com (TTL 300 s (5 min)) *", "10 mx.old.example (TTL 3600 s (1 h))",
		"  - Remove the MX records that do not point at the destination.", "example.org", "error", "the check failed: look up MX example.org")
	wantLines(t, "batch status", rb.mustRun(t, "batch", "status", "spring"), "Expect MX:", "*.mail.protection.outlook.com")
}

func TestUserStatusShowsVerification(t *testing.T) {
	rb := setupRemote(t)
	rb.mustRun(t, "batch", "create", "spring", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", rb.file(t, "u.csv", twoUsersCSV))
	u := investigated(service.VerifyFailed)
	u.Verification.Error = "the source server refused the login of alice"
	rb.fake.PutUser(u)
	out := rb.mustRun(t, "user", "status", "alice@example.com")
	at := formatTime(u.Verification.VerifiedAt)
	wantLines(t, "user status", out, "Grade: Investigate (from verification at "+at+"): 2 of 120 messages missing",
		"could not run: the source server refused the login of alice", "Last verification, "+at+" (took 3s):",
		"Missing at the destination", `subject "Quarterly figures"`, "118")
	out = rb.mustRun(t, "user", "status", "bob@example.com")
	wantLines(t, "user status (not verified)", out, "Not verified yet")
}
