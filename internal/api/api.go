// Package api is imapmigrate's REST API: JSON under /api/v1/, for the
// command line (internal/apiclient) and for scripts.
//
// Every route but GET /api/v1/health needs "Authorization: Bearer <token>".
// Errors come back as {"error": "..."} with a status from one table
// (StatusOf): the service's kinds (not found, conflict, invalid input, and
// 502 Bad Gateway for an IMAP server that refused or could not be reached)
// say what went wrong in the service's words, anything else is logged and
// shown as "internal error". Passwords go in (endpoint admin passwords, CSV
// files) but never come out, and request bodies are never logged.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/imapmigrate/imapmigrate/internal/batch"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// Service is what the API needs of the migration service. It is declared
// here, by its consumer; internal/service implements it, and so does
// internal/apiclient over HTTP.
type Service interface {
	AddEndpoint(ctx context.Context, spec service.EndpointSpec) (*service.Endpoint, error)
	UpdateEndpoint(ctx context.Context, name string, spec service.EndpointSpec) (*service.Endpoint, error)
	Endpoints(ctx context.Context) ([]service.Endpoint, error)
	Endpoint(ctx context.Context, name string) (*service.Endpoint, error)
	RemoveEndpoint(ctx context.Context, name string) error
	// TestEndpoint logs in as user with password; empty user means the
	// endpoint's admin credentials.
	TestEndpoint(ctx context.Context, name, user, password string) (*service.EndpointTest, error)
	// CreateBatch creates (or, with spec.DryRun, only plans) a batch.
	// Exactly one of the two results is non-nil on success.
	CreateBatch(ctx context.Context, spec service.BatchSpec) (*service.Batch, *service.BatchPlan, error)
	Batches(ctx context.Context) ([]service.Batch, error)
	Batch(ctx context.Context, name string) (*service.Batch, error)
	StartBatch(ctx context.Context, name string) (*service.Batch, error)
	StopBatch(ctx context.Context, name string) (*service.Batch, error)
	CompleteBatch(ctx context.Context, name string) (*service.Batch, error)
	SyncNow(ctx context.Context, name string) (*service.Batch, error)
	RetryFailed(ctx context.Context, name string) (*service.Batch, error)
	RemoveBatch(ctx context.Context, name string) error
	AddUsers(ctx context.Context, name, csv string) (added int, err error)
	// Users lists a batch's users without Folders, SkippedItems and
	// FailedItems.
	Users(ctx context.Context, batch string) ([]service.User, error)
	// User is one user with all details.
	User(ctx context.Context, email string) (*service.User, error)
	// Report is every user of a batch with all details.
	Report(ctx context.Context, batch string) ([]service.User, error)
	// Notifications lists the report mails of a batch (see mail.go).
	Notifications(ctx context.Context, batch string) ([]service.Notification, error)
	// Welcome is a batch's welcome letter settings and each user's last
	// letter; SetWelcome replaces the settings.
	Welcome(ctx context.Context, batch string) (*service.WelcomeStatus, error)
	SetWelcome(ctx context.Context, batch string, opts service.WelcomeOptions) (*service.WelcomeStatus, error)
	// PreviewWelcome renders a letter and sends nothing; SendWelcome
	// queues the letters, which go out in the background.
	PreviewWelcome(ctx context.Context, batch string, req service.WelcomeRequest) (*service.WelcomePreview, error)
	SendWelcome(ctx context.Context, batch string, req service.WelcomeRequest) (*service.WelcomeSent, error)
	// VerifyBatch queues a verification of the batch's synced users, or
	// of the one user with address user, and returns the grades as they
	// are; BatchGrades returns them.
	VerifyBatch(ctx context.Context, batch, user string) (*service.BatchGrades, error)
	BatchGrades(ctx context.Context, batch string) (*service.BatchGrades, error)
	// CompleteBatchWith completes a batch on the admin's conditions; a
	// refusal for grades is a *service.GradeError.
	CompleteBatchWith(ctx context.Context, batch string, opts service.CompleteOptions) (*service.Completion, error)
	// BatchDNS checks the MX records of the batch's domains.
	BatchDNS(ctx context.Context, batch string) (*service.BatchDNS, error)
	// History is every recorded pass of a batch's users, oldest first.
	History(ctx context.Context, batch string) ([]service.Pass, error)
	// ValidateBatch runs the Validate step on a batch's users (logins,
	// quota, folder mapping, sizes; nothing copied) and returns every
	// user's last validation; Validation returns them as stored.
	ValidateBatch(ctx context.Context, batch string, opts service.ValidateOptions) (*service.BatchValidation, error)
	Validation(ctx context.Context, batch string) (*service.BatchValidation, error)
}

