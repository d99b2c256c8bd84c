package service_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
	"github.com/imapmigrate/imapmigrate/internal/web"
)

// TestSecretsNeverLeakTraced runs a whole batch the way an admin would,
// over HTTP, with the service at its most verbose (log level trace: debug
// and the IMAP transcript of every connection): a bad CSV file, a user
// with a wrong password that fails, its retry that fails again, an
// incremental sync, endpoint tests with a right and a wrong password, an
// endpoint added and changed with an admin password, the console signed
// into (wrongly, then rightly) and every page read, the reports in CSV and
// JSON, the metrics. Then every password of the CSV file, every endpoint
// admin password, the console password and the admin token are looked
// for, in plain and in base64 at any offset (which covers SASL PLAIN's
// "\0user\0pass"), in everything the service wrote: its log, every HTTP
// answer, every text column of every table (River's job rows included),
// and the raw bytes of the database file, its WAL and shared memory, as a
// copy taken without the key would hold them.
func TestSecretsNeverLeakTraced(t *testing.T) {
	t.Parallel()
	const (
		userCanary     = "Pw-Trace-Canary-1" // every source password begins so
		adminCanary    = "Admin-Trace-Canary-2"
		endpointPW     = "Endpoint-Trace-Canary-3"
		endpointNewPW  = "Endpoint-Trace-Canary-4"
		testWrongPW    = "Test-Trace-Canary-5"
		consolePW      = "Console-Trace-Canary-6"
		consoleWrongPW = "Console-Trace-Canary-7"
		token          = "Token-Trace-Canary-8-0123456789"
		oauthSecret    = "OAuth-Client-Secret-Canary-9"
		refreshTest    = "Refresh-Token-Canary-10"
		refreshCSV     = "Refresh-Token-Canary-11"
		oauthApp       = "leak-test-app"
	)
	// The destination also takes OAuth tokens, from auth: endpoints that
	// log in with them get real tokens, sent in traced logins.
	auth := testserver.StartOAuthServer(t, testserver.OAuthServerConfig{})
	auth.AddClient(oauthApp, oauthSecret)
	auth.AddRefreshToken(refreshTest, oauthApp, "u01@example.com")
	b := setup(t, setupOpts{users: 3, workers: 3, messagesBase: 2, passwordPrefix: userCanary + "-",
		adminPassword: adminCanary, trace: true,
		dstOAuth: testserver.DovecotOAuth2{IntrospectionURL: auth.IntrospectionURL, DomainWide: true}})
	log := slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: service.LevelTrace}))
	pwFile := filepath.Join(t.TempDir(), web.PasswordFileName)
	if err := web.SetPassword(pwFile, consolePW); err != nil {
		t.Fatal(err)
	}
	console, err := web.New(web.Config{Service: b.svc, Token: token, PasswordFile: pwFile, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", api.New(b.svc, token, log))
	mux.Handle("/", console)
	mux.Handle("GET /metrics", promhttp.HandlerFor(b.metrics, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	h := &httpLog{t: t, base: srv.URL, token: token}

	// The API, as the CLI uses it.
	dstHost, dstPort, _ := net.SplitHostPort(b.dst.Addr)
	port, _ := strconv.Atoi(dstPort)
	ep := map[string]any{"name": "third", "host": dstHost, "port": port, "security": "none", "credentials": "admin",
		"admin_format": "authzid", "admin_user": "admin", "admin_password": endpointPW}
	h.api("POST", "/api/v1/endpoints", ep, http.StatusCreated)
	ep["admin_password"] = endpointNewPW
	h.api("PUT", "/api/v1/endpoints/third", ep, http.StatusOK)
	h.api("POST", "/api/v1/endpoints/src/test", map[string]string{"user": "u01", "password": testWrongPW}, http.StatusBadGateway)
	h.api("POST", "/api/v1/endpoints/src/test", map[string]string{"user": "u01", "password": b.password["u01"]}, http.StatusOK)
	// Its admin password is not the server's: one more refused login.
	h.api("POST", "/api/v1/endpoints/third/test", map[string]string{"user": "u01@example.com"}, http.StatusBadGateway)
	// OAuth endpoints: an app's client secret, a test with an app-only
	// token and one with a user's refresh token, and a CSV with refresh
	// tokens (a batch never started).
	o365 := map[string]any{"name": "o365", "host": dstHost, "port": port, "security": "none", "profile": "office365",
		"oauth": map[string]any{"provider": "microsoft", "client_id": oauthApp, "token_url": auth.TokenURL}, "oauth_client_secret": oauthSecret}
	h.api("POST", "/api/v1/endpoints", o365, http.StatusCreated)
	delete(o365, "oauth_client_secret")
	h.api("PUT", "/api/v1/endpoints/o365", o365, http.StatusOK)
	h.api("POST", "/api/v1/endpoints/o365/test", map[string]string{"user": "u01@example.com"}, http.StatusOK)
	h.api("POST", "/api/v1/endpoints", map[string]any{"name": "consumer", "host": dstHost, "port": port, "security": "none",
		"oauth": map[string]any{"provider": "refresh", "client_id": oauthApp, "token_url": auth.TokenURL}, "oauth_client_secret": oauthSecret},
		http.StatusCreated)
	h.api("POST", "/api/v1/endpoints/consumer/test", map[string]string{"user": "u01@example.com", "password": refreshTest}, http.StatusOK)
	h.api("POST", "/api/v1/batches", map[string]any{"name": "b2", "source_endpoint": "src", "destination_endpoint": "consumer",
		"csv": "EmailAddress,UserName,Password,DestinationRefreshToken\nx1@example.com,u01," + b.password["u01"] + "," + refreshCSV + "\n"},
		http.StatusCreated)
	h.api("POST", "/api/v1/batches", map[string]any{"name": "bad", "source_endpoint": "src", "destination_endpoint": "dst",
		"csv": "EmailAddress,UserName,Password\nbob@,bob," + userCanary + "-bad\ncarol@example.com,carol," + userCanary + ",split\n"},
		http.StatusUnprocessableEntity)
	h.api("POST", "/api/v1/batches", map[string]any{"name": "b1", "source_endpoint": "src", "destination_endpoint": "dst",
		"csv": b.csv(1, 3, map[int]bool{2: true}), "start": true}, http.StatusCreated)
	b.waitBatch("b1", time.Minute, service.BatchSyncedWithErrors)

	// The failed user is retried, and fails again; the others sync again.
	first := b.user("u01")
	h.api("POST", "/api/v1/batches/b1/retry-failed", nil, http.StatusOK)
	h.api("POST", "/api/v1/batches/b1/sync-now", nil, http.StatusOK)
	b.waitNextSync("u01", first, time.Minute)
	deadline := time.Now().Add(time.Minute)
	for strings.Count(b.logs.String(), "User failed validation.") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("u02 was not retried:\n%s", b.logs.tail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.waitBatch("b1", time.Minute, service.BatchSyncedWithErrors)
	if u := b.user("u02"); u.Status != service.UserFailed || !strings.Contains(u.LastError, "refused the login of u02") {
		t.Errorf("u02 with a wrong password, retried: %s, %q; want Failed, naming the refused login", u.Status, u.LastError)
	}

	for _, path := range []string{"/api/v1/endpoints", "/api/v1/endpoints/src", "/api/v1/endpoints/dst", "/api/v1/endpoints/third",
		"/api/v1/endpoints/o365", "/api/v1/endpoints/consumer", "/api/v1/batches/b2/users",
		"/api/v1/batches", "/api/v1/batches/b1", "/api/v1/batches/b1/users", "/api/v1/batches/b1/report",
		"/api/v1/batches/b1/report?format=csv", "/api/v1/users/u01@example.com", "/api/v1/users/u02@example.com",
		"/api/v1/users/u03@example.com", "/api/v1/health"} {
		h.api("GET", path, nil, http.StatusOK)
	}
	if m := h.get("/metrics", http.StatusOK); !strings.Contains(m, "imapmigrate_messages_copied_total") {
		t.Errorf("/metrics has no imapmigrate_messages_copied_total:\n%.500s", m)
	}

	// The console: a wrong password, then the right one, then every page.
	h.form("/login", url.Values{"password": {consoleWrongPW}}, http.StatusUnauthorized)
	h.form("/login", url.Values{"password": {consolePW}}, http.StatusOK)
	page := h.get("/batches", http.StatusOK)
	m := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the console's /batches has no CSRF token:\n%s", page)
	}
	h.form("/endpoints/src/test", url.Values{"csrf": {m[1]}, "user": {"u01"}, "password": {testWrongPW}}, http.StatusBadGateway)
	for _, path := range []string{"/", "/batches/b1", "/batches/new", "/users/u01@example.com", "/users/u02@example.com",
		"/endpoints", "/endpoints/third/edit", "/endpoints/o365/edit", "/batches/b1/report.csv", "/batches/b1/report.json", "/ui/batches.json",
		"/ui/batches/b1/users.json"} {
		h.get(path, http.StatusOK)
	}

	// The transcript was on, with the logins in it, redacted.
	logs := b.logs.String()
	for _, side := range []string{"source", "destination", `"endpoint test"`} {
		login := regexp.MustCompile(`level=DEBUG-4 msg=IMAP [^\n]*side=` + side + ` line="C: \S+ AUTHENTICATE PLAIN \*\*\*"`)
		if !login.MatchString(logs) {
			t.Errorf("the trace-level log has no redacted login on the %s side: the transcript was not on, and the test proves less", side)
		}
	}
	if !regexp.MustCompile(`line="C: \S+ AUTHENTICATE OAUTHBEARER \*\*\*"`).MatchString(logs) {
		t.Errorf("the trace-level log has no redacted OAUTHBEARER login: the tokens were not traced, and the test proves less")
	}

	plain := []string{userCanary, adminCanary, endpointPW, endpointNewPW, testWrongPW, consolePW, consoleWrongPW, token,
		oauthSecret, refreshTest, refreshCSV}
	issued := auth.Issued()
	if len(issued) < 2 {
		t.Errorf("%d OAuth tokens issued; want the app's and the refresh token's at least", len(issued))
	}
	for _, it := range issued {
		plain = append(plain, it.Token)
	}
	canaries := plain
	for _, c := range plain {
		canaries = append(canaries, base64Cores(c)...)
	}
	noCanary(t, "the service's log", []byte(logs), canaries)
	for _, a := range h.answers {
		noCanary(t, a.what, []byte(a.body), canaries)
	}
	noCanary(t, "the database's text", []byte(dumpDatabase(t, b.db.SQL())), canaries)
	for _, f := range []string{b.dsn, b.dsn + "-wal", b.dsn + "-shm"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		noCanary(t, f, data, canaries)
	}
	t.Logf("looked for %d canaries in %d KiB of log, %d HTTP answers and the database", len(canaries), len(logs)>>10, len(h.answers))
}

// httpLog is an HTTP client for the API (with the admin token) and the
// console (with its session cookie) that keeps every answer.
type httpLog struct {
	t       *testing.T
	base    string
	token   string
	jar     http.CookieJar
	answers []struct{ what, body string }
}

func (h *httpLog) do(req *http.Request, want int) string {
	h.t.Helper()
	if h.jar == nil {
		h.jar, _ = cookiejar.New(nil)
	}
	// Redirects are followed, so a sign-in or a form ends on its page.
	resp, err := (&http.Client{Jar: h.jar}).Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	what := req.Method + " " + req.URL.RequestURI()
	if resp.StatusCode != want {
		h.t.Errorf("%s = %d; want %d\n%.800s", what, resp.StatusCode, want, body)
	}
	h.answers = append(h.answers, struct{ what, body string }{what, string(body)})
	return string(body)
}

// api sends v as JSON with the admin token.
func (h *httpLog) api(method, path string, v any, want int) string {
	h.t.Helper()
	var body io.Reader
	if v != nil {
		data, err := json.Marshal(v)
		if err != nil {
			h.t.Fatal(err)
		}
		body = strings.NewReader(string(data))
	}
	req, err := http.NewRequest(method, h.base+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/json")
	return h.do(req, want)
}

func (h *httpLog) get(path string, want int) string {
	h.t.Helper()
	req, err := http.NewRequest("GET", h.base+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req, want)
}

// form posts a console form.
func (h *httpLog) form(path string, form url.Values, want int) string {
	h.t.Helper()
	req, err := http.NewRequest("POST", h.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(req, want)
}

// dumpDatabase returns every value of every table of the SQLite
// database as text, one row a line: the service's tables (sealed
// passwords included: they must be ciphertext), the engine's, and River's
// job rows with their args, errors and metadata.
func dumpDatabase(t *testing.T, db *sql.DB) string {
	t.Helper()
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if !strings.Contains(strings.Join(tables, " "), "river_job") || len(tables) < 8 {
		t.Fatalf("tables %v: want the service's, the engine's and River's", tables)
	}
	var sb strings.Builder
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			sb.WriteString(table)
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				fmt.Fprintf(&sb, " %s=%v", cols[i], v)
			}
			sb.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return sb.String()
}
