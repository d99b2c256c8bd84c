package web

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestRoutesNeedSession walks the route list itself, so that a route added
// later is covered: without a session, pages and actions redirect to the
// sign-in page, data routes answer 401, and nothing changes.
func TestRoutesNeedSession(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	for _, rt := range tb.h.routes() {
		if rt.access == open {
			continue
		}
		for _, cookie := range []string{"", "forged-session-id"} {
			name := rt.pattern
			if cookie != "" {
				name += " forged"
			}
			t.Run(name, func(t *testing.T) {
				before := tb.snapshot(t)
				method, path := examplePath(rt.pattern)
				c := tb.anonymous(t)
				if cookie != "" {
					c.cookie = &http.Cookie{Name: sessionCookie, Value: cookie}
				}
				var w *httptest.ResponseRecorder
				if method == "POST" {
					// A complete form, as a stolen page would post it.
					w = c.post(path, url.Values{"csrf": {"x"}, "name": {"x"}, "host": {"h"}, "user": {"u"}, "password": {"p"}})
				} else {
					w = c.get(path)
				}
				switch rt.access {
				case data:
					if w.Code != http.StatusUnauthorized {
						t.Errorf("%s %s without a session = %d; want 401", method, path, w.Code)
					}
				default:
					if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
						t.Errorf("%s %s without a session = %d %q; want 303 to /login", method, path, w.Code, loc)
					}
				}
				if strings.Contains(w.Body.String(), "alice@example.com") {
					t.Errorf("%s %s without a session shows a user: %s", method, path, w.Body)
				}
				if after := tb.snapshot(t); after != before {
					t.Errorf("%s %s without a session changed the service:\n%s\nto\n%s", method, path, before, after)
				}
			})
		}
	}
}

