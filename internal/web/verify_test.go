package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/dnscheck"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// verifiedUser is alice after a verification that found 3 messages
// missing, of which the service kept the first (as if the list had been
// cut at MaxVerificationItems).
func verifiedUser() service.User {
	u := detailedUser()
	at := time.Date(2026, 3, 2, 8, 30, 0, 0, time.UTC)
	u.Verification = &service.Verification{State: service.VerifyDone, RequestedAt: at.Add(-time.Minute), VerifiedAt: &at,
		Grade: mailsync.GradeInvestigate, GradeReason: "3 of 103 messages missing at the destination",
		Totals: &mailsync.CheckTotals{Expected: 103, Matched: 100, Missing: 3, FlagsDiffer: 1},
		Details: &mailsync.Verification{
			Missing:     []mailsync.Difference{{Folder: "Sent", UID: 12, Size: 2048, Date: at, Subject: "Budget 2026"}},
			FlagsDiffer: []mailsync.FlagsDiff{{Difference: mailsync.Difference{Folder: "INBOX", UID: 3, Subject: "Lunch"}, SourceFlags: []string{`\Seen`}, DestFlags: []string{}}},
		},
	}
	return u
}

// TestVerificationPages: the batch page has the Verify button, a grade per
// user and the batch's grade (its worst user's), also in the polled JSON;
// the user page shows which grade it is and the verification's lists.
func TestVerificationPages(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.fake.PutUser(verifiedUser())
	c := tb.signIn(t)

	body := c.get("/batches/spring").Body.String()
	for _, want := range []string{`<form method="post" action="/batches/spring/verify"`, `<button id="verify-batch" type="submit">Verify</button>`,
		`<th scope="col">Grade</th>`, `<td class="grade" title="3 of 103 messages missing at the destination (from verification at 2026-03-02 08:30`,
		`>Investigate</td>`, `<td class="grade" title="nothing missing so far; the user is Queued (from sync statistics)">Good</td>`,
		`<span id="batch-grade" title="the worst of 2 users: 1 Investigate, 1 Good">Investigate</span>`,
		`<a id="check-dns" class="button" href="/batches/spring?dns=1#dns">Check DNS</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /batches/spring has no %s", want)
		}
	}
	if strings.Contains(body, `id="dns-domains"`) {
		t.Errorf("GET /batches/spring checked DNS without being asked")
	}
	var live struct {
		Grade string `json:"grade"`
		Users []struct {
			Email string `json:"email"`
			Grade string `json:"grade"`
		} `json:"users"`
	}
	if err := json.Unmarshal(c.get("/ui/batches/spring/users.json").Body.Bytes(), &live); err != nil || live.Grade != "Investigate" ||
		len(live.Users) != 2 || live.Users[0].Grade != "Investigate" || live.Users[1].Grade != "Good" {
		t.Errorf("users.json grades = %+v (%v); want the batch Investigate, alice Investigate, bob Good", live, err)
	}

	body = c.get("/users/alice@example.com").Body.String()
	for _, want := range []string{`<span id="grade">Investigate</span>`, `— 3 of 103 messages missing at the destination`,
		`<span id="grade-source">(from verification at 2026-03-02 08:30`, `<table id="verify-missing">`, `<td class="subject">Budget 2026</td>`,
		`The first 1 of 3.`, `<table id="verify-flags">`, `<td class="subject">Lunch</td>`, `<table id="verify-extra">`,
		`<input type="hidden" name="user" value="alice@example.com">`, `<button id="verify-user" type="submit">`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /users/alice@example.com has no %s", want)
		}
	}
	// Completing warns first of the users below Good.
	body = c.get("/batches/spring/confirm/complete").Body.String()
	if !strings.Contains(body, `<div id="below-good"`) ||
		!strings.Contains(body, "alice@example.com: Investigate (3 of 103 messages missing at the destination; from verification at 2026-03-02 08:30 UTC)") ||
		strings.Contains(body, "bob@example.com:") {
		t.Errorf("the confirmation of complete does not warn of alice (only)")
	}
	if body := c.get("/batches/spring/confirm/remove").Body.String(); strings.Contains(body, `id="below-good"`) {
		t.Errorf("the confirmation of remove warns of grades")
	}
	// Before any verification, the grade says it comes from the figures.
	if body := c.get("/users/bob@example.com").Body.String(); !strings.Contains(body, `<span id="grade-source">(from sync statistics)</span>`) ||
		!strings.Contains(body, "Not verified yet.") {
		t.Errorf("GET /users/bob@example.com does not say the grade is from the statistics and nothing was verified")
	}
}

// TestVerifyFromTheConsole: the Verify buttons queue the verifications and
// come back to their page with a message.
func TestVerifyFromTheConsole(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.fake.PutUser(verifiedUser())
	c := tb.signIn(t)

	w := c.post("/batches/spring/verify", url.Values{"next": {"/batches/spring"}})
	if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || loc != "/batches/spring" {
		t.Fatalf("POST verify = %d to %q; want 303 to the batch", w.Code, loc)
	}
	if _, flash := c.follow(w); !strings.Contains(flash, "Verification of batch spring queued for its synced users (1 running or waiting)") {
		t.Errorf("flash after Verify = %q", flash)
	}
	u, err := tb.fake.User(t.Context(), "alice@example.com")
	if err != nil || u.Verification.State != service.VerifyQueued || u.Verification.VerifiedAt == nil {
		t.Errorf("alice after Verify: %+v (%v); want queued, the last verification kept", u.Verification, err)
	}

	w = c.post("/batches/spring/verify", url.Values{"user": {"alice@example.com"}, "next": {"/users/alice@example.com"}})
	if _, flash := c.follow(w); !strings.Contains(flash, "Verification of alice@example.com queued") {
		t.Errorf("flash after Verify this mailbox = %q", flash)
	}
	if body := c.get("/users/alice@example.com").Body.String(); !strings.Contains(body, "Queued, asked 2026-03-02") {
		t.Errorf("the user page does not show the queued verification")
	}
	w = c.post("/batches/spring/verify", url.Values{"user": {"nobody@example.com"}, "next": {"/batches/spring"}})
	if _, flash := c.follow(w); !strings.Contains(flash, "not a user of batch") {
		t.Errorf("flash after verifying a stranger = %q; want the service's error", flash)
	}
}

// TestBatchDNSOnDemand: the batch page shows each domain's state and
// advice only when asked, and the pending completion after the MX switch.
func TestBatchDNSOnDemand(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	checked := time.Date(2026, 3, 2, 9, 5, 0, 0, time.UTC)
	tb.fake.SetDNS("spring", &service.BatchDNS{Batch: "spring", Resolver: "127.0.0.1:53", ExpectMX: []string{"mx.new.example"},
		Domains: []service.DomainDNS{
			{Domain: "example.com", Users: 2, Result: &dnscheck.Result{Domain: "example.com", State: dnscheck.StateNotSwitched,
				MX:     []dnscheck.MX{{Preference: 10, Host: "mx.old.example", TTL: 3600}},
				Advice: []string{"MX of example.com points at mx.old.example (preference 10), not at the destination (mx.new.example): not switched yet."}}},
			{Domain: "broken.example", Users: 1, Error: "look up MX broken.example at 127.0.0.1:53: the DNS server could not answer (SERVFAIL)"},
		}})
	tb.fake.EditBatch("spring", func(b *service.Batch) {
		b.Cutover = &service.Cutover{ExpectMX: []string{"mx.new.example"}, RequireGrade: "good", CheckedAt: &checked,
			Status: "MX not switched yet: broken.example error, example.com not-switched"}
	})
	c := tb.signIn(t)
	body := c.get("/batches/spring?dns=1").Body.String()
	for _, want := range []string{`<h2 id="dns">DNS</h2>`, `<table id="dns-domains">`, `<tr data-domain="example.com">`,
		`<td class="dns-state">not-switched</td>`, "mx.old.example (10, TTL 3600 s)", "not at the destination (mx.new.example): not switched yet.",
		`<tr data-domain="broken.example">`, `<td class="dns-state">error</td>`, "(SERVFAIL)",
		`<p id="cutover" class="note">Completes after the MX switch to mx.new.example, if every user grades good or better: MX not switched yet`,
		`>Check again</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /batches/spring?dns=1 has no %s", want)
		}
	}
}
