package main

// End-to-end tests of the migration service: `imapmigrate serve` (and
// `worker`) as real processes, driven by the real CLI, against real
// Dovecot servers and, for several workers, a real PostgreSQL.

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// site is a service under test: its environment (data directory, listen
// address, database) and its processes.
type site struct {
	t      *testing.T
	env    []string
	server string
	mu     sync.Mutex
	procs  map[string]*proc
}

type proc struct {
	cmd *exec.Cmd
	out *lockedBuf
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newSite(t *testing.T, database string, extraEnv ...string) *site {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := t.TempDir()
	s := &site{t: t, server: "http://" + addr, procs: map[string]*proc{}}
	s.env = append(os.Environ(),
		"IMAPMIGRATE_DATA="+data, "XDG_DATA_HOME="+filepath.Dir(data), "IMAPMIGRATE_LISTEN="+addr,
		"IMAPMIGRATE_SERVER="+s.server, "IMAPMIGRATE_DATABASE="+database,
		"IMAPMIGRATE_POLL=200ms", "IMAPMIGRATE_LEASE_TTL=3s", "IMAPMIGRATE_JOB_SLICE=5s",
		"IMAPMIGRATE_LOG_FORMAT=text", "IMAPMIGRATE_LOG_LEVEL=debug")
	s.env = append(s.env, extraEnv...)
	// The key file in the data directory, not a developer's key.
	s.env = append(s.env, "IMAPMIGRATE_SECRET_KEY=", "IMAPMIGRATE_TOKEN=")
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for name, p := range s.procs {
			p.cmd.Process.Kill()
			p.cmd.Wait()
			if t.Failed() {
				t.Logf("%s output (tail):\n%s", name, tailLines(p.out.String(), 40))
				if dir := os.Getenv("IMAPMIGRATE_TEST_LOGS"); dir != "" {
					os.WriteFile(filepath.Join(dir, name+".log"), []byte(p.out.String()), 0o644)
				}
			}
		}
	})
	return s
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// start runs `imapmigrate args...` in the background under name.
func (s *site) start(name string, args ...string) *proc {
	s.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = s.env
	p := &proc{cmd: cmd, out: &lockedBuf{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.procs[name] = p
	s.mu.Unlock()
	return p
}

// serve starts `imapmigrate serve` and waits until it answers.
func (s *site) serve() *proc {
	s.t.Helper()
	p := s.start("serve", "serve")
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.server + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("serve did not come up: %v\n%s", err, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends a process with sig and waits for it.
func (s *site) stop(name string, sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	p := s.procs[name]
	delete(s.procs, name)
	s.mu.Unlock()
	p.cmd.Process.Signal(sig)
	p.cmd.Wait()
}

// cli runs one CLI command and returns its exit code and output.
func (s *site) cli(args ...string) (code int, stdout, stderr string) {
	s.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = s.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		s.t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

// must runs a CLI command that must succeed.
func (s *site) must(args ...string) string {
	s.t.Helper()
	code, out, errOut := s.cli(args...)
	if code != 0 {
		s.t.Fatalf("imapmigrate %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// batch reads a batch with `batch status --json`.
func (s *site) batch(name string) service.Batch {
	s.t.Helper()
	var b service.Batch
	if err := json.Unmarshal([]byte(s.must("batch", "status", name, "--json")), &b); err != nil {
		s.t.Fatal(err)
	}
	return b
}

func (s *site) waitBatch(name string, timeout time.Duration, states ...string) service.Batch {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b := s.batch(name)
		for _, st := range states {
			if b.State == st {
				return b
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("batch %s is %s after %v; want %v\n%s", name, b.State, timeout, states, s.must("batch", "users", name))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *site) users(name string) map[string]service.User {
	s.t.Helper()
	var list []service.User
	if err := json.Unmarshal([]byte(s.must("batch", "users", name, "--json")), &list); err != nil {
		s.t.Fatal(err)
	}
	out := map[string]service.User{}
	for _, u := range list {
		out[u.EmailAddress] = u
	}
	return out
}

// mailUsers starts a source and a destination Dovecot with n users, seeds
// each source mailbox with msgs(i) messages, and writes the batch CSV.
type mailUsers struct {
	src, dst *testserver.Dovecot
	csv      string
	count    map[string]int
}

func startMailUsers(t *testing.T, n int, msgs func(i int) []testserver.Message) *mailUsers {
	srcUsers, dstUsers := map[string]string{}, map[string]string{}
	var sb strings.Builder
	sb.WriteString("EmailAddress,UserName,Password,DestinationUserName,DestinationPassword\n")
	for i := 1; i <= n; i++ {
		u := fmt.Sprintf("user%02d@example.com", i)
		srcUsers[u], dstUsers[u] = fmt.Sprintf("src pw %d", i), fmt.Sprintf("dst,pw;%d", i)
		fmt.Fprintf(&sb, "%s,%s,src pw %d,%s,\"dst,pw;%d\"\n", u, u, i, u, i)
	}
	m := &mailUsers{
		src:   testserver.StartDovecot(t, testserver.DovecotConfig{Users: srcUsers}),
		dst:   testserver.StartDovecot(t, testserver.DovecotConfig{Users: dstUsers}),
		csv:   sb.String(),
		count: map[string]int{},
	}
	for i := 1; i <= n; i++ {
		u := fmt.Sprintf("user%02d@example.com", i)
		list := msgs(i)
		if err := testserver.Seed(t.Context(), m.src.Addr, u, srcUsers[u], list); err != nil {
			t.Fatal(err)
		}
		m.count[u] = len(list)
	}
	return m
}

// checkUser compares one user's source and destination, message by
// message: bytes, flags and dates, nothing missing, nothing twice.
func (m *mailUsers) checkUser(t *testing.T, i int) {
	t.Helper()
	u := fmt.Sprintf("user%02d@example.com", i)
	src, err := testserver.Take(t.Context(), m.src.Addr, u, fmt.Sprintf("src pw %d", i))
	if err != nil {
		t.Fatal(err)
	}
	dst, err := testserver.Take(t.Context(), m.dst.Addr, u, fmt.Sprintf("dst,pw;%d", i))
	if err != nil {
		t.Fatal(err)
	}
	mapping := map[string]string{}
	for name := range src.Folders {
		mapping[name] = name
	}
	for _, d := range testserver.CompareFolders(src, dst, mapping, nil) {
		t.Errorf("%s: %s", u, d)
	}
}

func hostPort(t *testing.T, addr string) (string, string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// TestServeBatchFromTheCLI is what an admin does on one machine with the
// embedded database: endpoints, a CSV with a mistake, the fixed CSV, a
// batch that syncs while serve restarts, a report, complete, remove.
func TestServeBatchFromTheCLI(t *testing.T) {
	m := startMailUsers(t, 4, func(i int) []testserver.Message {
		return testserver.Corpus(testserver.CorpusOptions{Seed: int64(i), Messages: 40 * i,
			Folders: []string{"INBOX", "Sent", "Archive"}, MinSize: 1000, MaxSize: 6000})
	})
	s := newSite(t, "")
	s.serve()

	// Endpoints, and a connection test that shows what the server offers.
	host, port := hostPort(t, m.src.Addr)
	s.must("endpoint", "add", "src", "--host", host, "--port", port, "--security", "none")
	host, port = hostPort(t, m.dst.Addr)
	s.must("endpoint", "add", "dst", "--host", host, "--port", port, "--security", "none")
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("src pw 1\n"), 0o600)
	out := s.must("endpoint", "test", "src", "--user", "user01@example.com", "--password-file", pwFile)
	for _, want := range []string{"IMAP4rev1", "Separator"} {
		if !strings.Contains(strings.ToLower(out), strings.ToLower(want)) {
			t.Errorf("endpoint test output lacks %q:\n%s", want, out)
		}
	}

	// A CSV with mistakes: every one reported with its line, nothing created.
	dir := t.TempDir()
	bad := strings.Replace(m.csv, "user03@example.com,user03", "user03@,user03", 1) + "user01@example.com,x,y,z\n"
	os.WriteFile(filepath.Join(dir, "bad.csv"), []byte(bad), 0o600)
	code, _, errOut := s.cli("batch", "create", "b1", "--source-endpoint", "src", "--dest-endpoint", "dst", "--csv", filepath.Join(dir, "bad.csv"))
	if code != 2 || !strings.Contains(errOut, "line 4") || !strings.Contains(errOut, "line 6") {
		t.Errorf("batch create with a bad CSV: exit %d, stderr:\n%s\nwant exit 2 naming lines 4 and 6", code, errOut)
	}
	if strings.Contains(errOut, "src pw") || strings.Contains(errOut, "dst,pw") {
		t.Errorf("a password was printed:\n%s", errOut)
	}
	if code, _, _ := s.cli("batch", "status", "b1"); code == 0 {
		t.Error("a batch was created from a CSV with errors")
	}

	os.WriteFile(filepath.Join(dir, "users.csv"), []byte(m.csv), 0o600)
	s.must("batch", "create", "b1", "--source-endpoint", "src", "--dest-endpoint", "dst", "--csv", filepath.Join(dir, "users.csv"), "--start")

	// Restart serve while the batch syncs: it resumes where it was.
	time.Sleep(700 * time.Millisecond)
	s.stop("serve", syscall.SIGTERM)
	s.serve()

	b := s.waitBatch("b1", 2*time.Minute, service.BatchSynced, service.BatchSyncedWithErrors, service.BatchFailed)
	if b.State != service.BatchSynced || b.Totals.UsersByState[service.UserSynced] != 4 {
		t.Fatalf("batch after the initial sync: %s, users %v; want Synced with 4 users Synced", b.State, b.Totals.UsersByState)
	}
	for u, got := range s.users("b1") {
		if got.ItemsSynced != int64(m.count[u]) {
			t.Errorf("%s: %d items synced; want %d", u, got.ItemsSynced, m.count[u])
		}
	}
	for i := 1; i <= 4; i++ {
		m.checkUser(t, i)
	}

	// The report, as CSV: a user row per user with the figures.
	report := filepath.Join(dir, "report.csv")
	s.must("batch", "report", "b1", "--format", "csv", "--output", report)
	f, _ := os.ReadFile(report)
	records, err := csv.NewReader(bytes.NewReader(f)).ReadAll()
	if err != nil {
		t.Fatalf("report: %v\n%s", err, f)
	}
	userRows := 0
	for _, r := range records[1:] {
		if r[0] == "user" {
			userRows++
			if n, _ := strconv.Atoi(r[4]); n != m.count[r[1]] {
				t.Errorf("report row %v: ItemsSynced %d; want %d", r, n, m.count[r[1]])
			}
		}
	}
	if userRows != 4 {
		t.Errorf("report has %d user rows; want 4:\n%s", userRows, f)
	}

	s.must("batch", "complete", "b1")
	s.waitBatch("b1", time.Minute, service.BatchCompleted)
	s.must("batch", "remove", "b1")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _, _ := s.cli("batch", "status", "b1"); code != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("batch not removed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	m.checkUser(t, 2) // the mail stays
}

// TestWorkersSharePostgres runs serve and two workers on one PostgreSQL
// database, kills a worker in the middle of a mailbox, and checks what
// the source server saw: never more mailboxes at once than the endpoint's
// cap, never one mailbox by two workers at once; and at the end every
// message once at the destination.
func TestWorkersSharePostgres(t *testing.T) {
	const users, srcCap = 10, 3
	m := startMailUsers(t, users, func(i int) []testserver.Message {
		return testserver.Corpus(testserver.CorpusOptions{Seed: int64(i), Messages: 150,
			Folders: []string{"INBOX", "Sent"}, MinSize: 2000, MaxSize: 8000})
	})
	// The source is reached through a link with a 20 ms round trip, so that
	// a mailbox takes long enough to be caught mid-way, and through a
	// proxy that watches the logins.
	logins := testserver.StartLoginCounter(t, testserver.StartDelayProxy(t, m.src.Addr, 10*time.Millisecond))

	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	s := newSite(t, testserver.StartPostgres(t), "IMAPMIGRATE_CONNECTIONS=1")
	// Every process must open the same sealed passwords: one key for all.
	s.env = append(s.env, "IMAPMIGRATE_SECRET_KEY="+base64.StdEncoding.EncodeToString(key))
	// serve only answers and schedules: the two workers do the work.
	s.env = append(s.env, "IMAPMIGRATE_WORKERS=0")
	s.serve()
	s.env = append(s.env, "IMAPMIGRATE_WORKERS=2")
	w1 := s.start("worker1", "worker")
	s.start("worker2", "worker")

	host, port := hostPort(t, logins.Addr())
	s.must("endpoint", "add", "src", "--host", host, "--port", port, "--security", "none",
		"--max-concurrent-migrations", strconv.Itoa(srcCap), "--max-concurrent-incremental-syncs", "2")
	// The destination too: 16 APPENDs per 60 ms round trip make a
	// mailbox last long enough to be killed half-way on a fast machine.
	host, port = hostPort(t, testserver.StartDelayProxy(t, m.dst.Addr, 30*time.Millisecond))
	s.must("endpoint", "add", "dst", "--host", host, "--port", port, "--security", "none")
	csvPath := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(csvPath, []byte(m.csv), 0o600)
	s.must("batch", "create", "big", "--source-endpoint", "src", "--dest-endpoint", "dst", "--csv", csvPath, "--start")

	// Kill worker 1 with SIGKILL as soon as it is copying a mailbox.
	started := regexp.MustCompile(`msg="Sync started." batch=big user=(\S+)`)
	deadline := time.Now().Add(time.Minute)
	var victim string
	for victim == "" {
		if m := started.FindStringSubmatch(w1.out.String()); m != nil {
			victim = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("worker 1 never started a mailbox:\n%s", w1.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	s.stop("worker1", syscall.SIGKILL)
	killed := time.Now()
	if strings.Contains(w1.out.String(), "Sync finished.\" batch=big user="+victim) {
		t.Fatalf("worker 1 finished %s before it was killed: the test needs a slower mailbox", victim)
	}

	// Its mailbox is taken over once its lease and its job time out.
	b := s.waitBatch("big", 4*time.Minute, service.BatchSynced, service.BatchSyncedWithErrors, service.BatchFailed)
	if b.State != service.BatchSynced {
		t.Errorf("batch %s; want Synced", b.State)
	}
	for u, got := range s.users("big") {
		if got.Status != service.UserSynced || got.ItemsSynced != int64(m.count[u]) {
			t.Errorf("%s: %s with %d items synced; want Synced with %d", u, got.Status, got.ItemsSynced, m.count[u])
		}
	}
	for i := 1; i <= users; i++ {
		m.checkUser(t, i)
	}
	// The victim's mailbox logged in again on another worker: validation,
	// the killed pass, and the pass that took over.
	if n := logins.Logins()[victim]; n < 3 {
		t.Errorf("%s: %d logins at the source; want a new pass after the kill", victim, n)
	}
	t.Logf("%s was taken over and the batch synced %v after the kill", victim, time.Since(killed).Round(time.Second))
	if got := logins.MaxConcurrentUsers(); got > srcCap || got < 2 {
		t.Errorf("the source saw up to %d mailboxes at once; want at most the cap of %d (and some concurrency)", got, srcCap)
	}
	for u, n := range logins.MaxConcurrentPerUser() {
		if n > 1 {
			t.Errorf("%s was open %d times at once at the source (one connection per mailbox): two workers on one mailbox", u, n)
		}
	}
	t.Logf("source: at most %d mailboxes at once; logins %v", logins.MaxConcurrentUsers(), logins.Logins())
}

// TestServeResumesAfterKill kills serve (SIGKILL) on its embedded database
// in the middle of a batch: the restarted serve takes the mailboxes over at
// once (it holds the data directory alone, so nothing else can be running
// them) and every message arrives once. A second serve on the same data
// directory is refused.
func TestServeResumesAfterKill(t *testing.T) {
	m := startMailUsers(t, 3, func(i int) []testserver.Message {
		return testserver.Corpus(testserver.CorpusOptions{Seed: int64(i), Messages: 800,
			Folders: []string{"INBOX", "Sent"}, MinSize: 2000, MaxSize: 6000})
	})
	// The destination is reached over a 300 ms round trip: with a
	// MULTIAPPEND of 50 messages per round trip and a few round trips per
	// 100 messages, a mailbox takes seconds, long enough to be caught
	// half-way whatever the machine's speed.
	slow := testserver.StartDelayProxy(t, m.dst.Addr, 150*time.Millisecond)
	s := newSite(t, "", "IMAPMIGRATE_CONNECTIONS=1")
	s.serve()
	if code, _, errOut := s.cli("serve"); code != 2 || !strings.Contains(errOut, "another imapmigrate serve") {
		t.Errorf("a second serve on the same data directory: exit %d, %s; want 2 and why", code, errOut)
	}
	host, port := hostPort(t, m.src.Addr)
	s.must("endpoint", "add", "src", "--host", host, "--port", port, "--security", "none")
	host, port = hostPort(t, slow)
	s.must("endpoint", "add", "dst", "--host", host, "--port", port, "--security", "none")
	csvPath := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(csvPath, []byte(m.csv), 0o600)
	s.must("batch", "create", "b", "--source-endpoint", "src", "--dest-endpoint", "dst", "--csv", csvPath, "--start")

	// Kill once a mailbox is well into its pass, with most of it to go.
	deadline := time.Now().Add(time.Minute)
	var victim service.User
	for victim.EmailAddress == "" {
		for _, u := range s.users("b") {
			if u.Status == service.UserSyncing && u.ItemsCopied >= 1 && u.ItemsCopied < u.ItemsToCopy*3/4 {
				victim = u
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no mailbox was caught mid-pass")
		}
	}
	s.stop("serve", syscall.SIGKILL)
	killed := time.Now()
	restarted := s.serve()
	// The new serve takes the killed pass over at once; River alone would
	// wait three job slices (15 s here) plus up to its rescuer's 30 s period.
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(restarted.out.String(), `msg="Sync started." batch=b user=`+victim.EmailAddress) {
		if time.Now().After(deadline) {
			t.Fatalf("%s was not resumed within 5 s of the restart:\n%s", victim.EmailAddress, tailLines(restarted.out.String(), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
	resumed := time.Since(killed)
	if !strings.Contains(restarted.out.String(), "Resuming mailboxes that a stopped process left mid-pass.") {
		t.Error("the restarted serve did not say it resumed orphaned passes")
	}
	b := s.waitBatch("b", time.Minute, service.BatchSynced)
	t.Logf("%s was killed at %d of %d; resumed %v after the kill; the batch synced %v after it", victim.EmailAddress,
		victim.ItemsCopied, victim.ItemsToCopy, resumed.Round(100*time.Millisecond), time.Since(killed).Round(100*time.Millisecond))
	if b.Totals.ItemsSynced != 2400 {
		t.Errorf("items synced %d; want 2400", b.Totals.ItemsSynced)
	}
	for i := 1; i <= 3; i++ {
		m.checkUser(t, i)
	}
}
