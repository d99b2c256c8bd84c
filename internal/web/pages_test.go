package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/api/apitest"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestPagesKeepTheDOMContract checks the ids and attributes the browser
// tests rely on, page by page.
func TestPagesKeepTheDOMContract(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.fake.PutUser(detailedUser())
	c := tb.signIn(t)
	header := []string{`id="nav-batches" href="/batches"`, `id="nav-endpoints" href="/endpoints"`,
		`id="nav-new-batch" href="/batches/new"`, `<form method="post" action="/logout"`, `id="signout"`}
	tests := []struct {
		path string
		want []string
	}{
		{"/batches", []string{`<table id="batches"`, `<tr data-batch="spring">`, `<td class="state">Created</td>`,
			`<td class="users num">2</td>`, `class="synced`, `class="failed`, `class="items`, `class="skipped`, `<progress `,
			`class="last-sync"`, `class="next-sync"`, `data-action="start"`, `data-action="remove"`,
			`action="/batches/spring/confirm/remove"`}},
		{"/batches/new", []string{`id="source-endpoint" name="source_endpoint"`, `id="dest-endpoint" name="dest_endpoint"`,
			`<option value="old"`, `href="/endpoints"`, `id="name" name="name"`, `id="csv" name="csv" type="file"`,
			`id="include" name="include"`, `id="exclude"`, `id="max-message-size"`, `id="max-items"`, `id="interval"`,
			`id="complete-after" name="complete_after" type="datetime-local"`, `id="notify"`, `id="start" name="start" type="checkbox"`,
			`id="validate" type="submit" name="op" value="validate"`, `id="create" type="submit" name="op" value="create"`,
			`enctype="multipart/form-data"`}},
		{"/batches/spring", []string{`<span id="batch-state" class="badge">Created</span>`, `<table id="users"`,
			`<tr data-user="alice@example.com" data-status="Synced">`, `<td class="status">Synced</td>`, `class="synced num"`,
			`class="skipped num"`, `class="failed num"`, `class="bytes num"`, `<progress value="1" max="1"`, `class="last-sync"`,
			`<td class="error">`, `<a class="user-link" href="/users/alice@example.com">`, `id="status-filter"`, `id="retry-failed"`,
			`<a id="report-csv" class="button" href="/batches/spring/report.csv"`, `<a id="report-json" class="button" href="/batches/spring/report.json"`,
			`id="add-csv" name="csv" type="file"`, `id="add-users"`}},
		{"/batches/spring/confirm/complete", []string{`<button id="confirm" type="submit"`, `action="/batches/spring/complete"`}},
		{"/batches/spring/confirm/remove", []string{`<button id="confirm" type="submit"`, `action="/batches/spring/remove"`}},
		{"/users/alice@example.com", []string{`<span id="user-status" class="badge">Synced</span>`, `<span id="grade">Investigate</span>`,
			"3 items failed, 1 rejected by the destination", `<table id="folders">`, `<td class="dest-count num">40</td>`,
			`<table id="skipped">`, `Big attachment`, `too_large`, `<p id="last-error">append uid 9`,
			`<ol id="error-history"`, "throttled, retrying at 12:00:30 UTC"}},
		{"/endpoints", []string{`<table id="endpoints">`, `<tr data-endpoint="old">`, `<tr data-endpoint="new">`,
			`data-action="test"`, `name="user"`, `name="password" type="password"`, `class="test-result"`, `data-action="edit"`,
			`href="/endpoints/old/edit"`, `data-action="remove"`, `id="ep-name"`, `id="ep-host"`, `id="ep-port"`, `<select id="ep-security"`,
			`<select id="ep-credentials"`, `<select id="ep-admin-format"`, `id="ep-admin-user"`,
			`id="ep-admin-password" name="admin_password" type="password"`, `id="ep-max-migrations"`, `id="ep-max-incremental"`, `id="ep-add"`}},
		{"/endpoints/new/edit", []string{`id="ep-host" name="host" value="new.example.com"`, `<option value="admin" selected>`,
			`<option value="dovecot" selected>`, `A password is stored; leave empty to keep it.`}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			w := c.get(tc.path)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s = %d; want 200\n%s", tc.path, w.Code, w.Body)
			}
			body := w.Body.String()
			for _, want := range append(header, tc.want...) {
				if !strings.Contains(body, want) {
					t.Errorf("GET %s has no %s", tc.path, want)
				}
			}
		})
	}

	t.Run("Login", func(t *testing.T) {
		w := tb.anonymous(t).get("/login")
		for _, want := range []string{`<form id="login-form" method="post" action="/login"`, `id="password" name="password" type="password"`, `id="signin"`} {
			if !strings.Contains(w.Body.String(), want) {
				t.Errorf("GET /login has no %s", want)
			}
		}
		if strings.Contains(w.Body.String(), `id="signout"`) {
			t.Errorf("GET /login without a session shows the sign-out button")
		}
	})
	t.Run("Home", func(t *testing.T) {
		if w := c.get("/"); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/batches" {
			t.Errorf("GET / = %d to %q; want 303 to /batches", w.Code, w.Header().Get("Location"))
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		for _, p := range []string{"/nowhere", "/batches/nope", "/users/nobody@example.com", "/endpoints/nope/edit", "/batches/spring/confirm/start"} {
			if w := c.get(p); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `class="error"`) {
				t.Errorf("GET %s = %d; want 404 with p.error", p, w.Code)
			}
		}
	})
}

