package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/api/apitest"
	"github.com/imapmigrate/imapmigrate/internal/batch"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

const testToken = "s3cret-token"

type testBundle struct {
	fake    *apitest.Fake
	handler http.Handler
	logs    *bytes.Buffer
}

// setup returns an API over a fake service with two endpoints and a batch
// "spring" of two users.
func setup(t *testing.T) *testBundle {
	t.Helper()
	var logs bytes.Buffer
	tb := &testBundle{fake: apitest.NewFake(), logs: &logs}
	tb.handler = New(tb.fake, testToken, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()
	for _, name := range []string{"old", "new"} {
		if _, err := tb.fake.AddEndpoint(ctx, service.EndpointSpec{Endpoint: service.Endpoint{Name: name, Host: name + ".example.com"}}); err != nil {
			t.Fatal(err)
		}
	}
	spec := service.BatchSpec{Name: "spring", SourceEndpoint: "old", DestEndpoint: "new",
		CSV: "EmailAddress,UserName,Password\nalice@example.com,alice,pw-alice\nbob@example.com,bob,pw-bob\n"}
	if _, _, err := tb.fake.CreateBatch(ctx, spec); err != nil {
		t.Fatal(err)
	}
	return tb
}

// do sends a request with the test token (unless token says otherwise).
func (tb *testBundle) do(method, path, body string, token ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	tok := testToken
	if len(token) > 0 {
		tok = token[0]
	}
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	w := httptest.NewRecorder()
	tb.handler.ServeHTTP(w, r)
	return w
}

func decodeError(t *testing.T, w *httptest.ResponseRecorder) ErrorBody {
	t.Helper()
	var eb ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil {
		t.Fatalf("error answer %d is not JSON: %v: %q", w.Code, err, w.Body.String())
	}
	return eb
}

// TestErrorStatuses is the error→status table as a caller sees it.
func TestErrorStatuses(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		status  int
		message string
	}{
		{"NotFound", fmt.Errorf("batch %q: %w", "x", service.ErrNotFound), 404, `batch "x": not found`},
		{"Conflict", fmt.Errorf("start batch: it is Completed: %w", service.ErrConflict), 409, "start batch: it is Completed: conflict"},
		{"Invalid", fmt.Errorf("bad option: %w", service.ErrInvalid), 422, "bad option: invalid input"},
		{"CSV", fmt.Errorf("create batch: %w", &service.CSVError{Problems: []batch.Problem{{Line: 2, Message: "x"}}}), 422, "create batch: the CSV file has 1 problem(s); first: line 2: x"},
		{"CSVNoProblems", &service.CSVError{}, 422, "the CSV file has problems"},
		{"Remote", fmt.Errorf("test endpoint %q: endpoint old 127.0.0.1:1143: login as alice: imap: NO [AUTHENTICATIONFAILED] Authentication failed.: %w", "old", service.ErrRemote),
			502, `test endpoint "old": endpoint old 127.0.0.1:1143: login as alice: imap: NO [AUTHENTICATIONFAILED] Authentication failed.: imap server refused or unreachable`},
		// An IMAP server that timed out is the server's doing, not ours.
		{"RemoteTimeout", fmt.Errorf("test endpoint %q: connect for alice: %w: %w", "old", context.DeadlineExceeded, service.ErrRemote),
			502, `test endpoint "old": connect for alice: context deadline exceeded: imap server refused or unreachable`},
		{"Canceled", fmt.Errorf("list: %w", context.Canceled), 499, "request canceled"},
		{"Timeout", fmt.Errorf("list: %w", context.DeadlineExceeded), 503, "timed out"},
		{"Internal", errors.New("open /var/lib/imapmigrate/db: disk full"), 500, "internal error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := setup(t)
			tb.fake.Fail(tc.err)
			w := tb.do("GET", "/api/v1/batches", "")
			if eb := decodeError(t, w); w.Code != tc.status || eb.Error != tc.message {
				t.Errorf("GET /api/v1/batches with service error %v = %d %q; want %d %q", tc.err, w.Code, eb.Error, tc.status, tc.message)
			}
			logged := strings.Contains(tb.logs.String(), "disk full")
			if logged != (tc.status == 500) {
				t.Errorf("logged = %v for status %d; log: %s", logged, w.Code, tb.logs.String())
			}
			if tc.status == 500 && !strings.Contains(tb.logs.String(), "route=\"GET /api/v1/batches\"") {
				t.Errorf("internal error logged without its route: %s", tb.logs.String())
			}
		})
	}
}

