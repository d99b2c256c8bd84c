package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

const hostile = `<script>alert(1)</script>`

// reportUsers puts alice (with folders, 60 listed of 75 skipped items, a
// failed one, hostile text) and bob into the fake, and three passes.
func reportUsers(tb *testBundle) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	last := t0.Add(26 * time.Hour)
	alice := service.User{Batch: "spring", EmailAddress: "alice@example.com", Status: service.UserSynced,
		ItemsSynced: 12, ItemsSkipped: 75, ItemsFailed: 1, Bytes: 1200, LastSync: &last,
		SkippedBy: map[string]int64{"too_large": 75},
		Grade:     service.UserGrade{Grade: "Good", Reason: "1 item failed", From: service.GradeFromStatistics},
		Folders: []service.Folder{
			{Source: "INBOX", Destination: "INBOX", Status: "synced", SourceCount: 80, DestCount: 12, Copied: 2, Skipped: map[string]int{"too_large": 75}, Bytes: 900},
			{Source: "Projects/" + hostile, Destination: "Projects/" + hostile, Status: "synced", SourceCount: 8, DestCount: 0, Failed: 1},
		},
		FailedItems: []service.Item{{Folder: "Projects/" + hostile, UID: 4, Date: t0, Subject: "Budget", Size: 2048, Reason: "rejected", Detail: "NO too big"}},
		LastError:   "1 item(s) failed",
	}
	for i := range 60 {
		alice.SkippedItems = append(alice.SkippedItems, service.Item{Folder: "INBOX", UID: uint32(100 + i), Date: t0,
			Subject: fmt.Sprintf("Attachment %d", i), Size: 40 << 20, Reason: "too_large"})
	}
	alice.SkippedItems[0].Subject = hostile
	tb.fake.PutUser(alice)
	tb.fake.PutUser(service.User{Batch: "spring", EmailAddress: "bob@example.com", Status: service.UserSynced,
		ItemsSynced: 5, Bytes: 500, LastSync: &last, SkippedBy: map[string]int64{},
		Grade: service.UserGrade{Grade: "Perfect", Reason: "every item is at the destination", From: service.GradeFromStatistics}})
	for i, p := range []service.Pass{
		{User: "alice@example.com", Kind: "initial", Copied: 10, Bytes: 1000, ItemsSynced: 10, BytesTotal: 1000},
		{User: "bob@example.com", Kind: "initial", Copied: 5, Bytes: 500, ItemsSynced: 5, BytesTotal: 500},
		{User: "alice@example.com", Kind: "incremental", Copied: 2, Bytes: 200, ItemsSynced: 12, BytesTotal: 1200},
	} {
		p.Started = t0.Add(time.Duration(i) * 12 * time.Hour)
		p.Finished, p.Outcome = p.Started.Add(time.Minute), service.PassOK
		tb.fake.AddPass("spring", p)
	}
	tb.fake.EditBatch("spring", func(b *service.Batch) {
		b.State = service.BatchSynced
		b.Options.TimeZone = "Europe/Paris"
	})
}