// detailedUser is alice after a pass with failures and skips.
func detailedUser() service.User {
	last := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return service.User{
		Batch: "spring", EmailAddress: "alice@example.com", SourceUser: "alice", DestUser: "alice@example.com",
		Status: service.UserSynced, ItemsSynced: 100, ItemsSkipped: 3, ItemsFailed: 3, Bytes: 123456,
		SkippedBy: map[string]int64{"too_large": 2, "rejected": 1}, LastSync: &last,
		LastError: `append uid 9 to folder "Sent" for alice@example.com: imap: NO [OVERQUOTA] quota exceeded`,
		Errors:    []service.ErrorEvent{{At: last, Message: "throttled, retrying at 12:00:30 UTC: NO [LIMIT] too many"}},
		Folders: []service.Folder{
			{Source: "INBOX", Destination: "INBOX", Status: "synced", SourceCount: 44, DestCount: 40, Copied: 40,
				Skipped: map[string]int{"too_large": 2, "rejected": 1}, Failed: 3, Bytes: 100000},
		},
		SkippedItems: []service.Item{{Folder: "INBOX", UID: 7, Date: last, Subject: "Big attachment", Size: 40 << 20, Reason: "too_large"}},
		FailedItems:  []service.Item{{Folder: "INBOX", UID: 9, Date: last, Subject: "Quota", Size: 1000, Reason: "error", Detail: "OVERQUOTA"}},
	}
}

func TestStatusFilterWithoutJS(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.fake.PutUser(detailedUser())
	c := tb.signIn(t)
	body := c.get("/batches/spring?status=Queued").Body.String()
	for _, want := range []string{`<tr data-user="alice@example.com" data-status="Synced" hidden>`,
		`<tr data-user="bob@example.com" data-status="Queued">`, `<option value="Queued" selected>`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /batches/spring?status=Queued has no %s", want)
		}
	}
}

