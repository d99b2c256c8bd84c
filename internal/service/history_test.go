package service_test

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// hostileSubject is a subject an attacker could send to a migrated
// mailbox: in the HTML report it must be text, never markup.
const hostileSubject = `<script>alert("owned")</script><img src=x onerror=alert(1)>`

// TestPassHistoryAndHTMLReport: an initial and an incremental pass of a
// batch are recorded per user with their figures, the HTML report draws
// one point per pass and shows the users, their folders and a skipped
// message with its subject escaped, carries no script, no link and no
// password, and the history goes with the batch.
func TestPassHistoryAndHTMLReport(t *testing.T) {
	t.Parallel()
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "SQLite", true: "PostgreSQL"}[pg], func(t *testing.T) {
			t.Parallel()
			testPassHistory(t, pg)
		})
	}
}

func testPassHistory(t *testing.T, pg bool) {
	const maxSize = 20000
	b := setup(t, setupOpts{users: 2, workers: 2, messagesBase: 4, postgres: pg,
		passwordPrefix: "Hist0ryPw", adminPassword: "Adm1n-S3cret"})
	ctx := b.ctx
	// A message over the batch's size limit, with a hostile subject: the
	// report lists it as skipped (too_large).
	big := fmt.Sprintf("From: Mallory <m@example.com>\r\nMessage-ID: <big@example.com>\r\nDate: Mon, 2 Jan 2023 10:00:00 +0100\r\n"+
		"Subject: %s\r\n\r\n%s\r\n", hostileSubject, strings.Repeat("x", 2*maxSize))
	if err := testserver.Seed(ctx, b.src.Addr, "u01", b.password["u01"], []testserver.Message{{Folder: "INBOX", Raw: []byte(big),
		Flags: []imap.Flag{imap.FlagSeen}, Date: time.Date(2023, 1, 2, 9, 0, 0, 0, time.UTC)}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "hist", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 2, nil), Options: service.BatchOptions{MaxMessageSize: maxSize, TimeZone: "Europe/Paris"}, Start: true}); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("hist", time.Minute, service.BatchSynced)
	passes := b.waitPasses("hist", 2)

	extra := testserver.Corpus(testserver.CorpusOptions{Seed: 300, Messages: 3, Folders: []string{"INBOX", "Sent"}, MinSize: 500, MaxSize: 1000})
	if err := testserver.Seed(ctx, b.src.Addr, "u02", b.password["u02"], extra); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.SyncNow(ctx, "hist"); err != nil {
		t.Fatal(err)
	}
	passes = b.waitPasses("hist", 4)

	// Per user: the initial pass copied the corpus, the incremental one
	// what arrived since; the totals are the messages at the destination.
	want := map[string][]struct {
		kind          string
		copied, total int64
	}{
		"u01@example.com": {{"initial", int64(len(b.corpus["u01"])), int64(len(b.corpus["u01"]))}, {"incremental", 0, int64(len(b.corpus["u01"]))}},
		"u02@example.com": {{"initial", int64(len(b.corpus["u02"])), int64(len(b.corpus["u02"]))},
			{"incremental", int64(len(extra)), int64(len(b.corpus["u02"]) + len(extra))}},
	}
	seen := map[string]int{}
	var last time.Time
	for _, p := range passes {
		i := seen[p.User]
		seen[p.User]++
		if i >= len(want[p.User]) {
			t.Fatalf("pass %+v: more passes than expected for %s", p, p.User)
		}
		w := want[p.User][i]
		if p.Kind != w.kind || p.Copied != w.copied || p.ItemsSynced != w.total || p.Outcome != service.PassOK || p.Error != "" {
			t.Errorf("pass %d of %s = %+v; want %s, %d copied, %d at the destination, ok", i+1, p.User, p, w.kind, w.copied, w.total)
		}
		if p.Finished.Before(p.Started) || p.Finished.Before(last) {
			t.Errorf("pass %+v: finished before it started or before the previous pass", p)
		}
		last = p.Finished
		if w.copied > 0 && p.Bytes <= 0 || p.BytesTotal < p.Bytes {
			t.Errorf("pass %+v: bytes %d of %d in all", p, p.Bytes, p.BytesTotal)
		}
	}
	if u := b.user("u01"); passes[len(passes)-1].User == "u01@example.com" && passes[len(passes)-1].BytesTotal != u.Bytes {
		t.Errorf("u01's last pass says %d bytes in all; the user says %d", passes[len(passes)-1].BytesTotal, u.Bytes)
	}
	if p := passesOf(passes, "u01@example.com"); p[0].Skipped != 1 {
		t.Errorf("u01's initial pass skipped %d; want the big message", p[0].Skipped)
	}

	rep, err := api.BuildHTMLReport(ctx, b.svc, "hist")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := api.WriteReportHTML(&buf, rep); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, chart := range []string{"chart-messages", "chart-bytes"} {
		fig := between(t, page, `<figure id="`+chart+`">`, `</figure>`)
		if n := strings.Count(fig, `<circle class="pass"`); n != len(passes) {
			t.Errorf("%s has %d points; want one per pass, %d", chart, n, len(passes))
		}
	}
	// The last point of the messages chart is every message at the
	// destination.
	all := len(b.corpus["u01"]) + len(b.corpus["u02"]) + len(extra)
	if !strings.Contains(page, fmt.Sprintf("; %d messages at the destination</title></circle>\n</svg>", all)) {
		t.Errorf("the messages chart does not end at %d messages:\n%s", all, between(t, page, `<figure id="chart-messages">`, `</figure>`))
	}
	users := between(t, page, `<table id="users">`, `</table>`)
	for _, u := range []string{"u01", "u02"} {
		got := b.user(u)
		row := fmt.Sprintf("<th scope=\"row\">%s@example.com</th>\n<td>Synced</td>\n<td class=\"num\">%d</td>\n<td class=\"num\">%d</td>\n<td class=\"num\">0</td>",
			u, got.ItemsSynced, got.ItemsSkipped)
		if !strings.Contains(users, row) {
			t.Errorf("the users table has no row %q:\n%s", row, users)
		}
	}
	// u01's folders: what the source holds and the destination got.
	folders := between(t, page, `<table class="folders" id="folders-0">`, `</table>`)
	for name, n := range folderCounts(b.corpus["u01"]) {
		if name == "INBOX" {
			n++ // the big message, skipped
		}
		atDest := n
		if name == "INBOX" {
			atDest--
		}
		row := fmt.Sprintf("<th scope=\"row\">%s</th>\n<td>%s</td>\n<td>synced</td>\n<td class=\"num\">%d</td>\n<td class=\"num\">%d</td>", name, name, n, atDest)
		if !strings.Contains(folders, row) {
			t.Errorf("u01's folder table has no row %q:\n%s", row, folders)
		}
	}
	if !strings.Contains(page, "Skipped: too_large (1)") || !strings.Contains(page, "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("the report does not list the big message with its subject escaped:\n%s", between(t, page, "<h2>Skipped and failed items</h2>", "<h2>Passes</h2>"))
	}
	if !strings.Contains(page, "src (127.0.0.1:") || !strings.Contains(page, "Times are in Europe/Paris") {
		t.Errorf("the summary does not name the source by name and address, or the batch's zone:\n%s", between(t, page, "<h1>", "</dl>"))
	}
	for _, bad := range []*regexp.Regexp{regexp.MustCompile(`(?i)<script`), regexp.MustCompile(`(?i)<img`), regexp.MustCompile(`(?i)https?://`),
		regexp.MustCompile(`(?i)<[^>]*\s(src|href)=`), regexp.MustCompile(`Hist0ryPw`), regexp.MustCompile(`Adm1n-S3cret`)} {
		if loc := bad.FindStringIndex(page); loc != nil {
			t.Errorf("the report holds %q: %q", bad, page[max(0, loc[0]-80):min(len(page), loc[1]+80)])
		}
	}

	// The history goes with its batch.
	if err := b.svc.RemoveBatch(ctx, "hist"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		if err := b.db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM pass_history`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d passes still recorded a minute after the batch was removed", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPasses waits until the batch's history holds n passes. A pass is
// recorded as it ends, so just after the batch's state changes.
func (b *bundle) waitPasses(batch string, n int) []service.Pass {
	b.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ps, err := b.svc.History(b.ctx, batch)
		if err != nil {
			b.t.Fatal(err)
		}
		if len(ps) >= n {
			if len(ps) > n {
				b.t.Fatalf("batch %s has %d passes; want %d: %+v", batch, len(ps), n, ps)
			}
			return ps
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("batch %s has %d passes after a minute; want %d\nlogs:\n%s", batch, len(ps), n, b.logs.tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func passesOf(ps []service.Pass, user string) []service.Pass {
	var out []service.Pass
	for _, p := range ps {
		if p.User == user {
			out = append(out, p)
		}
	}
	return out
}

func folderCounts(msgs []testserver.Message) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		out[m.Folder]++
	}
	return out
}

// between returns the part of s from the first start to the end that
// follows it, both included; the test fails without them.
func between(t *testing.T, s, start, end string) string {
	t.Helper()
	i := strings.Index(s, start)
	if i < 0 {
		t.Fatalf("no %q in:\n%s", start, s)
	}
	j := strings.Index(s[i:], end)
	if j < 0 {
		t.Fatalf("no %q after %q", end, start)
	}
	return s[i : i+j+len(end)]
}