var allRoutes = []struct{ method, path, body string }{
	{"GET", "/api/v1/endpoints", ""},
	{"POST", "/api/v1/endpoints", `{"name":"x","host":"h"}`},
	{"GET", "/api/v1/endpoints/old", ""},
	{"PUT", "/api/v1/endpoints/old", `{"host":"h"}`},
	{"DELETE", "/api/v1/endpoints/old", ""},
	{"POST", "/api/v1/endpoints/old/test", `{}`},
	{"GET", "/api/v1/batches", ""},
	{"POST", "/api/v1/batches", `{"name":"b2","source_endpoint":"old","destination_endpoint":"new","csv":"EmailAddress,UserName,Password\na@x,a,p"}`},
	{"GET", "/api/v1/batches/spring", ""},
	{"DELETE", "/api/v1/batches/spring", ""},
	{"POST", "/api/v1/batches/spring/start", ""},
	{"POST", "/api/v1/batches/spring/stop", ""},
	{"POST", "/api/v1/batches/spring/complete", ""},
	{"POST", "/api/v1/batches/spring/sync-now", ""},
	{"POST", "/api/v1/batches/spring/retry-failed", ""},
	{"POST", "/api/v1/batches/spring/users", `{"csv":"EmailAddress,UserName,Password\nc@x,c,p"}`},
	{"GET", "/api/v1/batches/spring/users", ""},
	{"GET", "/api/v1/batches/spring/report", ""},
	{"GET", "/api/v1/batches/spring/report?format=csv", ""},
	{"GET", "/api/v1/users/alice@example.com", ""},
	{"GET", "/api/v1/no-such-route", ""},
}