func TestRedirectComesBack(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	w := tb.anonymous(t).get("/batches/spring?status=Failed")
	if got, want := w.Header().Get("Location"), "/login?next="+url.QueryEscape("/batches/spring?status=Failed"); got != want {
		t.Fatalf("GET /batches/spring without a session redirects to %q; want %q", got, want)
	}
	c := tb.anonymous(t)
	w = c.post("/login", url.Values{"password": {testPassword}, "next": {"/batches/spring?status=Failed"}})
	if got := w.Header().Get("Location"); got != "/batches/spring?status=Failed" {
		t.Errorf("sign-in with next redirects to %q; want the page asked for", got)
	}
	w = c.post("/login", url.Values{"password": {testPassword}, "next": {"//evil.example.com/"}})
	if got := w.Header().Get("Location"); got != "/batches" {
		t.Errorf("sign-in with next=//evil.example.com/ redirects to %q; want /batches", got)
	}
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"/batches/x", "/batches/x"},
		{"/batches?status=Failed", "/batches?status=Failed"},
		{"", "/fallback"},
		{"batches", "/fallback"},
		{"//evil.example.com", "/fallback"},
		{"/\\evil.example.com", "/fallback"},
		{"https://evil.example.com/", "/fallback"},
		{"/x\r\nSet-Cookie: a=b", "/fallback"},
	}
	for _, tc := range tests {
		if got := localPath(tc.in, "/fallback"); got != tc.want {
			t.Errorf("localPath(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// TestCSRF posts to every state-changing route with a session but without
// the token, or with a wrong one: 403, and nothing changes.
func TestCSRF(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.signIn(t)
	for _, rt := range tb.h.routes() {
		method, path := examplePath(rt.pattern)
		if rt.access == open || method != "POST" {
			continue
		}
		for _, token := range []string{"", "wrong-token"} {
			t.Run(rt.pattern+"/"+token, func(t *testing.T) {
				before := tb.snapshot(t)
				w := c.post(path, url.Values{"csrf": {token}, "name": {"x"}, "host": {"h"}, "user": {"u"}, "password": {"p"}})
				if w.Code != http.StatusForbidden {
					t.Errorf("POST %s with CSRF token %q = %d; want 403", path, token, w.Code)
				}
				if after := tb.snapshot(t); after != before {
					t.Errorf("POST %s with CSRF token %q changed the service:\n%s\nto\n%s", path, token, before, after)
				}
			})
		}
	}
	// Signing out without the token did not sign out.
	if w := c.get("/batches"); w.Code != http.StatusOK {
		t.Errorf("GET /batches after the refused sign-outs = %d; want 200", w.Code)
	}

	t.Run("Header", func(t *testing.T) {
		w := c.do("POST", "/batches/spring/start", "", nil)
		if w.Code != http.StatusForbidden {
			t.Fatalf("POST without token = %d; want 403", w.Code)
		}
		r := httptest.NewRequest("POST", "/batches/spring/start", nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.cookie.Value})
		r.Header.Set("X-CSRF-Token", c.csrf)
		rec := httptest.NewRecorder()
		tb.handler.ServeHTTP(rec, r)
		if rec.Code != http.StatusSeeOther || tb.batchState(t, "spring") != "Syncing" {
			t.Errorf("POST with X-CSRF-Token = %d, batch %s; want 303 and Syncing", rec.Code, tb.batchState(t, "spring"))
		}
	})

	t.Run("OtherSessionsToken", func(t *testing.T) {
		other := tb.signIn(t)
		w := c.post("/batches/spring/stop", url.Values{"csrf": {other.csrf}})
		if w.Code != http.StatusForbidden {
			t.Errorf("POST with another session's CSRF token = %d; want 403", w.Code)
		}
	})

	t.Run("CrossSite", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/batches/spring/stop", strings.NewReader(url.Values{"csrf": {c.csrf}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.cookie.Value})
		rec := httptest.NewRecorder()
		tb.handler.ServeHTTP(rec, r)
		if rec.Code != http.StatusForbidden {
			t.Errorf("cross-site POST with a valid token = %d; want 403", rec.Code)
		}
	})
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		password string
		noFile   bool // no admin password set
		ok       bool
	}{
		{"Password", testPassword, false, true},
		{"Token", testToken, false, true},
		{"TokenPasted", "  " + testToken + "\n", false, true},
		{"Wrong", "wrong password!", false, false},
		{"Empty", "", false, false},
		{"PasswordWithSpace", testPassword + " ", false, false},
		{"PasswordPrefix", testPassword[:12], false, false},
		{"TokenWithoutFile", testToken, true, true},
		{"PasswordWithoutFile", testPassword, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t)
			if tc.noFile {
				os.Remove(tb.pwFile)
			}
			c := tb.anonymous(t)
			w := c.post("/login", url.Values{"password": {tc.password}})
			var cookie *http.Cookie
			for _, ck := range w.Result().Cookies() {
				if ck.Name == sessionCookie {
					cookie = ck
				}
			}
			if tc.ok {
				if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/batches" || cookie == nil {
					t.Fatalf("sign-in = %d to %q, cookie %v; want 303 to /batches with a session", w.Code, w.Header().Get("Location"), cookie)
				}
				c.cookie = cookie
				if w := c.get("/batches"); w.Code != http.StatusOK {
					t.Errorf("GET /batches after sign-in = %d; want 200", w.Code)
				}
				return
			}
			if w.Code != http.StatusUnauthorized || cookie != nil || !strings.Contains(w.Body.String(), `id="login-error"`) {
				t.Errorf("sign-in with %q = %d, cookie %v; want 401 with #login-error and no session", tc.password, w.Code, cookie)
			}
			if tc.password != "" && strings.Contains(w.Body.String(), tc.password) {
				t.Errorf("the sign-in page shows the password typed")
			}
		})
	}
}

func TestSignInIsSlowAfterFailure(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.h.failDelay = 200 * time.Millisecond
	start := time.Now()
	tb.anonymous(t).post("/login", url.Values{"password": {"nope"}})
	if d := time.Since(start); d < tb.h.failDelay {
		t.Errorf("failed sign-in answered after %v; want at least %v", d, tb.h.failDelay)
	}
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tls    bool
		proto  string
		secure bool
	}{
		{"HTTP", false, "", false},
		{"TLS", true, "", true},
		{"Proxy", false, "https", true},
		{"ProxyHTTP", false, "http", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t)
			r := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"password": {testPassword}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tc.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			w := httptest.NewRecorder()
			tb.handler.ServeHTTP(w, r)
			cookies := w.Result().Cookies()
			if len(cookies) != 1 {
				t.Fatalf("sign-in set %d cookies; want 1", len(cookies))
			}
			ck := cookies[0]
			if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Secure != tc.secure ||
				ck.MaxAge != int((12*time.Hour)/time.Second) || len(ck.Value) < 43 {
				t.Errorf("session cookie = %+v; want HttpOnly, SameSite=Strict, Path=/, Secure=%v, 12 h, 32 random bytes", ck, tc.secure)
			}
		})
	}
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.signIn(t)
	w := c.post("/logout", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Fatalf("POST /logout = %d to %q; want 303 to /login", w.Code, w.Header().Get("Location"))
	}
	if w := c.get("/batches"); w.Code != http.StatusSeeOther {
		t.Errorf("GET /batches with the signed-out session = %d; want 303 to /login", w.Code)
	}
	if w := c.post("/batches/spring/start", nil); w.Code != http.StatusSeeOther || tb.batchState(t, "spring") != "Created" {
		t.Errorf("POST with the signed-out session = %d, batch %s; want 303 and no change", w.Code, tb.batchState(t, "spring"))
	}
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	now := time.Now()
	tb.h.sessions.now = func() time.Time { return now }
	c := tb.signIn(t)
	now = now.Add(12*time.Hour - time.Second)
	if w := c.get("/batches"); w.Code != http.StatusOK {
		t.Fatalf("GET /batches 12 h less a second after sign-in = %d; want 200", w.Code)
	}
	now = now.Add(time.Second)
	if w := c.get("/batches"); w.Code != http.StatusSeeOther {
		t.Errorf("GET /batches 12 h after sign-in = %d; want 303 to /login", w.Code)
	}
}

