package service_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imapmigrate/imapmigrate/internal/secret"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/store"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// bundle is what a service test works with: two real Dovecots and a
// running service on its own database.
type bundle struct {
	t        *testing.T
	ctx      context.Context
	src, dst *testserver.Dovecot
	svc      *service.Service
	db       *store.DB
	dsn      string // the SQLite file or the PostgreSQL URL
	logs     *syncBuffer
	corpus   map[string][]testserver.Message
	password map[string]string // source user (u01...) → password
	pwPrefix string
	trace    bool // the service logs at service.LevelTrace, IMAP transcript included
	// metrics is the registry of the running service's Metrics.
	metrics *prometheus.Registry
	// staleAfter is the service's StaleAfter (0: its default).
	staleAfter time.Duration
	// dns is the service's DNS resolver and check interval.
	dns setupDNS
}

// setupDNS points the service's cut-over checks at a test DNS server.
type setupDNS struct {
	resolver string        // HOST:PORT
	interval time.Duration // Config.DNSCheckInterval
}

type setupOpts struct {
	users        int    // source users u01..uNN with password pwNN (see passwordPrefix)
	missingDest  string // a user without a destination mailbox
	postgres     bool
	srcCap       int
	workers      int
	messagesBase int
	// passwordPrefix replaces "pw" in the source users' passwords.
	passwordPrefix string
	// adminPassword is the destination's master password, given to the
	// dst endpoint. Defaults to "master secret".
	adminPassword string
	// delay, when set, puts a testserver.StartDelayProxy with this one-way
	// delay in front of both endpoints, so that passes last long enough to
	// be caught mid-way (a destination takes 16 APPENDs per round trip).
	// Seeding and checks go direct.
	delay time.Duration
	// dstConnLimit caps each user's connections from one IP at the
	// destination (Dovecot's mail_max_userip_connections).
	dstConnLimit int
	// dstQuotaKB, when > 0, is each destination mailbox's quota.
	dstQuotaKB int
	// trace turns the service's IMAP transcript on (Config.Trace) and logs
	// at service.LevelTrace.
	trace bool
	// staleAfter is the service's StaleAfter (0: its default of 14 days).
	staleAfter time.Duration
	// dns points the service at a DNS server (dnstest).
	dns setupDNS
	// srcOAuth and dstOAuth turn on XOAUTH2 and OAUTHBEARER logins at the
	// source and the destination (testserver.DovecotOAuth2).
	srcOAuth, dstOAuth testserver.DovecotOAuth2
}