func TestRoutesNeedToken(t *testing.T) {
	for _, rt := range allRoutes {
		for _, token := range []string{"", "wrong", testToken + "x", strings.TrimSuffix(testToken, "n")} {
			tb := setup(t)
			w := tb.do(rt.method, rt.path, rt.body, token)
			if w.Code != http.StatusUnauthorized || decodeError(t, w).Error == "" || w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s with token %q = %d %q; want 401 with a JSON error", rt.method, rt.path, token, w.Code, w.Body.String())
			}
		}
		tb := setup(t)
		if w := tb.do(rt.method, rt.path, rt.body); w.Code == http.StatusUnauthorized {
			t.Errorf("%s %s with the token = %d %q", rt.method, rt.path, w.Code, w.Body.String())
		}
	}
	tb := setup(t)
	if w := tb.do("GET", "/api/v1/health", "", ""); w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"status":"ok"}` {
		t.Errorf("GET /api/v1/health without token = %d %q; want 200 {\"status\":\"ok\"}", w.Code, w.Body.String())
	}
}

// TestEmptyTokenLocks checks that a server started without a token does
// not accept an empty one.
func TestEmptyTokenLocks(t *testing.T) {
	h := New(apitest.NewFake(), "", slog.New(slog.DiscardHandler))
	r := httptest.NewRequest("GET", "/api/v1/endpoints", nil)
	r.Header.Set("Authorization", "Bearer ")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/endpoints with an empty token on a server without one = %d; want 401", w.Code)
	}
}

func TestAnswers(t *testing.T) {
	tests := []struct {
		name         string
		method, path string
		body         string
		status       int
		contains     string
	}{
		{"AddEndpoint", "POST", "/api/v1/endpoints", `{"name":"x","host":"imap.example.com","admin_password":"pw"}`, 201, `"has_admin_password":true`},
		{"AddEndpointTwice", "POST", "/api/v1/endpoints", `{"name":"old","host":"h"}`, 409, "already exists"},
		{"UpdateEndpoint", "PUT", "/api/v1/endpoints/old", `{"host":"imap2.example.com"}`, 200, `"host":"imap2.example.com"`},
		{"RemoveEndpoint", "DELETE", "/api/v1/endpoints/old", "", 204, ""},
		{"NoEndpoint", "GET", "/api/v1/endpoints/nope", "", 404, `endpoint \"nope\": not found`},
		{"TestEndpoint", "POST", "/api/v1/endpoints/old/test", `{"user":"alice","password":"pw"}`, 200, `"separator":"/"`},
		{"CreateBatch", "POST", "/api/v1/batches", `{"name":"b2","source_endpoint":"old","destination_endpoint":"new","csv":"EmailAddress,UserName,Password\na@x,a,p"}`, 201, `"state":"Created"`},
		{"DryRun", "POST", "/api/v1/batches", `{"name":"b2","source_endpoint":"old","destination_endpoint":"new","csv":"EmailAddress,UserName,Password\na@x,a,p","dry_run":true}`, 200, `"source_login":"a"`},
		{"RemoveBatch", "DELETE", "/api/v1/batches/spring", "", 202, ""},
		{"StartBatch", "POST", "/api/v1/batches/spring/start", "", 200, `"state":"Syncing"`},
		{"CompleteUnstarted", "POST", "/api/v1/batches/spring/complete", "", 409, "it is Created"},
		{"AddUsers", "POST", "/api/v1/batches/spring/users", `{"csv":"EmailAddress,UserName,Password\nc@x,c,p\nd@x,d,p"}`, 200, `{"added":2}`},
		{"Users", "GET", "/api/v1/batches/spring/users", "", 200, `"email_address":"bob@example.com"`},
		{"UsersOfNoBatch", "GET", "/api/v1/batches/nope/users", "", 404, "not found"},
		{"User", "GET", "/api/v1/users/alice@example.com", "", 200, `"status":"Queued"`},
		{"EscapedName", "GET", "/api/v1/users/alice%40example.com", "", 200, `"email_address":"alice@example.com"`},
		{"EmptyList", "GET", "/api/v1/batches/spring/report?format=json", "", 200, `"batch":"spring"`},
		{"ReportFormat", "GET", "/api/v1/batches/spring/report?format=xml", "", 400, `format \"xml\"`},
		{"MalformedJSON", "POST", "/api/v1/endpoints", `{"name":`, 400, "malformed JSON"},
		{"UnknownField", "POST", "/api/v1/endpoints", `{"name":"x","host":"h","hots":"h"}`, 400, `unknown field \"hots\"`},
		{"TwoValues", "POST", "/api/v1/endpoints", `{"name":"x","host":"h"}{}`, 400, "more than one JSON value"},
		{"EmptyBody", "POST", "/api/v1/endpoints", ``, 400, "empty body"},
		{"TooLarge", "POST", "/api/v1/endpoints", `{"name":"` + strings.Repeat("x", maxBody) + `"}`, 413, "too large"},
		{"CSVUnderLimit", "POST", "/api/v1/batches/spring/users", `{"csv":"EmailAddress,UserName,Password\n` + strings.Repeat(`e@x,e,`+strings.Repeat("p", 120)+`\n`, 10000) + `"}`, 200, `{"added":10000}`},
		{"UnknownRoute", "GET", "/api/v1/nope", "", 404, "no such API route"},
		{"WrongMethod", "PATCH", "/api/v1/batches/spring", "", 404, "no such API route"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := setup(t)
			w := tb.do(tc.method, tc.path, tc.body)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.contains) {
				t.Errorf("%s %s = %d %.300q; want %d and %q", tc.method, tc.path, w.Code, w.Body.String(), tc.status, tc.contains)
			}
			if ct := w.Header().Get("Content-Type"); w.Body.Len() > 0 && ct != "application/json" {
				t.Errorf("%s %s: Content-Type %q; want application/json", tc.method, tc.path, ct)
			}
		})
	}
}

