package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// PasswordFileName is the admin password file in the data directory.
const PasswordFileName = "admin.password"

// Password rules. bcrypt reads only the first 72 bytes, so a longer
// password would be silently cut; it is refused instead.
const (
	MinPasswordLength = 12
	maxPasswordBytes  = 72
)

// ErrWeakPassword is returned by SetPassword for a password that breaks
// the rules above.
var ErrWeakPassword = errors.New("password refused")

// SetPassword writes the bcrypt hash of password to path (mode 0600,
// replacing the file atomically, so that a sign-in never reads half a
// hash). The console reads the file at each sign-in: no restart is needed.
func SetPassword(path, password string) error {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordLength:
		return fmt.Errorf("%w: shorter than %d characters", ErrWeakPassword, MinPasswordLength)
	case len(password) > maxPasswordBytes:
		return fmt.Errorf("%w: longer than %d bytes (bcrypt ignores the rest)", ErrWeakPassword, maxPasswordBytes)
	case strings.ContainsAny(password, "\r\n"):
		return fmt.Errorf("%w: more than one line", ErrWeakPassword)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("hash admin password: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write admin password: %w", err)
	}
	f, err := os.CreateTemp(dir, ".admin.password-*")
	if err != nil {
		return fmt.Errorf("write admin password: %w", err)
	}
	tmp := f.Name()
	// CreateTemp makes the file 0600 already; Chmod says so for readers.
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(append(hash, '\n'))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write admin password %s: %w", path, err)
	}
	return nil
}

// checkSecret tells whether secret is the admin token or the admin
// password, and which.
func (h *handler) checkSecret(secret string) (how string, ok bool) {
	if secret == "" {
		return "", false
	}
	// Hashing both sides first gives equal lengths, so not even the
	// token's length leaks through the comparison's time.
	got := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	if !h.noToken && subtle.ConstantTimeCompare(got[:], h.tokenHash[:]) == 1 {
		return "token", true
	}
	if h.passwordFile == "" {
		return "", false
	}
	hash, err := os.ReadFile(h.passwordFile)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			h.log.Error("Cannot read the admin password file; only the token signs in.", "err", err)
		}
		return "", false
	}
	if bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(string(hash))), []byte(secret)) != nil {
		return "", false
	}
	return "password", true
}

type loginData struct {
	Next  string
	Error string
}

func (h *handler) loginPage(c *call) error {
	next := localPath(c.r.URL.Query().Get("next"), "/batches")
	if h.sessions.get(c.r) != nil {
		return c.redirect(next)
	}
	h.render(c, http.StatusOK, "login", view{Title: "Sign in", Data: loginData{Next: next}})
	return nil
}

func (h *handler) login(c *call) error {
	next := localPath(c.form.Get("next"), "/batches")
	how, ok := h.checkSecret(c.form.Get("password"))
	if !ok {
		h.log.WarnContext(c.r.Context(), "Console sign-in failed.", "remote", c.r.RemoteAddr)
		select {
		case <-time.After(h.failDelay):
		case <-c.r.Context().Done():
		}
		h.render(c, http.StatusUnauthorized, "login", view{Title: "Sign in",
			Data: loginData{Next: next, Error: "Wrong password or token."}})
		return nil
	}
	// A new session at every sign-in: a session id planted in the browser
	// beforehand (session fixation) never gets signed in.
	if old := h.sessions.get(c.r); old != nil {
		h.sessions.remove(old.id)
	}
	s := h.sessions.create()
	http.SetCookie(c.w, &http.Cookie{
		Name: sessionCookie, Value: s.id, Path: "/", MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, Secure: overTLS(c.r), SameSite: http.SameSiteStrictMode,
	})
	h.log.InfoContext(c.r.Context(), "Signed in to the console.", "with", how, "remote", c.r.RemoteAddr)
	return c.redirect(next)
}

func (h *handler) logout(c *call) error {
	h.sessions.remove(c.s.id)
	http.SetCookie(c.w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: overTLS(c.r), SameSite: http.SameSiteStrictMode,
	})
	return c.redirect("/login")
}

// overTLS tells whether the browser reached us over HTTPS, directly or
// through a proxy that says so. Only the cookie's Secure flag depends on
// it, so a lying header can at worst make the cookie stricter.
func overTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

const (
	sessionCookie = "imapmigrate_session"
	// sessionTTL is how long a sign-in lasts, from the sign-in, however
	// busy the admin is: a full working day.
	sessionTTL = 12 * time.Hour
)

// session is one signed-in browser.
type session struct {
	id      string
	csrf    string
	expires time.Time
	flash   *flash // guarded by sessions.mu
}

// flash is a message for the next page the session sees.
type flash struct {
	Text  string
	Error bool
}

func (s *session) validCSRF(field, header string) bool {
	got := field
	if got == "" {
		got = header
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
	now  func() time.Time
}

func newSessions() *sessions {
	return &sessions{byID: map[string]*session{}, now: time.Now}
}

// randomToken is 32 random bytes, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session. Expired sessions are dropped here, at sign-in,
// which is often enough for a map that holds a few entries.
func (ss *sessions) create() *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	for id, s := range ss.byID {
		if !now.Before(s.expires) {
			delete(ss.byID, id)
		}
	}
	s := &session{id: randomToken(), csrf: randomToken(), expires: now.Add(sessionTTL)}
	ss.byID[s.id] = s
	return s
}

// get returns the request's session, or nil when it has none or it
// expired.
func (ss *sessions) get(r *http.Request) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[ck.Value]
	if s == nil {
		return nil
	}
	if !ss.now().Before(s.expires) {
		delete(ss.byID, s.id)
		return nil
	}
	return s
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, id)
}

func (ss *sessions) setFlash(s *session, f flash) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.flash = &f
}

func (ss *sessions) popFlash(s *session) *flash {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	f := s.flash
	s.flash = nil
	return f
}

// flashOK and flashError leave a message for the next page.
func (h *handler) flashOK(c *call, format string, args ...any) {
	h.sessions.setFlash(c.s, flash{Text: fmt.Sprintf(format, args...)})
}

func (h *handler) flashError(c *call, err error) {
	_, msg := h.describe(c.r, err)
	h.sessions.setFlash(c.s, flash{Text: msg, Error: true})
}
