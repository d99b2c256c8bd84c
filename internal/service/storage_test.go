package service_test

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"modernc.org/sqlite"

	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/store"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestSQLiteBusy: while a batch copies, another process holds the SQLite
// file's write lock (BEGIN IMMEDIATE) for longer than the service's
// busy_timeout, until a pass has stopped over it. The writes that time out
// stop their pass without failing the user or using up a retry; once the
// lock is gone the passes resume and every user ends Synced with every
// message once.
func TestSQLiteBusy(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 2, workers: 2, messagesBase: 2, delay: 10 * time.Millisecond})
	total := b.seedLarge(2, 250)
	// The service's statements queue for its one connection, and each
	// waits out the busy timeout in turn: 1 s rather than 10 s lets the
	// test reach an engine's write in seconds. The store keeps one
	// connection, but database/sql replaces it after a transaction whose
	// context ended (River's, timed out while the lock is held), so the
	// new one gets the setting too.
	shortBusyTimeout.Store(b.dsn, true)
	if _, err := b.db.SQL().ExecContext(b.ctx, `PRAGMA busy_timeout = 1000`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.svc.CreateBatch(b.ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 2, nil), Start: true}); err != nil {
		t.Fatal(err)
	}
	b.waitRecorded(20)

	other, err := sql.Open("sqlite", "file:"+b.dsn+"?_pragma=busy_timeout(60000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(b.ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	locked := time.Now()
	// At least three busy timeouts, and until a pass has stopped.
	deadline := locked.Add(2 * time.Minute)
	for time.Since(locked) < 3*time.Second || !pausedLine.MatchString(b.logs.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("the database has been locked for 2 minutes and no pass stopped\n%s", b.logs.tail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := conn.ExecContext(b.ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	t.Logf("the database was locked for %v", time.Since(locked).Round(100*time.Millisecond))

	b.waitBatch("b1", 2*time.Minute, service.BatchSynced)
	for i := 1; i <= 2; i++ {
		u := fmt.Sprintf("u%02d", i)
		b.checkSynced(u, total[u])
		b.checkMirrored(u)
	}
	b.checkPaused("database is locked", "the database is locked by another process")
}

// TestSQLiteFull: the SQLite file cannot grow any more in the middle of a
// batch (max_page_count set to its size on the service's connection, as a
// full disk would make SQLITE_FULL). The passes stop with the advice to
// free disk space, nothing is recorded that is not at the destination or
// twice, the workers pause rather than fail the users, and once there is
// room again the batch ends Synced with every message once.
func TestSQLiteFull(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 2, workers: 2, messagesBase: 2, delay: 10 * time.Millisecond})
	total := b.seedLarge(2, 250)
	if _, _, err := b.svc.CreateBatch(b.ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 2, nil), Start: true}); err != nil {
		t.Fatal(err)
	}
	b.waitRecorded(20)

	// The store keeps one connection, so this reaches the service's own.
	sqlDB := b.db.SQL()
	var pages int
	if err := sqlDB.QueryRowContext(b.ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	var free int
	if err := sqlDB.QueryRowContext(b.ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
		t.Fatal(err)
	}
	// Free pages would let the passes go on writing for a while (on a
	// loaded machine, to their end): a filler takes them first.
	var pageSize int
	if err := sqlDB.QueryRowContext(b.ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlDB.ExecContext(b.ctx, fmt.Sprintf(`CREATE TABLE test_filler AS SELECT zeroblob(%d) AS b`, (free+1)*pageSize)); err != nil {
		t.Fatal(err)
	}
	if err := sqlDB.QueryRowContext(b.ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if err := sqlDB.QueryRowContext(b.ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
		t.Fatal(err)
	}
	t.Logf("the database is %d pages, %d of them free", pages, free)
	if _, err := sqlDB.ExecContext(b.ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	full := time.Now()
	// Paused: the passes stopped, and were tried again and refused again
	// at least once, without failing anyone.
	const said = "the database is full: free disk space"
	deadline := time.Now().Add(time.Minute)
	for strings.Count(b.logs.String(), said) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the database has been full for a minute and the service said %q %d times; want 4 or more\n%s",
				said, strings.Count(b.logs.String(), said), b.logs.tail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if bt, err := b.svc.Batch(b.ctx, "b1"); err != nil || bt.State != service.BatchSyncing {
		t.Errorf("batch with a full database: %+v, %v; want still Syncing", bt, err)
	}
	for i := 1; i <= 2; i++ {
		u := fmt.Sprintf("u%02d", i)
		if got := b.user(u); got.Status == service.UserFailed || got.Status == service.UserSynced {
			t.Errorf("%s with a full database: %s (%s); want it paused mid-pass", u, got.Status, got.LastError)
		}
		b.checkRecordedAtDest(u)
	}

	if _, err := sqlDB.ExecContext(b.ctx, `PRAGMA max_page_count = 4294967294`); err != nil {
		t.Fatal(err)
	}
	t.Logf("the database was full for %v", time.Since(full).Round(100*time.Millisecond))
	b.waitBatch("b1", 2*time.Minute, service.BatchSynced)
	for i := 1; i <= 2; i++ {
		u := fmt.Sprintf("u%02d", i)
		b.checkSynced(u, total[u])
		b.checkMirrored(u)
	}
	b.checkPaused("database or disk is full", said)
}

// TestPostgresConnectionLost: with the workers on PostgreSQL, every
// connection of the service is killed by the server (pg_terminate_backend,
// from an admin's connection) three times during a batch. The passes that
// were writing pause and resume, pgx reconnects, River carries on, and the
// batch ends Synced with every message once.
func TestPostgresConnectionLost(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 3, workers: 3, messagesBase: 2, postgres: true, delay: 20 * time.Millisecond})
	total := b.seedLarge(3, 300)
	if _, _, err := b.svc.CreateBatch(b.ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 3, nil), Start: true}); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(b.ctx, b.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	recorded := 0
	// A kill that lands while no pass is writing is absorbed by pgx (it
	// pings connections idle for over a second) and pauses nothing, so
	// the test kills again, up to ten times, until a pass has felt it.
	paused := regexp.MustCompile(pausedLine.String() + ` advice="` + regexp.QuoteMeta("the connection to the PostgreSQL server was lost"))
	all := 0
	for _, n := range total {
		all += n
	}
	for kill := 1; kill <= 3 || (kill <= 10 && recorded+30 < all && !paused.MatchString(b.logs.String())); kill++ {
		// Each kill after the passes made progress since the last one:
		// they resumed.
		recorded = b.waitRecorded(recorded + 30)
		var killed int
		if err := admin.QueryRow(b.ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		if killed == 0 {
			t.Fatalf("kill %d: no connection of the service to terminate", kill)
		}
		t.Logf("kill %d: %d connections terminated with %d messages recorded", kill, killed, recorded)
	}
	// A pooled connection that was in use in the second before a kill
	// fails its next statement once (pgx pings only connections idle for
	// longer), so the test's own reads retry too.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var bt *service.Batch
		err := retryLost(func() (err error) { bt, err = b.svc.Batch(b.ctx, "b1"); return err })
		if err != nil {
			t.Fatal(err)
		}
		if bt.State == service.BatchSynced {
			break
		}
		if time.Now().After(deadline) || bt.State == service.BatchSyncedWithErrors || bt.State == service.BatchFailed {
			t.Fatalf("batch %s; want Synced\n%s", bt.State, b.logs.tail(60))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var users []service.User
	if err := retryLost(func() (err error) { users, err = b.svc.Users(b.ctx, "b1"); return err }); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		name := strings.TrimSuffix(u.EmailAddress, "@example.com")
		if u.Status != service.UserSynced || u.ItemsSynced != int64(total[name]) || u.ItemsFailed != 0 || u.LastError != "" {
			t.Errorf("%s: %s, %d synced, %d failed, error %q; want Synced with %d", name, u.Status, u.ItemsSynced, u.ItemsFailed, u.LastError, total[name])
		}
		b.checkMirrored(name)
	}
	b.checkPaused("terminating connection due to administrator command", "the connection to the PostgreSQL server was lost")
}

// pausedLine is the log line of a pass stopped by a database fault.
var pausedLine = regexp.MustCompile(`level=ERROR msg="The database refused a write; this mailbox's pass stopped and resumes by itself." user=u0\d@example.com`)

// checkPaused checks, at the end of a test that broke the database, that
// the break was felt (cause is in the log), said in words (advice) with
// the user's address, and that no pass counted it as a failure: no River
// attempt used up, no user failed.
func (b *bundle) checkPaused(cause, advice string) {
	b.t.Helper()
	logs := b.logs.String()
	if !strings.Contains(logs, cause) {
		b.t.Errorf("the log never mentions %q: the fault was not felt, the test tested nothing", cause)
	}
	paused := regexp.MustCompile(pausedLine.String() + ` advice="` + regexp.QuoteMeta(advice))
	if !paused.MatchString(logs) {
		b.t.Errorf("no pass said it paused for the database (%q) with the user's address", advice)
	}
	if strings.Contains(logs, "Sync failed; it will be retried.") {
		b.t.Errorf("a database fault was taken for a failed pass:\n%s", grepLines(logs, "Sync failed"))
	}
	var jobs []string
	err := retryLost(func() error {
		jobs = nil
		rows, err := b.db.SQL().QueryContext(b.ctx, `SELECT id, attempt, state FROM river_job WHERE kind = 'mailbox' AND attempt > 1`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, attempt int64
			var state string
			if err := rows.Scan(&id, &attempt, &state); err != nil {
				return err
			}
			jobs = append(jobs, fmt.Sprintf("job %d (%s) at attempt %d", id, state, attempt))
		}
		return rows.Err()
	})
	if err != nil {
		b.t.Fatal(err)
	}
	if len(jobs) > 0 {
		b.t.Errorf("a database fault used up River attempts of mailbox jobs: %v", jobs)
	}
}

// retryLost runs f again while it fails because a PostgreSQL connection
// was lost; it returns f's last error.
func retryLost(f func() error) error {
	for i := 0; ; i++ {
		err := f()
		if i == 20 || store.FaultOf(err) != store.FaultConnection {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkRecordedAtDest checks, in the middle of a batch, that every message
// the engine recorded for user is at the destination under the recorded
// UID, once, and that no message is at the destination twice.
func (b *bundle) checkRecordedAtDest(user string) {
	b.t.Helper()
	rows, err := b.db.SQL().QueryContext(b.ctx, `SELECT f.dest_name, m.dest_uid FROM sync_messages m
		JOIN sync_folders f ON f.id = m.folder_id JOIN batch_users u ON f.mailbox = 'batch_users/' || u.id
		WHERE u.email = $1`, user+"@example.com")
	if err != nil {
		b.t.Fatal(err)
	}
	recorded := map[string]int{}
	for rows.Next() {
		var folder string
		var uid uint32
		if err := rows.Scan(&folder, &uid); err != nil {
			b.t.Fatal(err)
		}
		recorded[fmt.Sprintf("%s/%d", folder, uid)]++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		b.t.Fatal(err)
	}
	snap, err := testserver.Take(b.ctx, b.dst.Addr, user+"@example.com", "dest-"+user)
	if err != nil {
		b.t.Fatal(err)
	}
	at := map[string]bool{}
	for name, f := range snap.Folders {
		seen := map[string]bool{}
		for _, m := range f.Messages {
			at[fmt.Sprintf("%s/%d", name, m.UID)] = true
			if seen[m.SHA256] {
				b.t.Errorf("%s: message %.12s is twice in the destination's %s", user, m.SHA256, name)
			}
			seen[m.SHA256] = true
		}
	}
	for key, n := range recorded {
		if n > 1 {
			b.t.Errorf("%s: destination message %s recorded %d times", user, key, n)
		}
		if !at[key] {
			b.t.Errorf("%s: destination message %s is recorded but not at the destination", user, key)
		}
	}
	b.t.Logf("%s: %d messages recorded, all at the destination", user, len(recorded))
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// shortBusyTimeout holds the SQLite files (paths) whose connections wait
// 1 s for a lock, not the store's 10 s.
var shortBusyTimeout sync.Map

// The hook is registered before any test runs: modernc's hook list is not
// safe to change while connections open.
func init() {
	sqlite.RegisterConnectionHook(func(conn sqlite.ExecQuerierContext, dsn string) error {
		// The store's own connections (which wait 10 s), not the test's
		// locking one.
		path, query, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
		if _, ok := shortBusyTimeout.Load(path); !ok || !strings.Contains(query, "busy_timeout(10000)") {
			return nil
		}
		_, err := conn.ExecContext(context.Background(), `PRAGMA busy_timeout = 1000`, nil)
		return err
	})
}

// seedLarge adds n messages of 5 to 9 KB to the source mailboxes of users
// u01..uNN and returns each user's message count. Over 4 KiB, go-imap
// sends each APPEND's literal only after the server's go-ahead, so with a
// delay proxy each message costs a round trip and a mailbox takes seconds.
func (b *bundle) seedLarge(users, n int) map[string]int {
	b.t.Helper()
	total := map[string]int{}
	for i := 1; i <= users; i++ {
		u := fmt.Sprintf("u%02d", i)
		msgs := testserver.Corpus(testserver.CorpusOptions{Seed: int64(100 + i), Messages: n,
			Folders: []string{"INBOX", "Sent"}, MinSize: 5000, MaxSize: 9000})
		if err := testserver.Seed(b.ctx, b.src.Addr, u, b.password[u], msgs); err != nil {
			b.t.Fatal(err)
		}
		total[u] = len(b.corpus[u]) + n
	}
	return total
}

// waitRecorded waits until the engine has recorded at least n copied
// messages, all users together, and returns how many it has.
func (b *bundle) waitRecorded(n int) int {
	b.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var got int
		if err := retryLost(func() error {
			return b.db.SQL().QueryRowContext(b.ctx, `SELECT count(*) FROM sync_messages`).Scan(&got)
		}); err != nil {
			b.t.Fatal(err)
		}
		if got >= n {
			return got
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%d messages recorded after a minute; want %d\n%s", got, n, b.logs.tail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
