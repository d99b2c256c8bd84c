package service_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestIncrementalSyncAtInterval: once a batch is synced, each user is
// synced again every IncrementalIntervalSeconds without anyone asking, and
// the pass brings new mail and changed flags over.
func TestIncrementalSyncAtInterval(t *testing.T) {
	t.Parallel()
	const interval = 10 * time.Second // the shortest a batch allows
	b := setup(t, setupOpts{users: 2, workers: 2, messagesBase: 5})
	ctx := b.ctx
	if _, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 2, nil), Options: service.BatchOptions{IncrementalIntervalSeconds: int64(interval / time.Second)},
		Start: true}); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("b1", time.Minute, service.BatchSynced)
	first := map[string]*service.User{"u01": b.user("u01"), "u02": b.user("u02")}
	for u, got := range first {
		if got.LastSync == nil || got.NextSync == nil || got.NextSync.Sub(*got.LastSync) != interval {
			t.Fatalf("%s after the initial sync: last %v, next %v; want the next %v after the last", u, got.LastSync, got.NextSync, interval)
		}
	}

	// The user gets new mail and, in a mail client, flags an old message.
	extra := testserver.Corpus(testserver.CorpusOptions{Seed: 200, Messages: 3, Folders: []string{"INBOX", "Sent"}, MinSize: 500, MaxSize: 1000})
	if err := testserver.Seed(ctx, b.src.Addr, "u01", b.password["u01"], extra); err != nil {
		t.Fatal(err)
	}
	b.toggleFlagged("u01")
	changed := time.Now()

	// A pass that started before the changes may have missed some: then
	// the one after it is the first to bring them all.
	passes := 1
	if u := b.user("u01"); u.Status != service.UserSynced || u.NextSync == nil || !u.NextSync.After(changed) {
		t.Logf("u01 was due or syncing when the changes were made: %+v", u)
		passes = 2
	}

	// The sync runs by itself when due: not before the interval, and not
	// long after it (scheduler poll, job fetch and a short pass).
	u2 := b.waitNextSync("u02", first["u02"], 4*interval)
	if d := u2.LastSync.Sub(*first["u02"].NextSync); d < 0 || d > interval {
		t.Errorf("u02: incremental sync finished %v after it was due (%v); want within %v", d, *first["u02"].NextSync, interval)
	}
	if u2.ItemsSynced != int64(len(b.corpus["u02"])) {
		t.Errorf("u02 after an incremental sync with no new mail: %d synced; want %d", u2.ItemsSynced, len(b.corpus["u02"]))
	}

	want := int64(len(b.corpus["u01"]) + len(extra))
	got := first["u01"]
	for range passes {
		got = b.waitNextSync("u01", got, 4*interval)
	}
	if got.ItemsSynced != want {
		t.Errorf("u01 after the incremental sync: %d synced; want %d", got.ItemsSynced, want)
	}
	if got.NextSync == nil || got.NextSync.Sub(*got.LastSync) < interval-time.Second || got.NextSync.Sub(*got.LastSync) > interval+time.Second {
		t.Errorf("u01 after the incremental sync: last %v, next %v; want the next about %v after the last", got.LastSync, got.NextSync, interval)
	}
	b.checkMirrored("u01")
}