func setup(t *testing.T, o setupOpts) *bundle {
	t.Helper()
	ctx := t.Context()
	if o.passwordPrefix == "" {
		o.passwordPrefix = "pw"
	}
	if o.adminPassword == "" {
		o.adminPassword = "master secret"
	}
	srcUsers, dstUsers := map[string]string{}, map[string]string{}
	for i := 1; i <= o.users; i++ {
		u := fmt.Sprintf("u%02d", i)
		srcUsers[u] = fmt.Sprintf("%s%02d", o.passwordPrefix, i)
		if u != o.missingDest {
			dstUsers[u+"@example.com"] = "dest-" + u
		}
	}
	src := testserver.StartDovecot(t, testserver.DovecotConfig{Users: srcUsers, OAuth2: o.srcOAuth})
	dst := testserver.StartDovecot(t, testserver.DovecotConfig{Users: dstUsers, MasterUser: "admin", MasterPassword: o.adminPassword,
		MaxUserIPConnections: o.dstConnLimit, QuotaStorageKB: o.dstQuotaKB, OAuth2: o.dstOAuth})

	b := &bundle{t: t, ctx: ctx, src: src, dst: dst, logs: &syncBuffer{}, corpus: map[string][]testserver.Message{},
		password: srcUsers, pwPrefix: o.passwordPrefix}
	// A failure in CI is often one that does not come back on a quiet
	// machine: the service's own words are what is left to read then.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service log (last 150 lines):\n%s", b.logs.tail(150))
		}
	})
	for i := 1; i <= o.users; i++ {
		u := fmt.Sprintf("u%02d", i)
		msgs := testserver.Corpus(testserver.CorpusOptions{Seed: int64(i), Messages: o.messagesBase + i,
			Folders: []string{"INBOX", "Sent", "Archive/2019"}, MinSize: 500, MaxSize: 3000})
		if err := testserver.Seed(ctx, src.Addr, u, srcUsers[u], msgs); err != nil {
			t.Fatal(err)
		}
		b.corpus[u] = msgs
	}

	dsn := filepath.Join(t.TempDir(), "imapmigrate.db")
	if o.postgres {
		dsn = testserver.StartPostgres(t)
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b.db, b.dsn = db, dsn
	b.trace, b.staleAfter, b.dns = o.trace, o.staleAfter, o.dns
	b.svc = b.startService(o.workers)

	add := func(name, addr string, spec service.EndpointSpec) {
		host, port, _ := net.SplitHostPort(addr)
		spec.Name, spec.Host, spec.Security = name, host, "none"
		spec.Port, _ = strconv.Atoi(port)
		if _, err := b.svc.AddEndpoint(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	srcAddr, dstAddr := src.Addr, dst.Addr
	if o.delay > 0 {
		srcAddr = testserver.StartDelayProxy(t, src.Addr, o.delay)
		dstAddr = testserver.StartDelayProxy(t, dst.Addr, o.delay)
	}
	add("src", srcAddr, service.EndpointSpec{Endpoint: service.Endpoint{MaxConcurrentMigrations: o.srcCap}})
	add("dst", dstAddr, service.EndpointSpec{Endpoint: service.Endpoint{Credentials: service.CredentialsAdmin,
		AdminFormat: service.AdminAuthzid, AdminUser: "admin"}, AdminPassword: o.adminPassword})
	return b
}

var testKey = func() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}()

func (b *bundle) startService(workers int) *service.Service {
	key, err := secret.NewKey(testKey)
	if err != nil {
		b.t.Fatal(err)
	}
	b.metrics = prometheus.NewRegistry()
	level := slog.LevelDebug
	if b.trace {
		level = service.LevelTrace
	}
	svc, err := service.New(b.ctx, service.Config{
		DB: b.db, Key: key, Workers: workers, Connections: 2, Scheduler: true,
		Metrics: service.NewMetrics(b.metrics, b.db.SQL()),
		Poll:    100 * time.Millisecond, LeaseTTL: 3 * time.Second, JobSlice: time.Minute, ThrottleBackoff: 500 * time.Millisecond,
		StorageRetry: time.Second, Trace: b.trace, StaleAfter: b.staleAfter,
		DNSResolver: b.dns.resolver, DNSCheckInterval: b.dns.interval,
		Logger: slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		b.t.Fatal(err)
	}
	if err := svc.Start(b.ctx); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { svc.Stop(5 * time.Second) })
	return svc
}

// csv writes a batch CSV for users first..last, with the given wrong
// passwords (the prefix, then "wrong").
func (b *bundle) csv(first, last int, wrong map[int]bool) string {
	var sb strings.Builder
	sb.WriteString("EmailAddress,UserName,Password\n")
	for i := first; i <= last; i++ {
		pw := b.password[fmt.Sprintf("u%02d", i)]
		if wrong[i] {
			pw = b.pwPrefix + "wrong"
		}
		fmt.Fprintf(&sb, "u%02d@example.com,u%02d,%s\n", i, i, pw)
	}
	return sb.String()
}

// waitBatch waits until the batch is in one of states.
func (b *bundle) waitBatch(name string, timeout time.Duration, states ...string) *service.Batch {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		bt, err := b.svc.Batch(b.ctx, name)
		if err != nil {
			b.t.Fatal(err)
		}
		for _, s := range states {
			if bt.State == s {
				return bt
			}
		}
		if time.Now().After(deadline) {
			users, _ := b.svc.Users(b.ctx, name)
			b.t.Fatalf("batch %s is %s after %v, want %v; users: %+v\nlogs:\n%s", name, bt.State, timeout, states, users, b.logs.tail(60))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// user returns the status of user (u01...) from the service.
func (b *bundle) user(email string) *service.User {
	b.t.Helper()
	u, err := b.svc.User(b.ctx, email+"@example.com")
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// checkMirrored compares a user's source and destination mailboxes: every
// message, with its bytes, flags and date.
func (b *bundle) checkMirrored(user string) {
	b.t.Helper()
	srcSnap, err := testserver.Take(b.ctx, b.src.Addr, user, b.password[user])
	if err != nil {
		b.t.Fatal(err)
	}
	dstSnap, err := testserver.Take(b.ctx, b.dst.Addr, user+"@example.com", "dest-"+user)
	if err != nil {
		b.t.Fatal(err)
	}
	mapping := map[string]string{}
	for name := range srcSnap.Folders {
		mapping[name] = name
	}
	for _, d := range testserver.CompareFolders(srcSnap, dstSnap, mapping, nil) {
		b.t.Errorf("%s: %s", user, d)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *syncBuffer) tail(n int) string {
	lines := strings.Split(s.String(), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
