// Package web is imapmigrate's console: server-rendered pages where an
// admin signs in, adds endpoints, creates batches from a CSV file and
// watches them run. It is mounted at "/" beside the REST API at /api/.
//
// Implementation notes:
//
//   - The console calls the migration service in-process through
//     api.Service, the interface the REST API serves, so the console, the API
//     and the command line see the same behaviour and the same error
//     messages.
//   - Every page works without JavaScript: state changes are plain HTML
//     forms (POST with the session's CSRF token), confirmations are pages,
//     and the status filter of a batch also works as a ?status= query.
//     console.js only refreshes the figures: it polls GET /ui/batches.json
//     and GET /ui/batches/{name}/users.json every 2 seconds and rewrites the
//     table cells in place. Polling rather than server-sent events, because
//     the service has no change feed (an event stream would poll it on the
//     server all the same), because a held-open stream keeps
//     http.Server.Shutdown waiting, and because a poll that fails (a restart)
//     simply tries again.
//   - Passwords are write-only. Admin passwords of endpoints, the password of
//     an endpoint test and CSV files go in and are never written back into a
//     page, a form value or a log; CSV uploads are read in memory (never into
//     the temporary files that ParseMultipartForm uses for large uploads),
//     and only their problems come back, which name lines and columns, not
//     values of the Password column.
//   - Sessions live in memory (see auth.go): a restart signs the admin out,
//     which for a console used by one or two people costs less than a
//     sessions table with its clean-up.
package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// Config is what the console needs.
type Config struct {
	// Service is the migration service, called in-process.
	Service api.Service
	// Token is the admin token of the API. It is also accepted as the
	// sign-in password, so that a console works before anyone has run
	// `imapmigrate admin set-password`. Empty accepts no token.
	Token string
	// PasswordFile holds the bcrypt hash of the admin password (see
	// SetPassword), normally <data>/admin.password. It is read at each
	// sign-in, so a new password works without a restart. A missing file
	// leaves the token as the only way in.
	PasswordFile string
	// Logger gets sign-ins and internal errors, never passwords or request
	// bodies. Nil discards.
	Logger *slog.Logger
}

// New returns the console's handler, to be mounted at "/" beside the API
// at /api/. It parses and checks its templates first, so that a broken
// template stops the service at start rather than failing a page later.
func New(cfg Config) (http.Handler, error) {
	h, err := newHandler(cfg)
	if err != nil {
		return nil, err
	}
	return h.mux(), nil
}

// Body limits. A CSV file of 100,000 users with long passwords stays well
// under 64 MiB (the API's limit too); every other form is a few hundred
// bytes.
const (
	maxForm   = 1 << 20
	maxUpload = 64<<20 + maxForm
)

// signInDelay slows down guessing: every failed sign-in waits this long
// before it is answered.
const signInDelay = time.Second

type handler struct {
	svc          api.Service
	tokenHash    [sha256.Size]byte
	noToken      bool
	passwordFile string
	log          *slog.Logger
	pages        map[string]*template.Template
	assets       map[string]asset
	sessions     *sessions
	failDelay    time.Duration
}

