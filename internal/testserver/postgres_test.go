package testserver

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgx.Connect(%q) = %v", dbURL, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// tables lists the tables of the public schema.
func tables(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	return names
}

func TestPostgresStoresRows(t *testing.T) {
	t.Parallel()
	dbURL := StartPostgres(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("url.Parse(%q) = %v", dbURL, err)
	}
	if u.Hostname() != "127.0.0.1" || u.Query().Get("sslmode") != "disable" || u.User.Username() != "postgres" {
		t.Errorf("StartPostgres() = %q; want postgres://postgres@127.0.0.1:PORT/NAME?sslmode=disable", dbURL)
	}
	conn := connect(t, dbURL)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `CREATE TABLE batches (id bigserial PRIMARY KEY, name text NOT NULL)`); err != nil {
		t.Fatalf("create table: %v", err)
	}
	for _, name := range []string{"first", "second"} {
		if _, err := conn.Exec(ctx, `INSERT INTO batches (name) VALUES ($1)`, name); err != nil {
			t.Fatalf("insert %q: %v", name, err)
		}
	}
	rows, _ := conn.Query(ctx, `SELECT name FROM batches ORDER BY id`)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	if strings.Join(got, ",") != "first,second" {
		t.Errorf("SELECT name FROM batches = %q; want [first second]", got)
	}
}

func TestPostgresGivesEachCallAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	url1, url2 := StartPostgres(t), StartPostgres(t)
	if url1 == url2 {
		t.Fatalf("StartPostgres() twice = %q both times; want two databases", url1)
	}
	conn1, conn2 := connect(t, url1), connect(t, url2)
	for _, conn := range []*pgx.Conn{conn1, conn2} {
		if got := tables(t, conn); len(got) != 0 {
			t.Errorf("tables of %s = %q; want none", conn.Config().Database, got)
		}
	}
	if _, err := conn1.Exec(context.Background(), `CREATE TABLE users (email text)`); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if got := tables(t, conn2); len(got) != 0 {
		t.Errorf("tables of %s after CREATE TABLE in %s = %q; want none", conn2.Config().Database, conn1.Config().Database, got)
	}
}

// Parallel tests that create the same table each get their own.
func TestPostgresParallelTests(t *testing.T) {
	t.Parallel()
	for i := range 6 {
		t.Run(fmt.Sprintf("Test%d", i), func(t *testing.T) {
			t.Parallel()
			conn := connect(t, StartPostgres(t))
			ctx := context.Background()
			if _, err := conn.Exec(ctx, `CREATE TABLE events (n int)`); err != nil {
				t.Fatalf("create table: %v", err)
			}
			if _, err := conn.Exec(ctx, `INSERT INTO events SELECT generate_series(1, $1::int)`, i); err != nil {
				t.Fatalf("insert: %v", err)
			}
			var n int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
				t.Fatalf("count: %v", err)
			}
			if n != i {
				t.Errorf("SELECT count(*) FROM events = %d; want %d", n, i)
			}
		})
	}
}

func TestPostgresDropsDatabaseAtCleanup(t *testing.T) {
	t.Parallel()
	var dbURL string
	t.Run("Leaky", func(t *testing.T) {
		dbURL = StartPostgres(t)
		// A connection the test forgets to close must not keep the
		// database alive.
		conn, err := pgx.Connect(context.Background(), dbURL)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		_ = conn
	})
	if dbURL == "" {
		t.Skip("no PostgreSQL: the subtest skipped")
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("url.Parse(%q) = %v", dbURL, err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	conn := connect(t, u.String())
	var exists bool
	if err := conn.QueryRow(context.Background(), `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatalf("look up database: %v", err)
	}
	if exists {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

// helperEnv makes the test binary act as TestPostgresHelperProcess only.
const helperEnv = "IMAPMIGRATE_TEST_POSTGRES_HELPER"

// TestPostgresHelperProcess is not a test: TestPostgresDiesWithTestBinary
// runs it in a child test binary, which starts the shared cluster, says
// where it is, and waits to be killed.
func TestPostgresHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestPostgresDiesWithTestBinary")
	}
	StartPostgres(t)
	fmt.Printf("cluster %s %d\n", shared.pg.dir, shared.pg.proc.Process.Pid)
	time.Sleep(time.Minute)
}

// The shared cluster has no TestMain to stop it: it must stop, and its
// directory go, when the test binary dies, even by SIGKILL.
func TestPostgresDiesWithTestBinary(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPostgresHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var dir string
	var pid int
	for sc := bufio.NewScanner(out); sc.Scan(); {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "cluster" {
			dir = f[1]
			pid, _ = strconv.Atoi(f[2])
			break
		}
	}
	if dir == "" || pid == 0 {
		cmd.Process.Kill()
		t.Fatalf("helper did not report its cluster (%v)", cmd.Wait())
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("cluster directory while the helper runs: %v", err)
	}

	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, statErr := os.Stat(dir)
		alive := syscall.Kill(pid, 0) == nil && processAlive(pid)
		if os.IsNotExist(statErr) && !alive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after SIGKILL of the test binary: postmaster %d alive = %v, directory %s: %v", pid, alive, dir, statErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
