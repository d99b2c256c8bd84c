package store

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestTransactionWaitsForLock: a transaction that reads and then writes
// waits for another process's write lock to go, as a single statement
// does, instead of failing at once with SQLITE_BUSY.
func TestTransactionWaitsForLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	other, release := lockFile(t, path)
	defer other.Close()
	go func() {
		time.Sleep(300 * time.Millisecond)
		release()
	}()

	tx, err := d.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sync_folders`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sync_folders (mailbox, source_name, source_uidvalidity, dest_name, dest_uidvalidity, updated_at)
		VALUES ('m', 'INBOX', 1, 'INBOX', 1, '')`); err != nil {
		t.Fatalf("write after a read in a transaction, while another process held the lock for 300 ms: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// lockFile opens a second connection to the SQLite file, as another
// process would, and takes its write lock with a write pending.
func lockFile(t *testing.T, path string) (*sql.Conn, func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), `DELETE FROM sync_messages`); err != nil {
		t.Fatal(err)
	}
	return conn, func() { conn.ExecContext(context.Background(), `ROLLBACK`) }
}

func TestFaultOf(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	// Real SQLite errors: a write while another connection holds the lock
	// (no busy timeout on this one, so it fails at once), a write past
	// max_page_count, and a constraint violation.
	other, release := lockFile(t, path)
	defer other.Close()
	impatient, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	impatient.SetMaxOpenConns(1)
	_, busy := impatient.ExecContext(ctx, `INSERT INTO sync_folders (mailbox, source_name, source_uidvalidity, dest_name, dest_uidvalidity, updated_at)
		VALUES ('m', 'Sent', 1, 'Sent', 1, '')`)
	release()

	var pages int
	if err := impatient.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := impatient.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+1)); err != nil {
		t.Fatal(err)
	}
	_, full := impatient.ExecContext(ctx, `INSERT INTO sync_folders (mailbox, source_name, source_uidvalidity, dest_name, dest_uidvalidity, updated_at)
		VALUES ('m', $1, 1, 'x', 1, '')`, strings.Repeat("x", 64<<10))
	_, constraint := d.SQL().ExecContext(ctx, `INSERT INTO sync_messages (folder_id, source_uid, dest_uid, flags, fingerprint) VALUES (999, 1, 1, '', '')`)
	for name, err := range map[string]error{"locked": busy, "full": full, "constraint": constraint} {
		if err == nil {
			t.Fatalf("the %s write succeeded: no fault was injected", name)
		}
	}

	tests := []struct {
		name string
		err  error
		want Fault
	}{
		{"Nil", nil, NoFault},
		{"SQLiteBusy", fmt.Errorf("record messages: %w", busy), FaultBusy},
		{"SQLiteFull", fmt.Errorf("state database: %w", full), FaultFull},
		{"SQLiteConstraint", constraint, NoFault},
		{"PostgresTerminated", fmt.Errorf("update user 1: %w", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}), FaultConnection},
		{"PostgresConnectionFailure", &pgconn.PgError{Code: "08006"}, FaultConnection},
		{"PostgresUniqueViolation", &pgconn.PgError{Code: "23505"}, NoFault},
		{"PgxConnClosed", fmt.Errorf("read user 1: %w", pgconn.ErrConnClosed), FaultConnection},
		// An IMAP server's network errors, in the chain of a failed pass,
		// are not the database's.
		{"IMAPConnectionReset", fmt.Errorf("fetch: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), NoFault},
		{"IMAPEOF", fmt.Errorf("append: %w", io.ErrUnexpectedEOF), NoFault},
		{"Cancelled", fmt.Errorf("read user 1: %w", context.Canceled), NoFault},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FaultOf(tc.err); got != tc.want {
				t.Errorf("FaultOf(%v) = %v; want %v", tc.err, got, tc.want)
			}
		})
	}
}
