package service_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imapmigrate/imapmigrate/internal/secret"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestConnectionsAdapt: a destination that allows a user two connections
// (Dovecot's mail_max_userip_connections, which answers NO [LIMIT] at
// LOGIN) and a service that opens four per mailbox. The refused extra
// connections lower the destination endpoint's count, shown in the API,
// the log and the metrics; the user ends Synced with every message once;
// a restarted service keeps the count; passes without throttling win the
// connections back. On PostgreSQL, where several workers share the count.
func TestConnectionsAdapt(t *testing.T) {
	t.Parallel()
	// 700 messages: enough for the engine to open all four lanes (one
	// per 200 messages to copy).
	b := setup(t, setupOpts{users: 1, workers: 1, messagesBase: 700, dstConnLimit: 2, postgres: true})
	tune := func(c *service.Config) { c.Connections, c.RecoverPasses = 4, 1 }
	b.svc = restartTuned(b, tune)
	if _, _, err := b.svc.CreateBatch(b.ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 1, nil), Start: true}); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("b1", 2*time.Minute, service.BatchSynced)
	if u := b.user("u01"); u.Status != service.UserSynced || u.ItemsSynced != int64(len(b.corpus["u01"])) {
		t.Errorf("u01: %s, %d items synced; want Synced, %d", u.Status, u.ItemsSynced, len(b.corpus["u01"]))
	}
	b.checkMirrored("u01")

	src, dst := b.endpoint("src"), b.endpoint("dst")
	if dst.DestConnections >= 4 || dst.DestConnections < 1 {
		t.Errorf("dst after [LIMIT] answers: %d destination connections; want fewer than 4", dst.DestConnections)
	}
	if src.SourceConnections != 4 {
		t.Errorf("src, which never throttled: %d source connections; want 4", src.SourceConnections)
	}
	logs := b.logs.String()
	if !strings.Contains(logs, `msg="Fewer connections per mailbox to a server that throttles." endpoint=dst side=destination from=4 to=2`) ||
		!strings.Contains(logs, "[LIMIT]") {
		t.Errorf("the log does not say that dst went from 4 to 2 connections and why:\n%s", b.logs.tail(40))
	}
	if n, err := gathered(b.metrics, "imapmigrate_endpoint_connections", map[string]string{"endpoint": "dst", "side": "destination"}); err != nil || int(n) != dst.DestConnections {
		t.Errorf("imapmigrate_endpoint_connections{dst, destination} = %v, %v; want %d", n, err, dst.DestConnections)
	}

	lowered := dst.DestConnections
	b.svc = restartTuned(b, tune)
	if got := b.endpoint("dst").DestConnections; got != lowered {
		t.Errorf("after a restart: %d destination connections; want still %d", got, lowered)
	}

	// Each incremental pass (no new mail: one connection, no throttling)
	// wins one back, up to the configured 4.
	for pass := 1; b.endpoint("dst").DestConnections < 4; pass++ {
		if pass > 4 {
			t.Fatalf("after %d calm passes dst has %d destination connections; want 4", pass-1, b.endpoint("dst").DestConnections)
		}
		last := b.user("u01").LastSync
		if _, err := b.svc.SyncNow(b.ctx, "b1"); err != nil {
			t.Fatal(err)
		}
		b.waitUser("u01", time.Minute, func(u *service.User) bool {
			return u.Status == service.UserSynced && u.LastSync != nil && u.LastSync.After(*last)
		})
	}
	if !strings.Contains(b.logs.String(), `msg="One more connection per mailbox to a server that stopped throttling." endpoint=dst side=destination from=3 to=4 reason="passes without throttling: 1"`) {
		t.Errorf("the log does not say that dst went back to 4:\n%s", b.logs.tail(40))
	}
}

// restartTuned stops the bundle's service and starts another on its
// database, with the bundle's test settings changed by tune.
func restartTuned(b *bundle, tune func(*service.Config)) *service.Service {
	b.t.Helper()
	if err := b.svc.Stop(5 * time.Second); err != nil {
		b.t.Fatal(err)
	}
	key, err := secret.NewKey(testKey)
	if err != nil {
		b.t.Fatal(err)
	}
	b.metrics = prometheus.NewRegistry()
	cfg := service.Config{
		DB: b.db, Key: key, Workers: 4, Connections: 2, Scheduler: true,
		Metrics: service.NewMetrics(b.metrics, b.db.SQL()),
		Poll:    100 * time.Millisecond, LeaseTTL: 3 * time.Second, JobSlice: time.Minute, ThrottleBackoff: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	tune(&cfg)
	svc, err := service.New(b.ctx, cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := svc.Start(b.ctx); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { svc.Stop(5 * time.Second) })
	return svc
}

func (b *bundle) endpoint(name string) *service.Endpoint {
	b.t.Helper()
	e, err := b.svc.Endpoint(b.ctx, name)
	if err != nil {
		b.t.Fatal(err)
	}
	return e
}

// waitUser waits until ok says the user (u01...) is as wanted.
func (b *bundle) waitUser(user string, timeout time.Duration, ok func(*service.User) bool) *service.User {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		u := b.user(user)
		if ok(u) {
			return u
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s after %v: %+v\nlogs:\n%s", user, timeout, u, b.logs.tail(60))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
