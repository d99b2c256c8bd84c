package testserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresUser is both the system user that runs the server when the tests
// run as root (initdb refuses root) and the superuser role that initdb
// creates, which the returned URLs log in as.
const postgresUser = "postgres"

// postgresCluster is a PostgreSQL cluster of the test binary's own: a data
// directory under a short temporary directory, a postmaster listening on a
// free 127.0.0.1 port, and its Unix socket in that same directory so that it
// can never clash with a system cluster.
type postgresCluster struct {
	port int
	dir  string // holds data/, the socket, and postgres.log

	bin     string              // directory of initdb and postgres
	cred    *syscall.Credential // the postgres user's, when running as root; nil otherwise
	proc    *exec.Cmd
	exited  chan struct{} // closed once proc has been waited for
	reaper  *os.File      // write end of the reaper's stdin; see startReaper
	started time.Duration // initdb + start-up + first ping
}

// shared is the process's one cluster. Every StartPostgres gets a database
// of its own on it: CREATE DATABASE takes tens of milliseconds where a new
// cluster takes half a second of initdb.
var shared struct {
	mu  sync.Mutex
	pg  *postgresCluster
	err error // a failed start is not retried: every later caller fails alike
}

var databaseSeq atomic.Int64

// StartPostgres returns the URL of a new, empty database for the test,
// postgres://postgres@127.0.0.1:PORT/NAME?sslmode=disable, and drops it in
// tb.Cleanup (WITH (FORCE), so connections the test leaked do not stop it).
// Each call makes another database, so parallel tests never share tables.
//
// The databases live on one cluster per test binary, started on first use
// with durability off (fsync, synchronous_commit and full_page_writes) and
// max_connections = 200. There is no TestMain hook to stop it, so the
// cluster stops itself when the test binary exits, whatever the cause: on
// Linux the kernel sends the postmaster SIGQUIT (immediate shutdown) when
// its parent dies, and a small reaper process makes sure of it and removes
// the directory (see startReaper).
//
// The test is skipped unless IMAPMIGRATE_INTEGRATION=1; with it set, a
// missing PostgreSQL fails the test. When the test fails, the server log
// lines of its database (and those of no database, such as a crash) are
// written to the test log.
func StartPostgres(tb testing.TB) (url string) {
	tb.Helper()
	bin := requirePostgres(tb)

	shared.mu.Lock()
	if shared.pg == nil && shared.err == nil {
		shared.pg, shared.err = startPostgresCluster(bin)
		if shared.err == nil {
			tb.Logf("postgres: cluster in %s on port %d started in %v", shared.pg.dir, shared.pg.port, shared.pg.started.Round(time.Millisecond))
		}
	}
	pg, err := shared.pg, shared.err
	shared.mu.Unlock()
	if err != nil {
		tb.Fatalf("start postgres: %v", err)
	}

	name := databaseName(tb.Name())
	logStart := pg.logSize()
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("postgres log for database %s (%s):\n%s", name, pg.dir, pg.logOf(name, logStart))
		}
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		if err := pg.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := pg.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	return pg.url(name)
}