func TestCSVProblemsComeThrough(t *testing.T) {
	tb := setup(t)
	body := `{"name":"b2","source_endpoint":"old","destination_endpoint":"new","csv":"EmailAddress,UserName,Password\nok@x,a,p\nbob@,b,p\ncarol,c,"}`
	w := tb.do("POST", "/api/v1/batches", body)
	eb := decodeError(t, w)
	want := []batch.Problem{
		{Line: 3, Column: "EmailAddress", Message: `"bob@": missing domain`},
		{Line: 4, Column: "EmailAddress", Message: `"carol": missing domain`},
		{Line: 4, Column: "Password", Message: "is empty"},
	}
	if w.Code != 422 || fmt.Sprint(eb.Problems) != fmt.Sprint(want) {
		t.Errorf("POST /api/v1/batches with a bad CSV = %d %+v; want 422 %+v", w.Code, eb.Problems, want)
	}
}

func TestReportCSV(t *testing.T) {
	tb := setup(t)
	synced := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tb.fake.PutUser(service.User{
		Batch: "spring", EmailAddress: "alice@example.com", Status: service.UserSynced,
		ItemsSynced: 120, ItemsSkipped: 2, ItemsFailed: 1, Bytes: 4096, LastSync: &synced, LastError: "-ERR quota",
		Folders: []service.Folder{
			{Source: "INBOX", Status: "synced", SourceCount: 100, DestCount: 100, Copied: 100, Bytes: 3000},
			{Source: "=Projects", Destination: "Projects", Status: "synced", SourceCount: 23, DestCount: 20, Copied: 20, Skipped: map[string]int{"too_large": 2}, Failed: 1, Bytes: 1096},
		},
		SkippedItems: []service.Item{{Folder: "=Projects", UID: 7, Date: synced, Subject: "=HYPERLINK(\"http://evil\")", Size: 40 << 20, Reason: "too_large"}},
		FailedItems:  []service.Item{{Folder: "=Projects", UID: 9, Date: synced, Subject: "@SUM(A1)", Size: 10, Reason: "rejected", Detail: "+NO [TOOBIG]"}},
	})
	w := tb.do("GET", "/api/v1/batches/spring/report?format=csv", "")
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/csv; charset=utf-8" || w.Header().Get("Content-Disposition") != `attachment; filename=spring-report.csv` {
		t.Fatalf("GET report?format=csv = %d %v", w.Code, w.Header())
	}
	records, err := csv.NewReader(w.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		reportColumns,
		{"user", "alice@example.com", "Synced", "", "120", "2", "1", "4096", "2026-03-01T12:00:00Z", "'-ERR quota", "", "", "", "", "", "", "", "", "", ""},
		{"folder", "alice@example.com", "synced", "INBOX", "", "0", "0", "3000", "", "", "100", "100", "", "", "", "", "", "", "", "100"},
		{"folder", "alice@example.com", "synced", "'=Projects", "", "2", "1", "1096", "", "", "23", "20", "", "", "", "", "", "", "Projects", "20"},
		{"skipped", "alice@example.com", "", "'=Projects", "", "", "", "", "", "", "", "", "2026-03-01T12:00:00Z", "'=HYPERLINK(\"http://evil\")", "41943040", "7", "too_large", "", "", ""},
		{"failed", "alice@example.com", "", "'=Projects", "", "", "", "", "", "", "", "", "2026-03-01T12:00:00Z", "'@SUM(A1)", "10", "9", "rejected", "'+NO [TOOBIG]", "", ""},
		{"user", "bob@example.com", "Queued", "", "0", "0", "0", "0", "", "", "", "", "", "", "", "", "", "", "", ""},
	}
	if len(records) != len(want) {
		t.Fatalf("report has %d records; want %d:\n%s", len(records), len(want), w.Body.String())
	}
	for i := range want {
		if strings.Join(records[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("record %d = %q; want %q", i, records[i], want[i])
		}
	}
}