func TestSignInReplacesSession(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	c := tb.signIn(t)
	old := c.cookie.Value
	w := c.post("/login", url.Values{"password": {testPassword}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("second sign-in = %d; want 303", w.Code)
	}
	c.cookie = &http.Cookie{Name: sessionCookie, Value: old}
	if w := c.get("/batches"); w.Code != http.StatusSeeOther {
		t.Errorf("the session before a new sign-in still works (%d); want it dropped", w.Code)
	}
}

func TestSetPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		password string
		ok       bool
	}{
		{"Twelve", "abcdefghijkl", true},
		{"Eleven", "abcdefghijk", false},
		{"TwelveRunes", "pässwörd-ünï", true},
		{"Empty", "", false},
		{"Max", strings.Repeat("x", 72), true},
		{"TooLong", strings.Repeat("x", 73), false},
		{"TwoLines", "abcdefghijkl\nmnop", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "sub", PasswordFileName)
			err := SetPassword(path, tc.password)
			if !tc.ok {
				if !errors.Is(err, ErrWeakPassword) {
					t.Errorf("SetPassword(%q) = %v; want ErrWeakPassword", tc.password, err)
				}
				if _, err := os.Stat(path); err == nil {
					t.Errorf("SetPassword(%q) refused the password but wrote the file", tc.password)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetPassword(%q) = %v", tc.password, err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("password file mode = %v; want 0600", fi.Mode().Perm())
			}
			b, _ := os.ReadFile(path)
			if strings.Contains(string(b), tc.password) {
				t.Errorf("password file holds the password itself")
			}
			if err := bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(string(b))), []byte(tc.password)); err != nil {
				t.Errorf("password file does not verify the password: %v", err)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("SetPassword left %d files in the directory; want the password file alone", len(entries))
			}
		})
	}
}

// TestNewPasswordAtOnce: serve reads the file at each sign-in.
func TestNewPasswordAtOnce(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	if err := SetPassword(tb.pwFile, "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if w := tb.anonymous(t).post("/login", url.Values{"password": {"a brand new password"}}); w.Code != http.StatusSeeOther {
		t.Errorf("sign-in with the new password = %d; want 303", w.Code)
	}
	if w := tb.anonymous(t).post("/login", url.Values{"password": {testPassword}}); w.Code != http.StatusUnauthorized {
		t.Errorf("sign-in with the old password = %d; want 401", w.Code)
	}
}

func TestStaticIsOpen(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	for _, tc := range []struct{ path, ctype string }{
		{"/static/console.css", "text/css; charset=utf-8"},
		{"/static/console.js", "text/javascript; charset=utf-8"},
	} {
		w := tb.anonymous(t).get(tc.path)
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != tc.ctype || w.Body.Len() == 0 {
			t.Errorf("GET %s = %d %q (%d bytes); want 200 %q", tc.path, w.Code, w.Header().Get("Content-Type"), w.Body.Len(), tc.ctype)
		}
		r := httptest.NewRequest("GET", tc.path, nil)
		r.Header.Set("If-None-Match", w.Header().Get("ETag"))
		rec := httptest.NewRecorder()
		tb.handler.ServeHTTP(rec, r)
		if rec.Code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag = %d; want 304", tc.path, rec.Code)
		}
	}
	if w := tb.anonymous(t).get("/static/nope.js"); w.Code != http.StatusNotFound {
		t.Errorf("GET /static/nope.js = %d; want 404", w.Code)
	}
}