func newHandler(cfg Config) (*handler, error) {
	if cfg.Service == nil {
		return nil, errors.New("web console: no service")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	assets, err := loadAssets()
	if err != nil {
		return nil, err
	}
	pages, err := parsePages(assets)
	if err != nil {
		return nil, err
	}
	return &handler{
		svc:          cfg.Service,
		tokenHash:    sha256.Sum256([]byte(cfg.Token)),
		noToken:      cfg.Token == "",
		passwordFile: cfg.PasswordFile,
		log:          log,
		pages:        pages,
		assets:       assets,
		sessions:     newSessions(),
		failDelay:    signInDelay,
	}, nil
}

// access says what a route needs.
type access int

const (
	open access = iota // anyone: the sign-in page and the static files
	page               // a session, else a redirect to the sign-in page
	data               // a session, else 401 (fetched by console.js)
)

type route struct {
	pattern string
	access  access
	fn      func(*call) error
}

// routes is every route of the console. Unsafe methods (POST) need the
// session's CSRF token as well as the session; see serve.
func (h *handler) routes() []route {
	return []route{
		{"GET /login", open, h.loginPage},
		{"POST /login", open, h.login},
		{"GET /static/{file}", open, h.static},
		{"POST /logout", page, h.logout},

		{"GET /{$}", page, h.home},
		{"GET /batches", page, h.batches},
		{"GET /batches/new", page, h.newBatch},
		{"POST /batches/new", page, h.createBatch},
		{"GET /batches/{name}", page, h.batch},
		{"GET /batches/{name}/confirm/{action}", page, h.confirm},
		{"POST /batches/{name}/start", page, h.batchAction("start", h.svc.StartBatch)},
		{"POST /batches/{name}/stop", page, h.batchAction("stop", h.svc.StopBatch)},
		{"POST /batches/{name}/sync-now", page, h.batchAction("sync-now", h.svc.SyncNow)},
		{"POST /batches/{name}/complete", page, h.batchAction("complete", h.svc.CompleteBatch)},
		{"POST /batches/{name}/retry-failed", page, h.batchAction("retry-failed", h.svc.RetryFailed)},
		{"POST /batches/{name}/verify", page, h.verifyBatch},
		{"POST /batches/{name}/validate", page, h.validateBatch},
		{"POST /batches/{name}/remove", page, h.removeBatch},
		{"POST /batches/{name}/users", page, h.addUsers},
		{"POST /batches/{name}/welcome/send", page, h.sendWelcome},
		{"GET /batches/{name}/report.csv", page, h.reportCSV},
		{"GET /batches/{name}/report.json", page, h.reportJSON},
		{"GET /batches/{name}/report.html", page, h.reportHTML},

		{"GET /users/{email}", page, h.user},

		{"GET /endpoints", page, h.endpoints},
		{"POST /endpoints", page, h.addEndpoint},
		{"GET /endpoints/{name}/edit", page, h.editEndpoint},
		{"POST /endpoints/{name}/edit", page, h.updateEndpoint},
		{"POST /endpoints/{name}/test", page, h.testEndpoint},
		{"POST /endpoints/{name}/remove", page, h.removeEndpoint},

		{"GET /ui/batches.json", data, h.batchesJSON},
		{"GET /ui/batches/{name}/users.json", data, h.batchJSON},

		// Anything else is a 404 page, after the session check, so that
		// it tells a stranger nothing.
		{"/", page, h.notFound},
	}
}

// mux registers the routes. net/http's cross-origin protection
// (Sec-Fetch-Site, else Origin against Host) refuses cross-site POSTs
// before the CSRF token is even looked at: two locks, in case one is
// picked.
func (h *handler) mux() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range h.routes() {
		mux.Handle(rt.pattern, h.serve(rt))
	}
	return http.NewCrossOriginProtection().Handler(mux)
}

// call is one request on its way through a handler.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	s     *session // nil on open routes
	route route
	form  url.Values        // the fields of a POST
	files map[string]string // the contents of uploaded files, by field name
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// serve checks the session and, for a state change, the CSRF token, then
// runs the route. An error the handler returns becomes an error page (or a
// JSON error on data routes).
func (h *handler) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		// Pages carry the CSRF token and people's mail figures; the
		// static files set their own caching.
		hd.Set("Cache-Control", "no-store")
		c := &call{w: w, r: r, route: rt}
		if rt.access != open {
			c.s = h.sessions.get(r)
			if c.s == nil {
				h.signInFirst(c)
				return
			}
		}
		if !safeMethod(r.Method) {
			var err error
			if c.form, c.files, err = readForm(w, r); err != nil {
				h.fail(c, err)
				return
			}
			if c.s != nil && !c.s.validCSRF(c.form.Get("csrf"), r.Header.Get("X-CSRF-Token")) {
				h.log.WarnContext(r.Context(), "Console request refused: wrong or missing CSRF token.", "route", rt.pattern, "remote", r.RemoteAddr)
				h.fail(c, errForbidden)
				return
			}
		}
		if err := rt.fn(c); err != nil {
			h.fail(c, err)
		}
	})
}

