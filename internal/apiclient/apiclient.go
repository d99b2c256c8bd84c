// Package apiclient is the Go client of imapmigrate's REST API (package
// api), used by the command line. Client implements api.Service, and error
// answers come back wrapping the service's error kinds, so that
// errors.Is(err, service.ErrNotFound) works the same on both sides of the
// wire.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/batch"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

var _ api.Service = (*Client)(nil)

// Client talks to one imapmigrate server. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client of the server at baseURL (such as
// "http://127.0.0.1:8080") that authenticates with token.
func New(baseURL, token string) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: &http.Client{}}
}

// Error is a non-2xx answer.
type Error struct {
	Status  int
	Message string
	// Problems lists every bad row of a CSV file (status 422).
	Problems []batch.Problem
	// Below lists the users under the grade a completion required (409).
	Below []service.GradeNote
	// api is set when the body was the API's own error: a 502 from a
	// proxy in front of the server is not an IMAP server's answer.
	api bool
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return e.Message
}

// Unwrap gives the service's error kind for the status, and for a CSV file
// with problems a *service.CSVError, so that callers need not know HTTP.
func (e *Error) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return service.ErrNotFound
	case http.StatusConflict:
		if len(e.Below) > 0 {
			return &service.GradeError{Users: e.Below}
		}
		return service.ErrConflict
	case http.StatusUnprocessableEntity:
		if len(e.Problems) > 0 {
			return &service.CSVError{Problems: e.Problems}
		}
		return service.ErrInvalid
	case http.StatusBadGateway:
		if e.api {
			return service.ErrRemote
		}
	}
	return nil
}

// ConnectError is a request that did not reach the server (refused,
// unknown host, TLS failure, connection reset).
type ConnectError struct {
	URL string
	Err error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("cannot reach the imapmigrate server at %s (is `imapmigrate serve` running? --server or IMAPMIGRATE_SERVER say where it is): %v", e.URL, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// maxErrorBody caps the error answer read: a CSV file's problems can be
// many, but not megabytes.
const maxErrorBody = 8 << 20

// do sends in (unless nil) as JSON and returns the status and body of a
// 2xx answer; any other status is an *Error.
func (c *Client) do(ctx context.Context, method, path string, in any) (int, []byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		// The url.Error repeats method and URL; its cause is what matters.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, &ConnectError{URL: c.base, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		apiErr := &Error{Status: resp.StatusCode}
		var eb api.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			apiErr.Message, apiErr.Problems, apiErr.Below, apiErr.api = eb.Error, eb.Problems, eb.Below, true
		} else {
			// Not our server, or a proxy in front of it: show what it said.
			apiErr.Message = strings.TrimSpace(fmt.Sprintf("server answered %s: %s", resp.Status, truncate(string(b), 200)))
		}
		return resp.StatusCode, nil, apiErr
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, &ConnectError{URL: c.base, Err: err}
	}
	return resp.StatusCode, b, nil
}

// call is do with the answer decoded into out (unless nil).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	_, b, err := c.do(ctx, method, path, in)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
	}
	return nil
}

// callAs is call for a method that returns what the server answers; on
// failure it returns the zero value, never a half-decoded one.
func callAs[T any](ctx context.Context, c *Client, method, path string, in any) (T, error) {
	var v T
	if err := c.call(ctx, method, path, in, &v); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func endpointPath(name string) string { return "/api/v1/endpoints/" + url.PathEscape(name) }
func batchPath(name string) string    { return "/api/v1/batches/" + url.PathEscape(name) }

func (c *Client) AddEndpoint(ctx context.Context, spec service.EndpointSpec) (*service.Endpoint, error) {
	return callAs[*service.Endpoint](ctx, c, http.MethodPost, "/api/v1/endpoints", spec)
}

func (c *Client) UpdateEndpoint(ctx context.Context, name string, spec service.EndpointSpec) (*service.Endpoint, error) {
	return callAs[*service.Endpoint](ctx, c, http.MethodPut, endpointPath(name), spec)
}

func (c *Client) Endpoints(ctx context.Context) ([]service.Endpoint, error) {
	return callAs[[]service.Endpoint](ctx, c, http.MethodGet, "/api/v1/endpoints", nil)
}

func (c *Client) Endpoint(ctx context.Context, name string) (*service.Endpoint, error) {
	return callAs[*service.Endpoint](ctx, c, http.MethodGet, endpointPath(name), nil)
}

func (c *Client) RemoveEndpoint(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, endpointPath(name), nil, nil)
}

