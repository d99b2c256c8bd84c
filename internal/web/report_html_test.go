package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestStaleBatch: a batch synced with no action for longer than the
// service's stale_after has a badge in the list and a note on its page;
// a fresh one has neither.
func TestStaleBatch(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.signIn(t)
	for _, path := range []string{"/batches", "/batches/spring"} {
		if body := c.get(path).Body.String(); strings.Contains(body, "badge stale") || strings.Contains(body, `id="stale-note"`) {
			t.Errorf("GET %s flags a batch that is not stale", path)
		}
	}
	since := time.Now().Add(-16*24*time.Hour - time.Hour)
	tb.fake.EditBatch("spring", func(b *service.Batch) {
		b.State, b.Stale, b.StaleSince = service.BatchSynced, true, &since
	})
	list := c.get("/batches").Body.String()
	if !strings.Contains(list, `<a class="batch-link" href="/batches/spring">spring</a> <span class="badge stale" title="Synced for 16 days with no action: complete it or remove it">Stale</span>`) {
		t.Errorf("GET /batches has no stale badge on spring:\n%s", list)
	}
	page := c.get("/batches/spring").Body.String()
	if !strings.Contains(page, `<p id="stale-note" class="note">Synced for 16 days with no action: complete it or remove it.</p>`) {
		t.Errorf("GET /batches/spring has no stale note:\n%s", page)
	}
	// Flagged, never stopped: the actions of a synced batch are offered.
	if !strings.Contains(page, `data-action="complete"`) || !strings.Contains(page, `data-action="sync-now"`) {
		t.Errorf("a stale batch's page does not offer complete and sync now")
	}
}

func TestReportHTMLDownload(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.signIn(t)
	if page := c.get("/batches/spring").Body.String(); !strings.Contains(page,
		`<a id="report-html" class="button" href="/batches/spring/report.html" download>Download HTML report</a>`) {
		t.Errorf("the batch page has no HTML report link")
	}
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tb.fake.AddPass("spring", service.Pass{User: "alice@example.com", Kind: "initial", Started: at, Finished: at.Add(time.Minute),
		Copied: 7, ItemsSynced: 7, Outcome: service.PassOK})
	w := c.get("/batches/spring/report.html")
	if w.Code != http.StatusOK {
		t.Fatalf("GET report.html = %d\n%s", w.Code, w.Body)
	}
	if got := w.Header().Get("Content-Security-Policy"); got != api.ReportCSP {
		t.Errorf("report.html served with policy %q; want the report's own, %q", got, api.ReportCSP)
	}
	if got := w.Header().Get("Content-Disposition"); got != "attachment; filename=spring-report.html" {
		t.Errorf("report.html Content-Disposition %q", got)
	}
	body := w.Body.String()
	if !strings.Contains(body, "; 7 messages at the destination</title>") || strings.Contains(body, canaryAlicePW) || strings.Contains(body, canaryAdminPW) {
		t.Errorf("report.html lacks the pass or holds a password:\n%s", body)
	}
	if w := c.get("/batches/winter/report.html"); w.Code != http.StatusNotFound {
		t.Errorf("report.html of a batch that does not exist = %d; want 404", w.Code)
	}
}

// TestWizardSchedule: the start-after and complete-after times are read
// in the time zone given, which the batch keeps for showing them; a
// Scheduled batch's page shows its start time in that zone.
func TestWizardSchedule(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.signIn(t)
	if page := c.get("/batches/new").Body.String(); !strings.Contains(page, `id="start-after" name="start_after" type="datetime-local"`) ||
		!strings.Contains(page, `id="timezone" name="timezone"`) {
		t.Errorf("the wizard has no start-after or time zone field")
	}
	form := wizardForm("create")
	form.Set("start_after", "2026-12-01T22:00")
	form.Set("complete_after", "2026-12-05T08:00")
	form.Set("timezone", "America/New_York")
	good := "EmailAddress,UserName,Password\ncarol@example.com,carol,canary-carol-pw\n"
	if w := c.upload("/batches/new", form, &good); w.Code != http.StatusSeeOther {
		t.Fatalf("create = %d\n%s", w.Code, w.Body)
	}
	b, err := tb.fake.Batch(context.Background(), "summer")
	if err != nil {
		t.Fatal(err)
	}
	o := b.Options
	if o.StartAfter == nil || !o.StartAfter.Equal(time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)) ||
		o.CompleteAfter == nil || !o.CompleteAfter.Equal(time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)) || o.TimeZone != "America/New_York" {
		t.Errorf("created with start %v, complete %v, zone %q; want 03:00 and 13:00 UTC, America/New_York", o.StartAfter, o.CompleteAfter, o.TimeZone)
	}
	tb.fake.EditBatch("summer", func(b *service.Batch) { b.State = service.BatchScheduled })
	page := c.get("/batches/summer").Body.String()
	for _, want := range []string{`<dd id="batch-start-after">2026-12-01 22:00 EST</dd>`, `<dd id="batch-complete-after">2026-12-05 08:00 EST</dd>`,
		`data-action="stop"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the Scheduled batch's page has no %s", want)
		}
	}

	form.Set("name", "autumn")
	form.Set("timezone", "Atlantis/Capital")
	w := c.upload("/batches/new", form, &good)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `Time zone: time zone &#34;Atlantis/Capital&#34;: want an IANA time zone name`) {
		t.Errorf("create with an unknown zone = %d; want 422 naming it", w.Code)
	}
}