func TestEscapeFormula(t *testing.T) {
	tests := []struct{ in, want string }{
		{"=1+1", "'=1+1"}, {"+1", "'+1"}, {"-1", "'-1"}, {"@x", "'@x"}, {"\tx", "'\tx"}, {"\rx", "'\rx"},
		{"", ""}, {"INBOX", "INBOX"}, {"a=b", "a=b"}, {"'=x", "'=x"},
	}
	for _, tc := range tests {
		if got := escapeFormula(tc.in); got != tc.want {
			t.Errorf("escapeFormula(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// TestNoPasswordInAnswers sends passwords every way the API takes them
// and greps every answer, header and log line for them.
func TestNoPasswordInAnswers(t *testing.T) {
	tb := setup(t)
	passwords := []string{"Adm1n-pässword", "Upd4ted-admin", "T3st-user-pw", "Alic3-csv-pw", "B0b-csv-pw", "Car0l-csv-pw", "Dry-run-pw"}
	requests := []struct{ method, path, body string }{
		{"POST", "/api/v1/endpoints", `{"name":"x","host":"h","admin_user":"admin","admin_password":"Adm1n-pässword"}`},
		{"POST", "/api/v1/endpoints", `{"name":"x","host":"h","admin_password":"Adm1n-pässword"}`},
		{"POST", "/api/v1/endpoints", `{"name":"y","admin_password":"Adm1n-pässword"}`},
		{"POST", "/api/v1/endpoints", `{"name":"y","host":"h","admin_password":"Adm1n-pässword","bogus":1}`},
		{"POST", "/api/v1/endpoints", `{"name":"y","host":"h","admin_password":Adm1n-pässword}`},
		{"PUT", "/api/v1/endpoints/x", `{"host":"h2","admin_password":"Upd4ted-admin"}`},
		{"POST", "/api/v1/endpoints/x/test", `{"user":"alice","password":"T3st-user-pw"}`},
		{"POST", "/api/v1/endpoints/x/test", `{"user":"alice","password":"T3st-user-pw","x":1}`},
		{"POST", "/api/v1/batches", `{"name":"b","source_endpoint":"x","destination_endpoint":"new","csv":"EmailAddress,UserName,Password\nalice@x,alice,Alic3-csv-pw\nbob@x,bob,B0b-csv-pw"}`},
		{"POST", "/api/v1/batches", `{"name":"c","source_endpoint":"x","destination_endpoint":"new","csv":"EmailAddress,UserName,Password\ncarol,carol,Car0l-csv-pw"}`},
		{"POST", "/api/v1/batches", `{"name":"d","source_endpoint":"x","destination_endpoint":"new","dry_run":true,"csv":"EmailAddress,UserName,Password\ndave@x,dave,Dry-run-pw"}`},
		{"POST", "/api/v1/batches/b/users", `{"csv":"EmailAddress,UserName,Password\ncarol@x,carol,Car0l-csv-pw"}`},
		{"GET", "/api/v1/endpoints", ""},
		{"GET", "/api/v1/endpoints/x", ""},
		{"GET", "/api/v1/batches", ""},
		{"GET", "/api/v1/batches/b", ""},
		{"GET", "/api/v1/batches/b/users", ""},
		{"GET", "/api/v1/users/alice@x", ""},
		{"GET", "/api/v1/batches/b/report", ""},
		{"GET", "/api/v1/batches/b/report?format=csv", ""},
	}
	var all strings.Builder
	for _, rq := range requests {
		w := tb.do(rq.method, rq.path, rq.body)
		fmt.Fprintf(&all, "%s %s -> %d %v %s\n", rq.method, rq.path, w.Code, w.Header(), w.Body.String())
	}
	tb.fake.Fail(errors.New("database is locked"))
	for _, rq := range requests {
		w := tb.do(rq.method, rq.path, rq.body)
		fmt.Fprintf(&all, "%s %s -> %d %v %s\n", rq.method, rq.path, w.Code, w.Header(), w.Body.String())
	}
	all.WriteString(tb.logs.String())
	if got := tb.fake.Secrets(); len(got) < len(passwords) {
		t.Fatalf("the service got passwords %q; want all of %q", got, passwords)
	}
	for _, pw := range passwords {
		if strings.Contains(all.String(), pw) {
			t.Errorf("password %q appears in an answer or a log line:\n%s", pw, all.String())
		}
	}
}
