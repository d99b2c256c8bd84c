package apiclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/api/apitest"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

const testToken = "client-test-token"

// setup starts the real API over a fake service and returns a client of it.
func setup(t *testing.T) (*Client, *apitest.Fake) {
	t.Helper()
	fake := apitest.NewFake()
	srv := httptest.NewServer(api.New(fake, testToken, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return New(srv.URL+"/", testToken), fake
}

const usersCSV = "EmailAddress,UserName,Password\nalice@example.com,alice,pw-a\nbob@example.com,bob,pw-b\n"

func TestClientRoundTrip(t *testing.T) {
	c, fake := setup(t)
	ctx := context.Background()
	ep, err := c.AddEndpoint(ctx, service.EndpointSpec{Endpoint: service.Endpoint{Name: "old", Host: "old.example.com"}, AdminPassword: "adm"})
	if err != nil || ep.Name != "old" || !ep.HasAdminPassword {
		t.Fatalf("AddEndpoint = %+v, %v; want old with an admin password", ep, err)
	}
	if _, err := c.AddEndpoint(ctx, service.EndpointSpec{Endpoint: service.Endpoint{Name: "new", Host: "new.example.com"}}); err != nil {
		t.Fatal(err)
	}
	if ep, err := c.UpdateEndpoint(ctx, "old", service.EndpointSpec{Endpoint: service.Endpoint{Host: "old2.example.com"}}); err != nil || ep.Host != "old2.example.com" || !ep.HasAdminPassword {
		t.Errorf("UpdateEndpoint = %+v, %v; want the new host and the kept password", ep, err)
	}
	if eps, err := c.Endpoints(ctx); err != nil || len(eps) != 2 {
		t.Errorf("Endpoints = %+v, %v; want 2", eps, err)
	}
	if ep, err := c.Endpoint(ctx, "new"); err != nil || ep.Host != "new.example.com" {
		t.Errorf("Endpoint(new) = %+v, %v", ep, err)
	}
	if res, err := c.TestEndpoint(ctx, "old", "alice", "pw-test"); err != nil || res.User != "alice" || res.Separator != "/" {
		t.Errorf("TestEndpoint = %+v, %v", res, err)
	}
	if got := fake.Secrets(); strings.Join(got, ",") != "adm,pw-test" {
		t.Errorf("the service got passwords %q; want adm and pw-test", got)
	}

	spec := service.BatchSpec{Name: "spring", SourceEndpoint: "old", DestEndpoint: "new", CSV: usersCSV, DryRun: true}
	b, plan, err := c.CreateBatch(ctx, spec)
	if err != nil || b != nil || plan == nil || len(plan.Users) != 2 || plan.Users[1].Line != 3 {
		t.Fatalf("CreateBatch(dry run) = %+v, %+v, %v; want a plan of 2 users", b, plan, err)
	}
	spec.DryRun = false
	b, plan, err = c.CreateBatch(ctx, spec)
	if err != nil || plan != nil || b == nil || b.State != service.BatchCreated || b.Totals.Users != 2 {
		t.Fatalf("CreateBatch = %+v, %+v, %v; want a created batch of 2 users", b, plan, err)
	}
	actions := []struct {
		name string
		fn   func(context.Context, string) (*service.Batch, error)
		want string
	}{
		{"StartBatch", c.StartBatch, service.BatchSyncing},
		{"SyncNow", c.SyncNow, service.BatchSyncing},
		{"RetryFailed", c.RetryFailed, service.BatchSyncing},
		{"CompleteBatch", c.CompleteBatch, service.BatchCompleting},
		{"StopBatch", c.StopBatch, service.BatchStopped},
	}
	for _, a := range actions {
		if b, err := a.fn(ctx, "spring"); err != nil || b.State != a.want {
			t.Errorf("%s(spring) = %+v, %v; want state %s", a.name, b, err, a.want)
		}
	}
	if n, err := c.AddUsers(ctx, "spring", "EmailAddress,UserName,Password\ncarol@example.com,carol,pw-c\n"); err != nil || n != 1 {
		t.Errorf("AddUsers = %d, %v; want 1", n, err)
	}
	if bs, err := c.Batches(ctx); err != nil || len(bs) != 1 || bs[0].Totals.Users != 3 {
		t.Errorf("Batches = %+v, %v; want spring with 3 users", bs, err)
	}
	if b, err := c.Batch(ctx, "spring"); err != nil || b.Name != "spring" {
		t.Errorf("Batch(spring) = %+v, %v", b, err)
	}
	fake.PutUser(service.User{Batch: "spring", EmailAddress: "alice@example.com", Status: service.UserSynced,
		Folders: []service.Folder{{Source: "INBOX", Status: "synced"}}})
	if us, err := c.Users(ctx, "spring"); err != nil || len(us) != 3 || us[0].Folders != nil {
		t.Errorf("Users(spring) = %+v, %v; want 3 users without folders", us, err)
	}
	if us, err := c.Report(ctx, "spring"); err != nil || len(us) != 3 || len(us[0].Folders) != 1 {
		t.Errorf("Report(spring) = %+v, %v; want 3 users with alice's folder", us, err)
	}
	if u, err := c.User(ctx, "alice@example.com"); err != nil || u.Status != service.UserSynced || len(u.Folders) != 1 {
		t.Errorf("User(alice) = %+v, %v", u, err)
	}
	if b, err := c.ReportCSV(ctx, "spring"); err != nil || !strings.HasPrefix(string(b), "Record,EmailAddress,") || !strings.Contains(string(b), "folder,alice@example.com,synced,INBOX") {
		t.Errorf("ReportCSV(spring) = %q, %v", b, err)
	}
	if err := c.RemoveBatch(ctx, "spring"); err != nil {
		t.Errorf("RemoveBatch = %v", err)
	}
	if err := c.RemoveEndpoint(ctx, "old"); err != nil {
		t.Errorf("RemoveEndpoint = %v", err)
	}
}

// TestClientErrorKinds checks that the service's error kinds survive the
// trip through HTTP.
func TestClientErrorKinds(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		is     error
	}{
		{"NotFound", fmt.Errorf("batch %q: %w", "x", service.ErrNotFound), 404, service.ErrNotFound},
		{"Conflict", fmt.Errorf("start: %w", service.ErrConflict), 409, service.ErrConflict},
		{"Invalid", fmt.Errorf("bad: %w", service.ErrInvalid), 422, service.ErrInvalid},
		{"Remote", fmt.Errorf("test endpoint %q: endpoint old 127.0.0.1:1143: connect for alice: dial tcp 127.0.0.1:1143: connect: connection refused: %w", "old", service.ErrRemote), 502, service.ErrRemote},
		{"Internal", errors.New("disk full"), 500, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, fake := setup(t)
			fake.Fail(tc.err)
			_, err := c.Batches(context.Background())
			var ae *Error
			if !errors.As(err, &ae) || ae.Status != tc.status {
				t.Fatalf("Batches() = %v; want an *Error with status %d", err, tc.status)
			}
			if tc.is != nil && (!errors.Is(err, tc.is) || err.Error() != tc.err.Error()) {
				t.Errorf("Batches() = %q; want %q wrapping %v", err, tc.err, tc.is)
			}
			if tc.is == nil && err.Error() != "internal error" {
				t.Errorf("Batches() = %q; want internal error", err)
			}
		})
	}
}