// signInFirst answers a request without a session: data routes get 401,
// pages a redirect to the sign-in page that comes back to them.
func (h *handler) signInFirst(c *call) {
	if c.route.access == data {
		writeJSON(c.w, http.StatusUnauthorized, errorBody{Error: "not signed in: sign in at /login"})
		return
	}
	target := "/login"
	if c.r.Method == http.MethodGet && c.r.URL.Path != "/" {
		target += "?next=" + url.QueryEscape(c.r.URL.RequestURI())
	}
	http.Redirect(c.w, c.r, target, http.StatusSeeOther)
}

// Errors of the request itself, before the service sees it.
var (
	errBadRequest = errors.New("bad request")
	errTooLarge   = errors.New("request too large")
	errForbidden  = errors.New("the form has expired or did not come from this console (CSRF token missing or wrong): reload the page and try again")
)

// statusOf is the HTTP status for err: the console's own request errors,
// then the API's table, so that both answer alike. An error that matches
// none is an internal error: logged, and shown only as "internal error".
func statusOf(err error) int {
	switch {
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	}
	return api.StatusOf(err)
}

// describe returns the status for err and the text to show the admin.
func (h *handler) describe(r *http.Request, err error) (int, string) {
	status := statusOf(err)
	switch status {
	case http.StatusInternalServerError:
		h.log.ErrorContext(r.Context(), "Console request failed.", "route", r.Pattern, "err", err)
		return status, "internal error"
	case api.StatusClientClosed:
		return status, "request canceled"
	case http.StatusServiceUnavailable:
		return status, "timed out"
	}
	return status, err.Error()
}

// fail answers with an error page, or a JSON error on data routes.
func (h *handler) fail(c *call, err error) {
	status, msg := h.describe(c.r, err)
	if c.route.access == data {
		writeJSON(c.w, status, errorBody{Error: msg})
		return
	}
	h.render(c, status, "error", view{Title: http.StatusText(status), Error: msg})
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status is sent; a failed write means the caller left.
	json.NewEncoder(w).Encode(v)
}

// view is what every page template gets; Data is the page's own.
type view struct {
	Title    string
	Nav      string // the current nav link: batches, new-batch or endpoints
	CSRF     string
	SignedIn bool
	Flash    *flash
	Error    string // a service error, shown as <p class="error">
	Data     any
}

// render writes the page with status. The page is executed into a buffer
// first, so that a template error is a clean 500, not half a page.
func (h *handler) render(c *call, status int, name string, v view) {
	if c.s != nil {
		v.SignedIn = true
		v.CSRF = c.s.csrf
		v.Flash = h.sessions.popFlash(c.s)
	}
	var b bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&b, "layout", v); err != nil {
		h.log.ErrorContext(c.r.Context(), "Console page failed.", "page", name, "err", err)
		http.Error(c.w, "internal error", http.StatusInternalServerError)
		return
	}
	c.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	c.w.WriteHeader(status)
	c.w.Write(b.Bytes())
}

// redirect answers a form with 303 See Other, so that reloading the next
// page does not post the form again.
func (c *call) redirect(target string) error {
	http.Redirect(c.w, c.r, target, http.StatusSeeOther)
	return nil
}

// localPath returns p when it is a path on this site, else fallback: a
// "next" parameter must not send the admin to another site.
func localPath(p, fallback string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return fallback
	}
	return p
}

func (h *handler) home(c *call) error { return c.redirect("/batches") }

func (h *handler) notFound(c *call) error {
	return fmt.Errorf("no page at %s: %w", c.r.URL.Path, service.ErrNotFound)
}