func TestReportHTML(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	reportUsers(tb)
	w := tb.do(http.MethodGet, "/api/v1/batches/spring/report?format=html", "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET report?format=html = %d: %s", w.Code, w.Body)
	}
	for h, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": ReportCSP,
		"Content-Disposition":     `attachment; filename=spring-report.html`,
	} {
		if got := w.Header().Get(h); got != want {
			t.Errorf("%s: %q; want %q", h, got, want)
		}
	}
	page := w.Body.String()

	// Progress over time: one point per pass, each user counting with its
	// latest figures (alice's 12 replace her 10).
	for _, tc := range []struct {
		chart string
		ends  []string
	}{
		{"chart-messages", []string{"; 10 messages at the destination", "; 15 messages at the destination", "; 17 messages at the destination"}},
		{"chart-bytes", []string{"; 1000 B copied in all", "; 1.5 KiB copied in all", "; 1.7 KiB copied in all"}},
	} {
		fig := section(t, page, `<figure id="`+tc.chart+`">`, `</figure>`)
		titles := regexp.MustCompile(`<circle class="pass" cx="[0-9.]+" cy="[0-9.]+" r="3.5"><title>([^<]*)</title></circle>`).FindAllStringSubmatch(fig, -1)
		if len(titles) != len(tc.ends) {
			t.Fatalf("%s has %d points; want %d:\n%s", tc.chart, len(titles), len(tc.ends), fig)
		}
		for i, m := range titles {
			if !strings.HasSuffix(m[1], tc.ends[i]) {
				t.Errorf("%s point %d says %q; want it to end with %q", tc.chart, i, m[1], tc.ends[i])
			}
		}
		// Times are in the batch's zone: 09:01 UTC is 10:01 in Paris.
		if !strings.Contains(fig, "2026-03-01 10:01") {
			t.Errorf("%s does not label its start in Europe/Paris:\n%s", tc.chart, fig)
		}
	}

	for _, want := range []string{
		"<dt>Source</dt><dd>old (old.example.com:0, )</dd>",
		"<dt>Users</dt><dd>2 (2 Synced)</dd>",
		"<dt>Items</dt><dd>17 synced, 75 skipped, 1 failed</dd>",
		`<dt>Consistency grade</dt><dd><span class="grade-Good" id="grade">Good</span>: the worst of 2 users: 1 Good, 1 Perfect</dd>`,
		"<th scope=\"row\">alice@example.com</th>\n<td>Synced</td>\n<td class=\"num\">12</td>\n<td class=\"num\">75</td>\n<td class=\"num\">1</td>\n<td class=\"num\">1.2 KiB</td>",
		"<th scope=\"row\">INBOX</th>\n<td>INBOX</td>\n<td>synced</td>\n<td class=\"num\">80</td>\n<td class=\"num\">12</td>\n<td class=\"num\">2</td>\n<td class=\"num\">75</td>",
		"<th scope=\"row\">Projects/&lt;script&gt;alert(1)&lt;/script&gt;</th>",
		"Failed: rejected (1)",
		"Skipped: too_large (75)",
		"and 25 more not listed here",
		"<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>",
		"Times are in Europe/Paris",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the report has no %q", want)
		}
	}
	if n := strings.Count(section(t, page, "Skipped: too_large", "</table>"), "<tr>\n<td>alice@example.com</td>"); n != maxReportItems {
		t.Errorf("%d too_large items listed; want the first %d", n, maxReportItems)
	}
	for _, bad := range []string{"<script", "http://", "https://", "pw-alice", "pw-bob"} {
		if strings.Contains(page, bad) {
			t.Errorf("the report holds %q", bad)
		}
	}

	w = tb.do(http.MethodGet, "/api/v1/batches/spring/report?format=pdf", "")
	if w.Code != http.StatusBadRequest || !strings.Contains(decodeError(t, w).Error, "want json, csv or html") {
		t.Errorf("format=pdf: %d %s; want 400 naming the formats", w.Code, w.Body)
	}
	w = tb.do(http.MethodGet, "/api/v1/batches/winter/report?format=html", "")
	if w.Code != http.StatusNotFound {
		t.Errorf("report of a batch that does not exist: %d %s; want 404", w.Code, w.Body)
	}
}

func TestReportHTMLWithoutPasses(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	w := tb.do(http.MethodGet, "/api/v1/batches/spring/report?format=html", "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET report?format=html = %d: %s", w.Code, w.Body)
	}
	page := w.Body.String()
	for _, want := range []string{`<p id="no-passes">No sync pass has finished yet.</p>`, `<p id="no-items">No item was skipped or failed.</p>`, "Times are in UTC"} {
		if !strings.Contains(page, want) {
			t.Errorf("the report of a batch that has not run has no %q", want)
		}
	}
	if strings.Contains(page, "<svg") || strings.Contains(page, `id="grade"`) {
		t.Errorf("the report of a batch that has not run draws a chart or a grade")
	}
}

func TestHistoryRoute(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	reportUsers(tb)
	w := tb.do(http.MethodGet, "/api/v1/batches/spring/history", "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET history = %d: %s", w.Code, w.Body)
	}
	var ps []service.Pass
	if err := json.Unmarshal(w.Body.Bytes(), &ps); err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 || ps[2].User != "alice@example.com" || ps[2].Kind != "incremental" || ps[2].ItemsSynced != 12 {
		t.Errorf("history = %+v; want the three passes in order", ps)
	}
	if w := tb.do(http.MethodGet, "/api/v1/batches/winter/history", ""); w.Code != http.StatusNotFound {
		t.Errorf("history of a batch that does not exist: %d; want 404", w.Code)
	}
}

func TestNiceCeil(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want int64 }{{0, 1}, {1, 1}, {2, 2}, {3, 5}, {7, 10}, {10, 10}, {11, 20}, {17, 20}, {450, 500}, {501, 1000}, {1_000_001, 2_000_000}} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%d) = %d; want %d", tc.in, got, tc.want)
		}
	}
}

func TestNiceBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want int64 }{{0, 1}, {700, 1000}, {1023, 2000}, {1700, 2 << 10}, {28 << 10, 50 << 10}, {(50 << 10) + 1, 100 << 10}, {3 << 30, 5 << 30}} {
		if got := niceBytes(tc.in); got != tc.want {
			t.Errorf("niceBytes(%d) = %d; want %d", tc.in, got, tc.want)
		}
	}
}

// section returns the part of s from start to the end that follows it.
func section(t *testing.T, s, start, end string) string {
	t.Helper()
	i := strings.Index(s, start)
	if i < 0 {
		t.Fatalf("no %q in the page", start)
	}
	j := strings.Index(s[i:], end)
	if j < 0 {
		t.Fatalf("no %q after %q", end, start)
	}
	return s[i : i+j+len(end)]
}