// TestClientProxyBadGateway: a proxy's 502, when the imapmigrate server
// behind it is down, is not an IMAP server's refusal.
func TestClientProxyBadGateway(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
	}))
	t.Cleanup(srv.Close)
	_, err := New(srv.URL, testToken).Batches(context.Background())
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || errors.Is(err, service.ErrRemote) {
		t.Errorf("Batches() through a proxy answering 502 = %v; want an *Error with status 502, not ErrRemote", err)
	}
}

func TestClientCSVProblems(t *testing.T) {
	c, _ := setup(t)
	ctx := context.Background()
	for _, name := range []string{"old", "new"} {
		if _, err := c.AddEndpoint(ctx, service.EndpointSpec{Endpoint: service.Endpoint{Name: name, Host: "h"}}); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := c.CreateBatch(ctx, service.BatchSpec{Name: "b", SourceEndpoint: "old", DestEndpoint: "new", CSV: "EmailAddress,UserName,Password\nok@x,a,p\nbob@,b,p\n"})
	var ce *service.CSVError
	if !errors.As(err, &ce) || !errors.Is(err, service.ErrInvalid) || len(ce.Problems) != 1 || ce.Problems[0].Line != 3 {
		t.Errorf("CreateBatch with a bad CSV = %v; want a CSVError (invalid input) with line 3", err)
	}
}

func TestClientUnauthorized(t *testing.T) {
	c, _ := setup(t)
	c.token = "wrong"
	_, err := c.Endpoints(context.Background())
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || !strings.Contains(ae.Message, "token") {
		t.Errorf("Endpoints() with a wrong token = %v; want a 401 *Error about the token", err)
	}
}

func TestClientUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := New(url, testToken).Batches(context.Background())
	var ce *ConnectError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "imapmigrate serve") {
		t.Errorf("Batches() on a closed server = %v; want a ConnectError naming %s and imapmigrate serve", err, url)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New(url, testToken).Batches(ctx); !errors.Is(err, context.Canceled) || errors.As(err, &ce) {
		t.Errorf("Batches() with a canceled context = %v; want context.Canceled", err)
	}
}

// TestClientForeignError checks the answer of something that is not our
// server, such as a proxy in front of it.
func TestClientForeignError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream connect error", http.StatusBadGateway)
	}))
	defer srv.Close()
	_, err := New(srv.URL, testToken).Batches(context.Background())
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 502 || !strings.Contains(err.Error(), "upstream connect error") {
		t.Errorf("Batches() through a failing proxy = %v; want a 502 *Error with the proxy's text", err)
	}
}