// Request and answer bodies that are not service types. The client uses
// them too, so both sides agree on the wire format.
type (
	// ErrorBody is the body of every answer that is not 2xx. Problems
	// lists every bad row of a CSV file (status 422).
	ErrorBody struct {
		Error    string          `json:"error"`
		Problems []batch.Problem `json:"problems,omitempty"`
		// Below lists every user under the grade a completion required
		// (status 409).
		Below []service.GradeNote `json:"below,omitempty"`
	}
	// TestEndpointRequest is the body of POST /api/v1/endpoints/{name}/test.
	// An empty User tests the endpoint's admin credentials.
	TestEndpointRequest struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	// AddUsersRequest is the body of POST /api/v1/batches/{name}/users.
	AddUsersRequest struct {
		CSV string `json:"csv"`
	}
	// AddUsersResponse answers it.
	AddUsersResponse struct {
		Added int `json:"added"`
	}
)

// Body limits. A CSV file of 100,000 users with long passwords stays well
// under 64 MiB; everything else is a few hundred bytes.
const (
	maxBody    = 1 << 20
	maxCSVBody = 64 << 20
)

// Errors of the request itself, before the service sees it.
var (
	errBadRequest   = errors.New("bad request")
	errTooLarge     = errors.New("request body too large")
	errUnauthorized = errors.New("missing or wrong API token: send \"Authorization: Bearer <token>\"")
)

// statusCodes maps error kinds to HTTP statuses, first match wins. An
// error that matches none is an internal error: logged, and shown to the
// caller only as "internal error", since its text may say more about the
// server than a caller should see.
var statusCodes = []struct {
	err    error
	status int
}{
	{service.ErrNotFound, http.StatusNotFound},
	{service.ErrConflict, http.StatusConflict},
	{service.ErrInvalid, http.StatusUnprocessableEntity},
	// Before the context kinds: an IMAP server that timed out is the
	// server's doing, and its words say more than "timed out".
	{service.ErrRemote, http.StatusBadGateway},
	{errBadRequest, http.StatusBadRequest},
	{errTooLarge, http.StatusRequestEntityTooLarge},
	{errUnauthorized, http.StatusUnauthorized},
	// The caller went away (nginx's 499, nobody reads it) or the server is
	// shutting down; neither is a bug worth a log line.
	{context.Canceled, StatusClientClosed},
	{context.DeadlineExceeded, http.StatusServiceUnavailable},
}

// StatusClientClosed is nginx's 499: the caller went away.
const StatusClientClosed = 499

// StatusOf is the HTTP status for err, from the table above; the console
// answers with the same statuses.
func StatusOf(err error) int {
	for _, c := range statusCodes {
		if errors.Is(err, c.err) {
			return c.status
		}
	}
	return http.StatusInternalServerError
}

// healthRoute is the one route open without the token, so that load
// balancers and monitors need no secret. It tells nothing but "ok".
const healthRoute = "GET /api/v1/health"

type handler struct {
	svc       Service
	tokenHash [sha256.Size]byte
	noToken   bool
	log       *slog.Logger
}

