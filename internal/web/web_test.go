package web

import (
	"bytes"
	"context"
	"html"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/api/apitest"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// Secrets the tests give the console; no answer may contain one.
const (
	testToken      = "test-admin-token-0123456789abcdef"
	testPassword   = "correct horse battery staple"
	canaryAdminPW  = "canary-admin-pw-7f3a"
	canaryAlicePW  = "canary-alice-pw-91bd"
	canaryBobPW    = "canary-bob-pw-4c2e"
	springCSV      = "EmailAddress,UserName,Password\nalice@example.com,alice," + canaryAlicePW + "\nbob@example.com,bob," + canaryBobPW + "\n"
	csrfFieldRegex = `name="csrf-token" content="([^"]+)"`
)

type testBundle struct {
	svc     api.Service // what the console calls: fake, or a wrapper of it
	fake    *apitest.Fake
	h       *handler
	handler http.Handler
	logs    *bytes.Buffer
	pwFile  string
}

// setup returns a console over a fake service holding a per-user endpoint
// "old", an admin endpoint "new" (admin password canaryAdminPW) and a batch
// "spring" of alice and bob, with the admin password testPassword set.
// wrap, when given, puts a wrapper between the console and the fake.
func setup(t *testing.T, wrap ...func(*apitest.Fake) api.Service) *testBundle {
	t.Helper()
	ctx := context.Background()
	fake := apitest.NewFake()
	eps := []service.EndpointSpec{
		{Endpoint: service.Endpoint{Name: "old", Host: "old.example.com", Port: 993, Security: "tls", Credentials: "per_user"}},
		{Endpoint: service.Endpoint{Name: "new", Host: "new.example.com", Port: 993, Security: "tls", Credentials: "admin",
			AdminFormat: "dovecot", AdminUser: "migrator"}, AdminPassword: canaryAdminPW},
	}
	for _, spec := range eps {
		if _, err := fake.AddEndpoint(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := fake.CreateBatch(ctx, service.BatchSpec{Name: "spring", SourceEndpoint: "old", DestEndpoint: "new", CSV: springCSV}); err != nil {
		t.Fatal(err)
	}
	tb := &testBundle{svc: fake, fake: fake, logs: &bytes.Buffer{}, pwFile: filepath.Join(t.TempDir(), PasswordFileName)}
	if len(wrap) > 0 {
		tb.svc = wrap[0](fake)
	}
	if err := os.WriteFile(tb.pwFile, testHash(t), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := newHandler(Config{Service: tb.svc, Token: testToken, PasswordFile: tb.pwFile,
		Logger: slog.New(slog.NewTextHandler(tb.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h.failDelay = 0
	tb.h, tb.handler = h, h.mux()
	return tb
}

var testHashOnce = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "web-test-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, PasswordFileName)
	if err := SetPassword(path, testPassword); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
})

// testHash is the password file for testPassword, made once: bcrypt is
// meant to be slow, and slower still under the race detector.
func testHash(t *testing.T) []byte {
	t.Helper()
	b, err := testHashOnce()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// client is a browser: it keeps the session cookie and the CSRF token.
type client struct {
	t      *testing.T
	tb     *testBundle
	cookie *http.Cookie
	csrf   string
}

// anonymous is a browser that has not signed in.
func (tb *testBundle) anonymous(t *testing.T) *client { return &client{t: t, tb: tb} }

// signIn signs in with the token and reads the CSRF token from a page, as
// console.js does.
func (tb *testBundle) signIn(t *testing.T) *client {
	t.Helper()
	c := tb.anonymous(t)
	w := c.do("POST", "/login", "application/x-www-form-urlencoded", strings.NewReader(url.Values{"password": {testToken}}.Encode()))
	if w.Code != http.StatusSeeOther {
		t.Fatalf("POST /login with the token = %d; want 303\n%s", w.Code, w.Body)
	}
	for _, ck := range w.Result().Cookies() {
		if ck.Name == sessionCookie {
			c.cookie = ck
		}
	}
	if c.cookie == nil {
		t.Fatal("POST /login set no session cookie")
	}
	page := c.get("/batches")
	m := regexp.MustCompile(csrfFieldRegex).FindStringSubmatch(page.Body.String())
	if m == nil {
		t.Fatalf("GET /batches has no csrf-token meta tag:\n%s", page.Body)
	}
	c.csrf = m[1]
	return c
}

func (c *client) do(method, path, ctype string, body *strings.Reader) *httptest.ResponseRecorder {
	c.t.Helper()
	var r *http.Request
	if body != nil {
		r = httptest.NewRequest(method, path, body)
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if c.cookie != nil {
		r.AddCookie(&http.Cookie{Name: c.cookie.Name, Value: c.cookie.Value})
	}
	w := httptest.NewRecorder()
	c.tb.handler.ServeHTTP(w, r)
	return w
}

func (c *client) get(path string) *httptest.ResponseRecorder { return c.do("GET", path, "", nil) }

// post sends a form with the session's CSRF token (unless form has a
// "csrf" field already).
func (c *client) post(path string, form url.Values) *httptest.ResponseRecorder {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && c.csrf != "" {
		form.Set("csrf", c.csrf)
	}
	return c.do("POST", path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}

// upload sends a multipart form with a file field "csv" (when csv is not
// nil) and the CSRF token.
func (c *client) upload(path string, form url.Values, csv *string) *httptest.ResponseRecorder {
	c.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("csrf", c.csrf)
	for k, vs := range form {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	if csv != nil {
		fw, _ := mw.CreateFormFile("csv", "users.csv")
		fw.Write([]byte(*csv))
	} else {
		// What a browser sends for a file input left empty.
		fw, _ := mw.CreateFormFile("csv", "")
		fw.Write(nil)
	}
	mw.Close()
	return c.do("POST", path, mw.FormDataContentType(), strings.NewReader(b.String()))
}

// flash follows a redirect and returns the text of #flash on that page.
func (c *client) follow(w *httptest.ResponseRecorder) (*httptest.ResponseRecorder, string) {
	c.t.Helper()
	if w.Code != http.StatusSeeOther {
		c.t.Fatalf("answer = %d; want 303\n%s", w.Code, w.Body)
	}
	page := c.get(w.Header().Get("Location"))
	m := regexp.MustCompile(`<p id="flash"[^>]*>([^<]*)</p>`).FindStringSubmatch(page.Body.String())
	if m == nil {
		return page, ""
	}
	return page, html.UnescapeString(m[1])
}

func ptr[T any](v T) *T { return &v }

func (tb *testBundle) batchState(t *testing.T, name string) string {
	t.Helper()
	b, err := tb.fake.Batch(context.Background(), name)
	if err != nil {
		return "(none: " + err.Error() + ")"
	}
	return b.State
}

// snapshot is what the state-changing routes could change.
func (tb *testBundle) snapshot(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	bs, _ := tb.fake.Batches(ctx)
	for _, x := range bs {
		b.WriteString(x.Name + ":" + x.State + ";")
		us, _ := tb.fake.Users(ctx, x.Name)
		for _, u := range us {
			b.WriteString(u.EmailAddress + ",")
		}
	}
	eps, _ := tb.fake.Endpoints(ctx)
	for _, e := range eps {
		b.WriteString(e.Name + ":" + e.Host + ":" + e.Security + ";")
	}
	return b.String()
}

// examplePath fills a route pattern's wildcards with things that exist.
func examplePath(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "GET", pattern
	}
	r := strings.NewReplacer("{name}", "spring", "{action}", "complete", "{email}", "alice@example.com",
		"{file}", "console.css", "{$}", "")
	path = r.Replace(path)
	if pattern == "/" {
		path = "/nowhere"
	}
	if strings.HasPrefix(pattern, "POST /endpoints/{name}") {
		path = strings.Replace(path, "spring", "old", 1)
	}
	if strings.HasPrefix(pattern, "GET /endpoints/{name}") {
		path = strings.Replace(path, "spring", "old", 1)
	}
	return method, path
}