// waitNextSync waits until the user finished a pass after prev's and is
// Synced again.
func (b *bundle) waitNextSync(user string, prev *service.User, timeout time.Duration) *service.User {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		u := b.user(user)
		if u.Status == service.UserSynced && u.LastSync != nil && u.LastSync.After(*prev.LastSync) {
			b.t.Logf("%s synced again at %v, %v after the previous sync", user, u.LastSync.Format(time.TimeOnly), u.LastSync.Sub(*prev.LastSync))
			return u
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s not synced again within %v of the last sync at %v: %+v\nlogs:\n%s", user, timeout, prev.LastSync, u, b.logs.tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// toggleFlagged flips \Flagged on the first INBOX message at the source
// and adds a keyword, as the user's own mail client would.
func (b *bundle) toggleFlagged(user string) {
	b.t.Helper()
	c, err := imapclient.DialInsecure(b.src.Addr, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, b.password[user]).Wait(); err != nil {
		b.t.Fatalf("login %s: %v", user, err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.t.Fatalf("select INBOX of %s: %v", user, err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) != 1 {
		b.t.Fatalf("fetch flags of INBOX 1 of %s = %v, %v", user, msgs, err)
	}
	flags := slices.DeleteFunc(slices.Clone(msgs[0].Flags), func(f imap.Flag) bool { return f == imap.Flag(`\Recent`) })
	if i := slices.Index(flags, imap.FlagFlagged); i >= 0 {
		flags = slices.Delete(flags, i, i+1)
	} else {
		flags = append(flags, imap.FlagFlagged)
	}
	flags = append(flags, "$Rescheduled")
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsSet, Silent: true, Flags: flags}, nil).Close(); err != nil {
		b.t.Fatalf("store flags %v on INBOX 1 of %s: %v", flags, user, err)
	}
	if err := c.Logout().Wait(); err != nil {
		b.t.Fatal(err)
	}
}

// TestSecretsNeverLeak runs a batch with recognisable passwords, one of
// them wrong, and looks for them everywhere the service writes: its log,
// every answer of its API, and the database on disk, where they are
// sealed. Removing the batch removes the sealed ones.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const (
		userCanary  = "Pw-Leak-Canary-1" // every source user's password begins so
		adminCanary = "Admin-Canary-2"
	)
	b := setup(t, setupOpts{users: 3, workers: 3, messagesBase: 2, passwordPrefix: userCanary + "-", adminPassword: adminCanary})
	ctx := b.ctx
	wrong := map[int]bool{2: true}

	var answers []any // everything the service answered, for JSON
	keep := func(v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		answers = append(answers, v)
	}
	// CSV files with problems: the answer names the rows, never their
	// passwords, even one cut in two by an unquoted comma.
	for _, csv := range []string{
		"EmailAddress,UserName,Password\nbob@,bob," + userCanary + "-bad\n",
		"EmailAddress,UserName,Password\ncarol@example.com,carol," + userCanary + ",split\n",
	} {
		_, _, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "bad", SourceEndpoint: "src", DestEndpoint: "dst", CSV: csv})
		var ce *service.CSVError
		if !errors.As(err, &ce) {
			t.Fatalf("CreateBatch with a bad CSV file = %v; want a *CSVError", err)
		}
		answers = append(answers, err.Error(), ce.Problems)
	}
	_, plan, err := b.svc.CreateBatch(ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 3, wrong), DryRun: true})
	keep(plan, err)
	_, _, err = b.svc.CreateBatch(ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 3, wrong), Start: true})
	keep(nil, err)
	b.waitBatch("b1", time.Minute, service.BatchSyncedWithErrors)
	if u := b.user("u02"); u.Status != service.UserFailed || !strings.Contains(u.LastError, "refused the login of u02") {
		t.Errorf("u02 with a wrong password: %s, %q; want Failed, naming the refused login", u.Status, u.LastError)
	}

	keep(b.svc.Endpoints(ctx))
	keep(b.svc.Endpoint(ctx, "dst"))
	keep(b.svc.Batches(ctx))
	keep(b.svc.Batch(ctx, "b1"))
	keep(b.svc.Users(ctx, "b1"))
	keep(b.svc.Report(ctx, "b1"))
	for i := 1; i <= 3; i++ {
		keep(b.svc.User(ctx, fmt.Sprintf("u%02d@example.com", i)))
	}
	keep(b.svc.TestEndpoint(ctx, "src", "u01", b.password["u01"]))
	// With the admin's credentials for a user: Dovecot's master user has
	// no mailbox of its own to test.
	keep(b.svc.TestEndpoint(ctx, "dst", "u01@example.com", ""))
	_, err = b.svc.TestEndpoint(ctx, "src", "u01", userCanary+"-typo")
	if !errors.Is(err, service.ErrRemote) {
		t.Errorf("TestEndpoint with a wrong password = %v; want ErrRemote", err)
	}
	answers = append(answers, fmt.Sprint(err))

	// Bad passwords, refused logins and a sync with debug logging
	// are all in the log now.
	canaries := []string{userCanary, adminCanary}
	for i := 1; i <= 3; i++ {
		// SASL PLAIN as each side would send it (RFC 4616).
		u := fmt.Sprintf("u%02d", i)
		canaries = append(canaries, base64Cores("\x00"+u+"\x00"+b.password[u])...)
		canaries = append(canaries, base64Cores(u+"@example.com\x00admin\x00"+adminCanary)...)
	}
	canaries = append(canaries, base64Cores(userCanary)...)
	canaries = append(canaries, base64Cores(adminCanary)...)

	answerJSON, err := json.Marshal(answers)
	if err != nil {
		t.Fatal(err)
	}
	noCanary(t, "the service's log", []byte(b.logs.String()), canaries)
	noCanary(t, "the service's answers", answerJSON, canaries)
	files := []string{b.dsn, b.dsn + "-wal", b.dsn + "-shm"}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		noCanary(t, f, data, canaries)
	}

	// The passwords are at rest, sealed; removing the batch blanks them at
	// once, then removes the rows.
	sealed := b.userPasswords()
	if len(sealed) != 3 {
		t.Fatalf("stored source passwords %q; want 3 sealed ones", sealed)
	}
	for _, s := range sealed {
		if !strings.HasPrefix(s, "v1:") {
			t.Errorf("stored source password %q is not sealed", s)
		}
	}
	if err := b.svc.RemoveBatch(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if left := b.userPasswords(); len(left) != 0 {
		t.Errorf("just after RemoveBatch: stored passwords %q; want none", left)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := b.svc.Batch(ctx, "b1"); errors.Is(err, service.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("batch not removed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var rows int
	if err := b.db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM batch_users`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("users left after the batch was removed: %d, %v", rows, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, s := range sealed {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds a removed user's sealed password %.12s...", f, s)
			}
		}
	}
}

// userPasswords returns the non-empty stored passwords of all users.
func (b *bundle) userPasswords() []string {
	b.t.Helper()
	rows, err := b.db.SQL().QueryContext(b.ctx, `SELECT source_password, dest_password FROM batch_users ORDER BY id`)
	if err != nil {
		b.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var src, dst string
		if err := rows.Scan(&src, &dst); err != nil {
			b.t.Fatal(err)
		}
		for _, s := range []string{src, dst} {
			if s != "" {
				out = append(out, s)
			}
		}
	}
	if err := rows.Err(); err != nil {
		b.t.Fatal(err)
	}
	return out
}

// base64Cores returns, for each of the three offsets s can have in a
// base64 stream, the characters that encode s alone: whatever surrounds
// s, its base64 form contains one of them.
func base64Cores(s string) []string {
	var out []string
	for pad := range 3 {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x00", pad) + s))
		enc = strings.TrimRight(enc, "=")
		if pad > 0 {
			enc = enc[4:] // the first group mixes in the bytes before s
		}
		if rest := (pad + len(s)) % 3; rest != 0 {
			enc = enc[:len(enc)-(rest+1)] // and the last those after it
		}
		if enc != "" {
			out = append(out, enc)
		}
	}
	return out
}

func noCanary(t *testing.T, where string, data []byte, canaries []string) {
	t.Helper()
	for _, c := range canaries {
		if i := bytes.Index(data, []byte(c)); i >= 0 {
			t.Errorf("%s holds secret %q: ...%s...", where, c, data[max(0, i-80):min(len(data), i+len(c)+80)])
		}
	}
}

// TestMetrics checks the Prometheus figures against what a batch did.
func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 3, workers: 3, messagesBase: 4})
	if _, _, err := b.svc.CreateBatch(b.ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 3, map[int]bool{2: true}), Start: true}); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("b1", time.Minute, service.BatchSyncedWithErrors)
	copied := len(b.corpus["u01"]) + len(b.corpus["u03"])
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"imapmigrate_messages_copied_total", nil, float64(copied)},
		{"imapmigrate_mailboxes", map[string]string{"status": service.UserSynced}, 2},
		{"imapmigrate_mailboxes", map[string]string{"status": service.UserFailed}, 1},
		{"imapmigrate_mailboxes", map[string]string{"status": service.UserQueued}, 0},
		{"imapmigrate_passes_total", map[string]string{"outcome": "ok"}, 2},
	}
	for _, tc := range tests {
		if got, err := gathered(b.metrics, tc.name, tc.labels); err != nil || got != tc.want {
			t.Errorf("%s%v = %v, %v; want %v", tc.name, tc.labels, got, err, tc.want)
		}
	}
	// Command latencies, by side: at least one APPEND per folder copied
	// into (Dovecot takes MULTIAPPEND: one command per group of messages).
	for _, l := range []map[string]string{{"side": "source", "command": "UID FETCH"}, {"side": "destination", "command": "APPEND"}} {
		if n, err := gathered(b.metrics, "imapmigrate_imap_command_seconds", l); err != nil || n < 1 || (l["command"] == "APPEND" && n < 6) {
			t.Errorf("imapmigrate_imap_command_seconds%v: %v observations, %v", l, n, err)
		}
	}
}

// gathered returns the value of the metric with exactly these labels.
func gathered(reg *prometheus.Registry, name string, labels map[string]string) (float64, error) {
	families, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), nil
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), nil
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), nil
			}
			return 0, fmt.Errorf("%s is not a counter, gauge or histogram", name)
		}
		return 0, fmt.Errorf("%s has no series %v", name, labels)
	}
	return 0, fmt.Errorf("no metric %s", name)
}

// TestEndpointTestErrors: a refused login and an unreachable server are
// ErrRemote, in words that name the endpoint, address and user and quote
// the server.
func TestEndpointTestErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 1})
	ctx := b.ctx
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().(*net.TCPAddr)
	closed.Close()
	if _, err := b.svc.AddEndpoint(ctx, service.EndpointSpec{Endpoint: service.Endpoint{Name: "gone", Host: "127.0.0.1",
		Port: closedAddr.Port, Security: "none"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, endpoint, user, password string
		want                           []string
	}{
		{"WrongPassword", "src", "u01", "not-the-password",
			[]string{`test endpoint "src": endpoint src ` + b.src.Addr, "u01", "AUTHENTICATIONFAILED"}},
		{"Unreachable", "gone", "u01", "pw",
			[]string{`test endpoint "gone": endpoint gone 127.0.0.1:` + strconv.Itoa(closedAddr.Port), "u01", "connection refused"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.svc.TestEndpoint(ctx, tc.endpoint, tc.user, tc.password)
			if !errors.Is(err, service.ErrRemote) {
				t.Fatalf("TestEndpoint(%s, %s) = %v; want ErrRemote", tc.endpoint, tc.user, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("TestEndpoint(%s, %s) = %q; want it to say %q", tc.endpoint, tc.user, err, w)
				}
			}
			if strings.Contains(err.Error(), tc.password) {
				t.Errorf("TestEndpoint(%s, %s) = %q; it holds the password", tc.endpoint, tc.user, err)
			}
		})
	}
	if _, err := b.svc.TestEndpoint(ctx, "nope", "u01", "pw"); errors.Is(err, service.ErrRemote) || !errors.Is(err, service.ErrNotFound) {
		t.Errorf("TestEndpoint of an unknown endpoint = %v; want not found, not ErrRemote", err)
	}
}