// New returns the API handler. logger gets internal errors (never request
// bodies: they carry passwords). An empty token locks every route but the
// health check.
func New(svc Service, token string, logger *slog.Logger) http.Handler {
	h := &handler{svc: svc, tokenHash: sha256.Sum256([]byte(token)), noToken: token == "", log: logger}
	routes := []struct {
		pattern string
		fn      func(w http.ResponseWriter, r *http.Request) error
	}{
		{healthRoute, h.health},

		{"GET /api/v1/endpoints", h.endpoints},
		{"POST /api/v1/endpoints", h.addEndpoint},
		{"GET /api/v1/endpoints/{name}", h.endpoint},
		{"PUT /api/v1/endpoints/{name}", h.updateEndpoint},
		{"DELETE /api/v1/endpoints/{name}", h.removeEndpoint},
		{"POST /api/v1/endpoints/{name}/test", h.testEndpoint},

		{"GET /api/v1/batches", h.batches},
		{"POST /api/v1/batches", h.createBatch},
		{"GET /api/v1/batches/{name}", h.batch},
		{"DELETE /api/v1/batches/{name}", h.removeBatch},
		{"POST /api/v1/batches/{name}/start", h.batchAction(svc.StartBatch)},
		{"POST /api/v1/batches/{name}/stop", h.batchAction(svc.StopBatch)},
		{"POST /api/v1/batches/{name}/complete", h.complete},
		{"POST /api/v1/batches/{name}/verify", h.verifyBatch},
		{"GET /api/v1/batches/{name}/verify", h.batchGrades},
		{"GET /api/v1/batches/{name}/dns", h.batchDNS},
		{"POST /api/v1/batches/{name}/sync-now", h.batchAction(svc.SyncNow)},
		{"POST /api/v1/batches/{name}/retry-failed", h.batchAction(svc.RetryFailed)},
		{"POST /api/v1/batches/{name}/users", h.addUsers},
		{"GET /api/v1/batches/{name}/users", h.users},
		{"GET /api/v1/batches/{name}/report", h.report},
		{"GET /api/v1/batches/{name}/history", h.history},
		{"POST /api/v1/batches/{name}/validate", h.validateBatch},
		{"GET /api/v1/batches/{name}/validation", h.validation},
		{"GET /api/v1/batches/{name}/notifications", h.notifications},
		{"GET /api/v1/batches/{name}/welcome", h.welcome},
		{"PUT /api/v1/batches/{name}/welcome", h.setWelcome},
		{"POST /api/v1/batches/{name}/welcome/preview", h.previewWelcome},
		{"POST /api/v1/batches/{name}/welcome/send", h.sendWelcome},

		{"GET /api/v1/users/{email}", h.user},

		// Unknown API paths answer in JSON too (after the token check, so
		// that they tell nothing to a caller without one).
		{"/api/v1/", h.notFound},
	}
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.pattern, h.serve(rt.fn, rt.pattern != healthRoute))
	}
	return mux
}