func (c *Client) TestEndpoint(ctx context.Context, name, user, password string) (*service.EndpointTest, error) {
	req := api.TestEndpointRequest{User: user, Password: password}
	return callAs[*service.EndpointTest](ctx, c, http.MethodPost, endpointPath(name)+"/test", req)
}

// CreateBatch answers a dry run (status 200) with the plan and anything
// else (201) with the batch.
func (c *Client) CreateBatch(ctx context.Context, spec service.BatchSpec) (*service.Batch, *service.BatchPlan, error) {
	status, b, err := c.do(ctx, http.MethodPost, "/api/v1/batches", spec)
	if err != nil {
		return nil, nil, err
	}
	if status == http.StatusCreated {
		var bt service.Batch
		if err := json.Unmarshal(b, &bt); err != nil {
			return nil, nil, fmt.Errorf("decode created batch: %w", err)
		}
		return &bt, nil, nil
	}
	var plan service.BatchPlan
	if err := json.Unmarshal(b, &plan); err != nil {
		return nil, nil, fmt.Errorf("decode batch plan: %w", err)
	}
	return nil, &plan, nil
}

func (c *Client) Batches(ctx context.Context) ([]service.Batch, error) {
	return callAs[[]service.Batch](ctx, c, http.MethodGet, "/api/v1/batches", nil)
}

func (c *Client) Batch(ctx context.Context, name string) (*service.Batch, error) {
	return callAs[*service.Batch](ctx, c, http.MethodGet, batchPath(name), nil)
}

func (c *Client) batchAction(ctx context.Context, name, verb string) (*service.Batch, error) {
	return callAs[*service.Batch](ctx, c, http.MethodPost, batchPath(name)+"/"+verb, nil)
}

func (c *Client) StartBatch(ctx context.Context, name string) (*service.Batch, error) {
	return c.batchAction(ctx, name, "start")
}

func (c *Client) StopBatch(ctx context.Context, name string) (*service.Batch, error) {
	return c.batchAction(ctx, name, "stop")
}

func (c *Client) CompleteBatch(ctx context.Context, name string) (*service.Batch, error) {
	return c.batchAction(ctx, name, "complete")
}

func (c *Client) SyncNow(ctx context.Context, name string) (*service.Batch, error) {
	return c.batchAction(ctx, name, "sync-now")
}

func (c *Client) RetryFailed(ctx context.Context, name string) (*service.Batch, error) {
	return c.batchAction(ctx, name, "retry-failed")
}

// RemoveBatch returns once the server has accepted the removal, which goes
// on in the background.
func (c *Client) RemoveBatch(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, batchPath(name), nil, nil)
}

func (c *Client) AddUsers(ctx context.Context, name, csv string) (int, error) {
	res, err := callAs[api.AddUsersResponse](ctx, c, http.MethodPost, batchPath(name)+"/users", api.AddUsersRequest{CSV: csv})
	return res.Added, err
}

func (c *Client) Users(ctx context.Context, batch string) ([]service.User, error) {
	return callAs[[]service.User](ctx, c, http.MethodGet, batchPath(batch)+"/users", nil)
}

func (c *Client) User(ctx context.Context, email string) (*service.User, error) {
	return callAs[*service.User](ctx, c, http.MethodGet, "/api/v1/users/"+url.PathEscape(email), nil)
}

func (c *Client) Report(ctx context.Context, batch string) ([]service.User, error) {
	return callAs[[]service.User](ctx, c, http.MethodGet, batchPath(batch)+"/report?format=json", nil)
}

// ReportCSV is the batch's report as the server writes it for
// spreadsheets (see api.WriteReportCSV).
func (c *Client) ReportCSV(ctx context.Context, batch string) ([]byte, error) {
	_, b, err := c.do(ctx, http.MethodGet, batchPath(batch)+"/report?format=csv", nil)
	return b, err
}

// ReportHTML is the batch's report as one self-contained HTML page (see
// api.WriteReportHTML).
func (c *Client) ReportHTML(ctx context.Context, batch string) ([]byte, error) {
	_, b, err := c.do(ctx, http.MethodGet, batchPath(batch)+"/report?format=html", nil)
	return b, err
}

func (c *Client) History(ctx context.Context, batch string) ([]service.Pass, error) {
	return callAs[[]service.Pass](ctx, c, http.MethodGet, batchPath(batch)+"/history", nil)
}