func TestLiveJSON(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.fake.PutUser(detailedUser())
	c := tb.signIn(t)

	var batches struct {
		Batches []struct {
			Name, State string
			Users       int
			Synced      int
			Items       int64
			Progress    progress
			Actions     []string
			ActionsHTML string `json:"actions_html"`
		}
	}
	w := c.get("/ui/batches.json")
	if err := json.Unmarshal(w.Body.Bytes(), &batches); err != nil || len(batches.Batches) != 1 {
		t.Fatalf("GET /ui/batches.json = %d %s (%v); want one batch", w.Code, w.Body, err)
	}
	b := batches.Batches[0]
	if b.Name != "spring" || b.State != "Created" || b.Users != 2 || b.Synced != 1 || b.Items != 100 ||
		b.Progress != (progress{Value: 1, Max: 2, Text: "1 of 2 users synced"}) ||
		strings.Join(b.Actions, " ") != "start remove" || !strings.Contains(b.ActionsHTML, `data-action="start"`) {
		t.Errorf("GET /ui/batches.json = %+v", b)
	}

	var users batchJSON
	w = c.get("/ui/batches/spring/users.json")
	if err := json.Unmarshal(w.Body.Bytes(), &users); err != nil || len(users.Users) != 2 {
		t.Fatalf("GET /ui/batches/spring/users.json = %d %s (%v); want two users", w.Code, w.Body, err)
	}
	if u := users.Users[0]; u.Email != "alice@example.com" || u.Status != "Synced" || u.Failed != 3 || u.Bytes != 123456 ||
		u.BytesText != "120.6 KiB" || !strings.Contains(u.Error, "OVERQUOTA") {
		t.Errorf("GET /ui/batches/spring/users.json: alice = %+v", u)
	}
	if w := c.get("/ui/batches/nope/users.json"); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"error"`) {
		t.Errorf("GET /ui/batches/nope/users.json = %d %s; want a 404 JSON error", w.Code, w.Body)
	}
}

func TestBatchActions(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.signIn(t)

	page, flash := c.follow(c.post("/batches/spring/start", url.Values{"next": {"/batches"}}))
	if tb.batchState(t, "spring") != "Syncing" || !strings.Contains(flash, "spring: started (now Syncing)") {
		t.Fatalf("start: batch %s, flash %q", tb.batchState(t, "spring"), flash)
	}
	if !strings.Contains(page.Body.String(), `<table id="batches"`) {
		t.Errorf("start with next=/batches did not come back to the batches")
	}
	// Completing a syncing batch is refused by the service; its words show.
	tb.fake.StopBatch(context.Background(), "spring")
	tb.fake.StartBatch(context.Background(), "spring")
	_, flash = c.follow(c.post("/batches/spring/start", nil))
	if !strings.Contains(flash, "conflict") {
		t.Errorf("start of a syncing batch: flash %q; want the service's conflict", flash)
	}
	page, _ = c.follow(c.post("/batches/spring/start", nil))
	if !strings.Contains(page.Body.String(), `class="flash error"`) {
		t.Errorf("a refused action's flash is not marked as an error")
	}
	_, flash = c.follow(c.post("/batches/spring/remove", nil))
	if tb.batchState(t, "spring") != "(none: batch \"spring\": not found)" || !strings.Contains(flash, "being removed") {
		t.Errorf("remove: batch %s, flash %q", tb.batchState(t, "spring"), flash)
	}
}

func TestPossibleActions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		state string
		want  string
	}{
		{service.BatchCreated, "start remove"},
		{service.BatchSyncing, "stop sync-now remove"},
		{service.BatchSynced, "stop sync-now complete remove"},
		{service.BatchSyncedWithErrors, "stop sync-now complete remove"},
		{service.BatchCompleting, "stop remove"},
		{service.BatchCompleted, "remove"},
		{service.BatchStopping, "remove"},
		{service.BatchStopped, "start remove"},
		{service.BatchFailed, "start remove"},
		{service.BatchRemoving, ""},
	}
	for _, tc := range tests {
		if got := strings.Join(possibleActions(tc.state), " "); got != tc.want {
			t.Errorf("possibleActions(%q) = %q; want %q", tc.state, got, tc.want)
		}
	}
}

func TestReports(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.fake.PutUser(detailedUser())
	c := tb.signIn(t)

	w := c.get("/batches/spring/report.csv")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
		w.Header().Get("Content-Disposition") != "attachment; filename=spring-report.csv" {
		t.Fatalf("GET report.csv = %d %v", w.Code, w.Header())
	}
	rows, err := csv.NewReader(strings.NewReader(w.Body.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var records []string
	for _, r := range rows[1:] {
		records = append(records, r[0]+":"+r[1])
	}
	want := "user:alice@example.com folder:alice@example.com skipped:alice@example.com failed:alice@example.com user:bob@example.com"
	if got := strings.Join(records, " "); got != want {
		t.Errorf("report.csv records = %s; want %s", got, want)
	}

	w = c.get("/batches/spring/report.json")
	var us []service.User
	if err := json.Unmarshal(w.Body.Bytes(), &us); err != nil || len(us) != 2 || len(us[0].Folders) != 1 {
		t.Errorf("GET report.json = %d (%v): %d users", w.Code, err, len(us))
	}
	if got := w.Header().Get("Content-Disposition"); got != "attachment; filename=spring-report.json" {
		t.Errorf("report.json Content-Disposition = %q", got)
	}
}

func TestAddUsers(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.signIn(t)

	bad := "EmailAddress,UserName,Password\ncarol,carol,canary-carol-pw\ndave@example.com,dave,\n"
	w := c.upload("/batches/spring/users", nil, &bad)
	body := w.Body.String()
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `<ul id="csv-problems">`) ||
		!strings.Contains(body, "<li>line 2: EmailAddress &#34;carol&#34;: missing domain</li>") ||
		!strings.Contains(body, "<li>line 3: Password is empty</li>") {
		t.Errorf("add users with a bad CSV = %d; want 422 with every problem:\n%s", w.Code, body)
	}
	if us, _ := tb.fake.Users(context.Background(), "spring"); len(us) != 2 {
		t.Errorf("a bad CSV added users: %d", len(us))
	}

	good := "EmailAddress,UserName,Password\ncarol@example.com,carol,canary-carol-pw\n"
	_, flash := c.follow(c.upload("/batches/spring/users", nil, &good))
	if us, _ := tb.fake.Users(context.Background(), "spring"); len(us) != 3 || !strings.Contains(flash, "1 user(s) added") {
		t.Errorf("add users: %d users, flash %q", len(us), flash)
	}

	w = c.upload("/batches/spring/users", nil, nil)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "choose a CSV file") {
		t.Errorf("add users without a file = %d; want 422 asking for the file", w.Code)
	}
}

// wizardForm is the new-batch form as a browser fills it.
func wizardForm(op string) url.Values {
	return url.Values{
		"op": {op}, "name": {"summer"}, "source_endpoint": {"old"}, "dest_endpoint": {"new"},
		"include": {"INBOX, Sent/*"}, "exclude": {"Junk"}, "max_message_size": {"35MiB"}, "max_items": {"1000"},
		"interval": {"12h"}, "complete_after": {"2026-12-01T18:00"}, "notify": {"admin@example.com, help@example.com"}, "start": {"on"},
	}
}

// TestWizardValidate: a dry run lists every problem of the CSV file with
// its line, keeps the other values, and creates nothing.
func TestWizardValidate(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.signIn(t)
	before := tb.snapshot(t)

	bad := "EmailAddress,UserName,Password\ncarol,carol,canary-carol-pw\ndave@example.com,dave,canary-dave-pw\neve@,eve,\n"
	w := c.upload("/batches/new", wizardForm("validate"), &bad)
	body := w.Body.String()
	if w.Code != http.StatusUnprocessableEntity {
		t.Errorf("validate with a bad CSV = %d; want 422", w.Code)
	}
	m := regexp.MustCompile(`(?s)<ul id="csv-problems">(.*?)</ul>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("validate with a bad CSV shows no #csv-problems:\n%s", body)
	}
	items := regexp.MustCompile(`<li>(.*?)</li>`).FindAllStringSubmatch(m[1], -1)
	var got []string
	for _, it := range items {
		got = append(got, it[1])
	}
	want := []string{
		"line 2: EmailAddress &#34;carol&#34;: missing domain",
		"line 4: EmailAddress &#34;eve@&#34;: missing domain",
		"line 4: Password is empty",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("#csv-problems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, keep := range []string{`id="name" name="name" value="summer"`, `value="INBOX, Sent/*"`, `value="Junk"`, `value="35MiB"`,
		`value="1000"`, `value="12h"`, `value="2026-12-01T18:00"`, `value="admin@example.com, help@example.com"`,
		`<option value="old" selected>`, `<option value="new" selected>`, `type="checkbox" value="on" checked>`} {
		if !strings.Contains(body, keep) {
			t.Errorf("validate did not keep %s", keep)
		}
	}
	if after := tb.snapshot(t); after != before {
		t.Errorf("validate with a bad CSV changed the service:\n%s\nto\n%s", before, after)
	}

	good := "EmailAddress,UserName,Password\ncarol@example.com,carol,canary-carol-pw\n"
	w = c.upload("/batches/new", wizardForm("validate"), &good)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `<table id="plan">`) || !strings.Contains(w.Body.String(), "carol@example.com") {
		t.Errorf("validate with a good CSV = %d; want 200 with #plan:\n%s", w.Code, w.Body)
	}
	if after := tb.snapshot(t); after != before {
		t.Errorf("validate with a good CSV created something:\n%s\nto\n%s", before, after)
	}
}

func TestWizardCreate(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.signIn(t)

	good := "EmailAddress,UserName,Password\ncarol@example.com,carol,canary-carol-pw\n"
	w := c.upload("/batches/new", wizardForm("create"), &good)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/batches/summer" {
		t.Fatalf("create = %d to %q; want 303 to /batches/summer\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	b, err := tb.fake.Batch(context.Background(), "summer")
	if err != nil {
		t.Fatal(err)
	}
	o := b.Options
	complete := time.Date(2026, 12, 1, 18, 0, 0, 0, time.Local)
	if b.State != "Syncing" || b.SourceEndpoint != "old" || b.DestEndpoint != "new" || b.Totals.Users != 1 ||
		strings.Join(o.IncludeFolders, "|") != "INBOX|Sent/*" || strings.Join(o.ExcludeFolders, "|") != "Junk" ||
		o.MaxMessageSize != 35<<20 || o.MaxItems != 1000 || o.IncrementalIntervalSeconds != 12*3600 ||
		o.CompleteAfter == nil || !o.CompleteAfter.Equal(complete) ||
		strings.Join(o.NotificationEmails, "|") != "admin@example.com|help@example.com" {
		t.Errorf("created batch = %+v, options %+v", b, o)
	}

	w = c.upload("/batches/new", wizardForm("create"), &good)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), `<p class="error" role="alert">create batch &#34;summer&#34;: already exists: conflict</p>`) {
		t.Errorf("create twice = %d; want 409 with the service's words:\n%s", w.Code, w.Body)
	}

	bad := "EmailAddress,UserName,Password\nzed,zed,pw\n"
	form := wizardForm("create")
	form.Set("name", "autumn")
	w = c.upload("/batches/new", form, &bad)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `<ul id="csv-problems">`) {
		t.Errorf("create with a bad CSV = %d; want 422 with #csv-problems", w.Code)
	}
	if _, err := tb.fake.Batch(context.Background(), "autumn"); err == nil {
		t.Errorf("create with a bad CSV created the batch")
	}
}

func TestWizardFieldErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		field, value, want string
	}{
		{"max_message_size", "lots", `Maximum message size: &#34;lots&#34; is not a size`},
		{"max_message_size", "0", `Maximum message size: &#34;0&#34; is not a size`},
		{"max_items", "-5", `Maximum items per mailbox: &#34;-5&#34; is not a whole number of 1 or more`},
		{"interval", "30s", `Incremental sync interval: &#34;30s&#34; is not an interval of a minute or more`},
		{"complete_after", "tomorrow", `Complete after: &#34;tomorrow&#34; is not a date and time`},
		{"notify", "admin", `Notify: &#34;admin&#34; is not an e-mail address`},
		{"name", "", `Name: required`},
		{"name", "new", `Name: &#34;new&#34; is taken`},
		{"source_endpoint", "", `Endpoints: choose the source and the destination`},
	}
	for _, tc := range tests {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			tb := setup(t)
			c := tb.signIn(t)
			form := wizardForm("create")
			form.Set(tc.field, tc.value)
			good := "EmailAddress,UserName,Password\ncarol@example.com,carol,pw\n"
			w := c.upload("/batches/new", form, &good)
			if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), tc.want) {
				t.Errorf("create with %s=%q = %d; want 422 with %q", tc.field, tc.value, w.Code, tc.want)
			}
			if bs, _ := tb.fake.Batches(context.Background()); len(bs) != 1 {
				t.Errorf("create with %s=%q created a batch", tc.field, tc.value)
			}
		})
	}
}

// endpointService makes TestEndpoint and RemoveEndpoint answer as the real
// service does for a server that refuses and an endpoint in use.
type endpointService struct {
	*apitest.Fake
}

func (s endpointService) TestEndpoint(ctx context.Context, name, user, password string) (*service.EndpointTest, error) {
	if user == "mallory" {
		return nil, fmt.Errorf("test endpoint %q: endpoint old old.example.com:993: login as mallory: imap: NO [AUTHENTICATIONFAILED] Authentication failed.: %w",
			name, service.ErrRemote)
	}
	return s.Fake.TestEndpoint(ctx, name, user, password)
}

func (s endpointService) RemoveEndpoint(ctx context.Context, name string) error {
	if name == "old" {
		return fmt.Errorf("remove endpoint %q: used by batch spring; remove the batch first: %w", name, service.ErrConflict)
	}
	return s.Fake.RemoveEndpoint(ctx, name)
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	tb := setup(t, func(f *apitest.Fake) api.Service { return endpointService{f} })
	c := tb.signIn(t)
	ctx := context.Background()

	t.Run("Test", func(t *testing.T) {
		w := c.post("/endpoints/old/test", url.Values{"user": {"alice"}, "password": {"canary-test-pw"}})
		body := w.Body.String()
		for _, want := range []string{"Logged in as alice", "IMAP4rev1", "Shared/", `separator “/”`} {
			if w.Code != http.StatusOK || !strings.Contains(body, want) {
				t.Errorf("test endpoint = %d; want 200 with %q", w.Code, want)
			}
		}
		w = c.post("/endpoints/old/test", url.Values{"user": {"mallory"}, "password": {"canary-test-pw"}})
		want := `<p class="error">test endpoint &#34;old&#34;: endpoint old old.example.com:993: login as mallory: imap: NO [AUTHENTICATIONFAILED] Authentication failed.: imap server refused or unreachable</p>`
		if w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), want) {
			t.Errorf("failed test = %d; want 502 with the exact error in .test-result:\n%s", w.Code, w.Body)
		}
	})

	t.Run("Add", func(t *testing.T) {
		form := url.Values{"name": {"third"}, "host": {"imap.third.example.com"}, "port": {"143"}, "security": {"starttls"},
			"credentials": {"admin"}, "admin_format": {"authzid"}, "admin_user": {"root"}, "admin_password": {"canary-third-pw"},
			"max_concurrent_migrations": {"5"}, "max_concurrent_incremental_syncs": {"2"}}
		_, flash := c.follow(c.post("/endpoints", form))
		ep, err := tb.fake.Endpoint(ctx, "third")
		if err != nil || ep.Port != 143 || ep.Security != "starttls" || !ep.HasAdminPassword || ep.MaxConcurrentMigrations != 5 ||
			!strings.Contains(flash, "Endpoint third added") {
			t.Errorf("add endpoint: %+v, %v, flash %q", ep, err, flash)
		}
		w := c.post("/endpoints", form)
		if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), `value="imap.third.example.com"`) ||
			!strings.Contains(w.Body.String(), `<p class="error" role="alert">add endpoint &#34;third&#34;: already exists: conflict</p>`) {
			t.Errorf("add twice = %d; want 409, the error, and the form kept", w.Code)
		}
		form.Set("port", "http")
		if w := c.post("/endpoints", form); w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "port: &#34;http&#34;") {
			t.Errorf("add with a bad port = %d; want 422 naming the port", w.Code)
		}
	})

	t.Run("Edit", func(t *testing.T) {
		form := url.Values{"host": {"imap2.new.example.com"}, "port": {"993"}, "security": {"tls"}, "credentials": {"admin"},
			"admin_format": {"dovecot"}, "admin_user": {"migrator"}, "admin_password": {""}}
		_, flash := c.follow(c.post("/endpoints/new/edit", form))
		ep, _ := tb.fake.Endpoint(ctx, "new")
		if ep.Host != "imap2.new.example.com" || !ep.HasAdminPassword || !strings.Contains(flash, "saved") {
			t.Errorf("edit with an empty password: %+v, flash %q; want the host changed and the password kept", ep, flash)
		}
	})

	t.Run("RemoveInUse", func(t *testing.T) {
		_, flash := c.follow(c.post("/endpoints/old/remove", nil))
		if _, err := tb.fake.Endpoint(ctx, "old"); err != nil || !strings.Contains(flash, "used by batch spring") {
			t.Errorf("remove an endpoint in use: %v, flash %q; want it kept and the service's words", err, flash)
		}
	})

	t.Run("Remove", func(t *testing.T) {
		_, flash := c.follow(c.post("/endpoints/third/remove", nil))
		if _, err := tb.fake.Endpoint(ctx, "third"); err == nil || !strings.Contains(flash, "removed") {
			t.Errorf("remove: endpoint still there (%v), flash %q", err, flash)
		}
	})
}

func TestServiceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		text   string
	}{
		{"Remote", fmt.Errorf("list: %w", service.ErrRemote), 502, "list: imap server refused or unreachable"},
		{"Canceled", fmt.Errorf("list: %w", context.Canceled), 499, "request canceled"},
		{"Timeout", fmt.Errorf("list: %w", context.DeadlineExceeded), 503, "timed out"},
		{"Internal", fmt.Errorf("open /var/lib/imapmigrate/db: disk full"), 500, "internal error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t)
			c := tb.signIn(t)
			tb.fake.Fail(tc.err)
			w := c.get("/batches")
			if w.Code != tc.status || !strings.Contains(w.Body.String(), `<p class="error" role="alert">`+tc.text+`</p>`) {
				t.Errorf("GET /batches with service error %v = %d; want %d with %q", tc.err, w.Code, tc.status, tc.text)
			}
			if strings.Contains(w.Body.String(), "disk full") {
				t.Errorf("an internal error's text reached the page")
			}
			if logged := strings.Contains(tb.logs.String(), "disk full"); logged != (tc.status == 500) {
				t.Errorf("logged = %v for status %d", logged, tc.status)
			}
		})
	}
}