// databaseName makes a unique database name that shows which test owns it
// in the server log: t<seq>_<test name>, lower case, within the 63 bytes of
// a PostgreSQL identifier.
func databaseName(test string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t%d_", databaseSeq.Add(1))
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 63 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// requirePostgres returns the directory of the PostgreSQL binaries, or
// skips the test, or fails it when IMAPMIGRATE_INTEGRATION=1 says it must run.
func requirePostgres(tb testing.TB) string {
	tb.Helper()
	if os.Getenv(IntegrationEnv) != "1" {
		tb.Skipf("PostgreSQL tests run only with %s=1 (and PostgreSQL installed: scripts/deps.sh)", IntegrationEnv)
	}
	bin, err := postgresBin()
	if err == nil && os.Geteuid() == 0 {
		_, err = postgresCredential()
	}
	if err != nil {
		tb.Fatalf("%v; run scripts/deps.sh to install PostgreSQL (%s=1 requires it)", err, IntegrationEnv)
	}
	return bin
}

// postgresBin finds the server binaries: the highest version under Debian's
// /usr/lib/postgresql/<version>/bin, else the directory of an initdb on
// PATH (other systems install them there).
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestVersion := "", -1.0
	for _, dir := range dirs {
		// Versions are 9.6, 10 … 17: compare them as numbers, not strings.
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		if err != nil || v <= bestVersion {
			continue
		}
		if isExecutable(filepath.Join(dir, "postgres")) && isExecutable(filepath.Join(dir, "initdb")) {
			best, bestVersion = dir, v
		}
	}
	if best != "" {
		return best, nil
	}
	if initdb, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(initdb)
		if isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", errors.New("postgresql server not found in /usr/lib/postgresql/*/bin or on PATH")
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// postgresCredential is the postgres system user's, which Debian's package
// creates: initdb and postgres refuse to run as root.
func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup(postgresUser)
	if err != nil {
		return nil, fmt.Errorf("look up system user %s: %w", postgresUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of %s: %w", postgresUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of %s: %w", postgresUser, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// startPostgresCluster makes and starts a cluster. Its directory is removed
// when the test binary exits; on error everything is already gone.
func startPostgresCluster(bin string) (*postgresCluster, error) {
	begin := time.Now()
	// A short directory of our own rather than tb.TempDir: the socket path
	// must stay within the 107 bytes of a Unix socket address, and the
	// cluster outlives the test that started it.
	dir, err := os.MkdirTemp("", "pg")
	if err != nil {
		return nil, err
	}
	p := &postgresCluster{dir: dir, bin: bin}
	fail := func(err error) (*postgresCluster, error) {
		p.stop()
		return nil, err
	}
	if os.Geteuid() == 0 {
		if p.cred, err = postgresCredential(); err != nil {
			return fail(err)
		}
		if err := makeTraversable(dir); err != nil {
			return fail(err)
		}
		if err := os.Chown(dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return fail(fmt.Errorf("chown %s: %w", dir, err))
		}
	}
	if err := p.startReaper(); err != nil {
		return fail(err)
	}
	if err := p.initdb(); err != nil {
		return fail(err)
	}
	// A free port is found by binding :0 and closing it; another process
	// may take it before the postmaster binds, so retry with fresh ports.
	for attempt := 1; ; attempt++ {
		if p.port, err = freePort(); err != nil {
			return fail(err)
		}
		err = p.launch()
		if err == nil {
			break
		}
		if !errors.Is(err, errAddrInUse) || attempt == 5 {
			return fail(err)
		}
	}
	p.started = time.Since(begin)
	return p, nil
}

// startReaper starts a shell, in a process group of its own so that a ^C
// at the terminal does not reach it, that waits for end of file on its
// standard input. Only this process holds the write end of that pipe
// (os.Pipe sets close-on-exec, so no child inherits it), so the end of
// file comes when the test binary exits, however it exits. The reaper then
// makes sure the postmaster is gone and removes the directory.
func (p *postgresCluster) startReaper() error {
	const script = `trap '' HUP INT
read -r _
pidfile="$1/data/postmaster.pid"
if [ -f "$pidfile" ]; then
	pid=$(head -n 1 "$pidfile")
	# The postmaster normally got SIGQUIT from the kernel already; the
	# name check keeps a stale pid file from killing a stranger.
	name=$(cat "/proc/$pid/comm" 2>/dev/null || ps -o comm= -p "$pid" 2>/dev/null)
	case "$name" in *postgres*) kill -QUIT "$pid" 2>/dev/null ;; esac
	i=0
	while [ -f "$pidfile" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
fi
rm -rf "$1"
`
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start reaper: %w", err)
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", script, "reaper", p.dir)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start reaper: %w", err)
	}
	// Reap it when it ends early (Stop); after the test binary exits, init
	// does.
	go cmd.Wait()
	p.reaper = w
	return nil
}

// command runs a PostgreSQL binary as the postgres user (when root), in
// Dir, without the PG* variables of the caller's environment that would
// point it elsewhere.
func (p *postgresCluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = postgresProcAttr(p.cred)
	return cmd
}

func (p *postgresCluster) initdb() error {
	cmd := p.command("initdb",
		"--pgdata", filepath.Join(p.dir, "data"),
		"--auth", "trust", // only 127.0.0.1 and a socket in our directory can reach it
		"--username", postgresUser,
		"--encoding", "UTF8",
		"--locale", "C",
		"--no-sync")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// launch starts the postmaster as our child and waits until it answers.
func (p *postgresCluster) launch() error {
	logFile, err := os.OpenFile(p.logPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open postgres log: %w", err)
	}
	defer logFile.Close()
	cmd := p.command("postgres",
		"-D", filepath.Join(p.dir, "data"),
		"-p", strconv.Itoa(p.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+p.dir,
		// Durability is worthless for a database that dies with the test.
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
		// %q ends the prefix for background processes, so a line with a
		// db= is a session's and can be matched to its test's database.
		"-c", "log_line_prefix=%m [%p] %qdb=%d ",
		"-c", "log_checkpoints=off")
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	p.proc, p.exited = cmd, exited

	if err := p.waitReady(); err != nil {
		p.stopServer()
		log := p.readLog(0)
		for _, text := range []string{"Address already in use", "could not create any TCP/IP sockets"} {
			if strings.Contains(log, text) {
				return fmt.Errorf("%w: %v", errAddrInUse, err)
			}
		}
		return fmt.Errorf("%w\nlog:\n%s", err, lastBytes(log, 2000))
	}
	return nil
}

// waitReady connects and pings until the server answers, the postmaster
// exits, or startTimeout passes.
func (p *postgresCluster) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-p.exited:
			return errors.New("postgres exited during start-up")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, p.url("postgres"))
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready on port %d after %v: %w", p.port, startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *postgresCluster) url(database string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", postgresUser, net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)), database)
}

// exec runs one statement on the maintenance database "postgres" over a
// connection of its own, so parallel callers need no locking.
func (p *postgresCluster) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, p.url("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// stop stops the postmaster, if it runs, and removes the directory. Only a
// failed start calls it: the shared cluster lives as long as the process.
func (p *postgresCluster) stop() {
	p.stopServer()
	os.RemoveAll(p.dir)
	if p.reaper != nil {
		p.reaper.Close()
	}
}

// stopServer sends SIGQUIT, PostgreSQL's immediate shutdown (no checkpoint;
// nothing here is worth keeping), and waits for the postmaster, which itself
// waits for its children.
func (p *postgresCluster) stopServer() {
	if p.proc == nil {
		return
	}
	p.proc.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		p.proc.Process.Kill()
		<-p.exited
	}
	p.proc = nil
}

func (p *postgresCluster) logPath() string { return filepath.Join(p.dir, "postgres.log") }

func (p *postgresCluster) logSize() int64 {
	fi, err := os.Stat(p.logPath())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readLog returns the log from byte offset from.
func (p *postgresCluster) readLog(from int64) string {
	f, err := os.Open(p.logPath())
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.NewSectionReader(f, from, 1<<40))
	return string(b)
}

// logOf returns the log entries written since offset from that belong to
// database name or to no database at all (start-up, crashes, background
// processes): the other tests' sessions share the log and are left out.
// An entry starts with its timestamp; the lines that continue it (a
// multi-line statement) go with it.
func (p *postgresCluster) logOf(name string, from int64) string {
	var b strings.Builder
	keep := false
	for line := range strings.Lines(p.readLog(from)) {
		if startsWithTimestamp(line) {
			keep = strings.Contains(line, " db="+name+" ") || !strings.Contains(line, " db=")
		}
		if keep {
			b.WriteString(line)
		}
	}
	if b.Len() == 0 {
		return "(nothing)"
	}
	return b.String()
}

// startsWithTimestamp reports whether line begins with a %m timestamp,
// "2006-01-02 15:04:05.000 UTC".
func startsWithTimestamp(line string) bool {
	return len(line) > 10 && line[4] == '-' && line[7] == '-' &&
		!slices.ContainsFunc([]byte(line[:4]), func(c byte) bool { return c < '0' || c > '9' })
}

// lastBytes returns at most the last n bytes of s.
func lastBytes(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