// serve runs fn after the token check and turns its error into an answer.
func (h *handler) serve(fn func(http.ResponseWriter, *http.Request) error, auth bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		var err error
		if auth && !h.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="imapmigrate"`)
			err = errUnauthorized
		} else {
			err = fn(w, r)
		}
		if err != nil {
			h.writeError(w, r, err)
		}
	})
}

// authorized compares the bearer token in constant time. Hashing both sides
// first gives equal lengths, so not even the token's length leaks.
func (h *handler) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || h.noToken {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], h.tokenHash[:]) == 1
}

func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := StatusOf(err)
	body := ErrorBody{Error: err.Error()}
	switch status {
	case http.StatusInternalServerError:
		h.log.ErrorContext(r.Context(), "API request failed", "route", r.Pattern, "err", err)
		body.Error = "internal error"
	case StatusClientClosed:
		body.Error = "request canceled"
	case http.StatusServiceUnavailable:
		body.Error = "timed out"
	}
	var ce *service.CSVError
	if errors.As(err, &ce) {
		body.Problems = ce.Problems
	}
	var ge *service.GradeError
	if errors.As(err, &ge) {
		body.Below = ge.Users
	}
	writeJSON(w, status, body)
}

// writeJSON answers with v. It returns nil so that a handler can end with
// "return writeJSON(...)".
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status is sent; a failed write means the caller left.
	json.NewEncoder(w).Encode(v)
	return nil
}

// decode reads a JSON body of at most limit bytes into v. Unknown fields
// are refused so that a misspelt option is an error, not a silent default.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return fmt.Errorf("%w: more than %d bytes", errTooLarge, tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: empty body, want JSON", errBadRequest)
	case err != nil:
		// json's messages name fields and offsets, never values, so a
		// password in the body does not come back in the answer.
		return fmt.Errorf("%w: malformed JSON: %v", errBadRequest, err)
	}
	return nil
}

func (h *handler) health(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) error {
	return fmt.Errorf("%s %s: no such API route: %w", r.Method, r.URL.Path, service.ErrNotFound)
}

func (h *handler) endpoints(w http.ResponseWriter, r *http.Request) error {
	eps, err := h.svc.Endpoints(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nonNil(eps))
}

func (h *handler) addEndpoint(w http.ResponseWriter, r *http.Request) error {
	var spec service.EndpointSpec
	if err := decode(w, r, maxBody, &spec); err != nil {
		return err
	}
	ep, err := h.svc.AddEndpoint(r.Context(), spec)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, ep)
}

func (h *handler) endpoint(w http.ResponseWriter, r *http.Request) error {
	ep, err := h.svc.Endpoint(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ep)
}

func (h *handler) updateEndpoint(w http.ResponseWriter, r *http.Request) error {
	var spec service.EndpointSpec
	if err := decode(w, r, maxBody, &spec); err != nil {
		return err
	}
	ep, err := h.svc.UpdateEndpoint(r.Context(), r.PathValue("name"), spec)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ep)
}

func (h *handler) removeEndpoint(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.RemoveEndpoint(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) testEndpoint(w http.ResponseWriter, r *http.Request) error {
	var req TestEndpointRequest
	if err := decode(w, r, maxBody, &req); err != nil {
		return err
	}
	res, err := h.svc.TestEndpoint(r.Context(), r.PathValue("name"), req.User, req.Password)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func (h *handler) batches(w http.ResponseWriter, r *http.Request) error {
	bs, err := h.svc.Batches(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nonNil(bs))
}

func (h *handler) createBatch(w http.ResponseWriter, r *http.Request) error {
	var spec service.BatchSpec
	if err := decode(w, r, maxCSVBody, &spec); err != nil {
		return err
	}
	b, plan, err := h.svc.CreateBatch(r.Context(), spec)
	if err != nil {
		return err
	}
	if plan != nil {
		return writeJSON(w, http.StatusOK, plan)
	}
	return writeJSON(w, http.StatusCreated, b)
}

func (h *handler) batch(w http.ResponseWriter, r *http.Request) error {
	b, err := h.svc.Batch(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, b)
}

// removeBatch answers 202: the service marks the batch Removing and drops
// it once its running syncs have stopped.
func (h *handler) removeBatch(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.RemoveBatch(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// batchAction serves the POST /api/v1/batches/{name}/<verb> routes, which
// all change a batch's state and answer with the batch.
func (h *handler) batchAction(action func(context.Context, string) (*service.Batch, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		b, err := action(r.Context(), r.PathValue("name"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, b)
	}
}

func (h *handler) addUsers(w http.ResponseWriter, r *http.Request) error {
	var req AddUsersRequest
	if err := decode(w, r, maxCSVBody, &req); err != nil {
		return err
	}
	n, err := h.svc.AddUsers(r.Context(), r.PathValue("name"), req.CSV)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, AddUsersResponse{Added: n})
}

func (h *handler) users(w http.ResponseWriter, r *http.Request) error {
	us, err := h.svc.Users(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nonNil(us))
}

// report answers in JSON by default, with a CSV file for ?format=csv and
// with a self-contained HTML page for ?format=html.
func (h *handler) report(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" && format != "html" {
		return fmt.Errorf("%w: format %q: want json, csv or html", errBadRequest, format)
	}
	if format == "html" {
		rep, err := BuildHTMLReport(r.Context(), h.svc, name)
		if err != nil {
			return err
		}
		return writeHTMLAttachment(w, rep)
	}
	us, err := h.svc.Report(r.Context(), name)
	if err != nil {
		return err
	}
	if format != "csv" {
		return writeJSON(w, http.StatusOK, nonNil(us))
	}
	return writeCSVAttachment(w, name, us)
}

func (h *handler) user(w http.ResponseWriter, r *http.Request) error {
	u, err := h.svc.User(r.Context(), r.PathValue("email"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

// nonNil makes an empty list "[]" rather than "null", which scripts
// iterating over the answer would trip on.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
