package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Fault says why the database refused a statement when the cause is the
// database's surroundings rather than the statement: the same statement
// works once the cause is gone. The service pauses the work it was doing
// instead of failing a mailbox over it.
type Fault int

const (
	// NoFault: err is nil, or not a database fault of the kinds below.
	NoFault Fault = iota
	// FaultBusy: another process held SQLite's write lock for longer than
	// the busy timeout (10 s): an sqlite3 shell with an open transaction,
	// a backup tool, a second imapmigrate on the same file.
	FaultBusy
	// FaultFull: SQLite could not grow the file (SQLITE_FULL): the file
	// system, or the user's quota on it, is full.
	FaultFull
	// FaultConnection: the connection to PostgreSQL was lost or refused,
	// or the server is shutting down or starting up.
	FaultConnection
)

// FaultOf classifies err, which may wrap the driver's error.
func FaultOf(err error) Fault {
	if err == nil {
		return NoFault
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary code of an extended one
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return FaultBusy
		case sqlite3.SQLITE_FULL:
			return FaultFull
		}
		return NoFault
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08 is "connection exception"; 57P01-57P03 are the server
		// shutting down (pg_terminate_backend included), crashed, or not
		// yet accepting connections.
		if strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" {
			return FaultConnection
		}
		return NoFault
	}
	// Below the server's own errors, pgx's: a connection that broke
	// mid-statement or was found closed, or a failed reconnection. Only
	// errors from pgx count (its error types have SafeToRetry), so that
	// a network error from an IMAP server, in the chain of a failed pass,
	// is not taken for the database's.
	var ce *pgconn.ConnectError
	var fromPgx interface{ SafeToRetry() bool }
	switch {
	case errors.As(err, &ce), errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, driver.ErrBadConn):
		return FaultConnection
	case errors.As(err, &fromPgx) && !pgconn.Timeout(err) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
		return FaultConnection
	}
	return NoFault
}

// Advice says what the admin can do about the fault, for the log and the
// user's last error.
func (f Fault) Advice() string {
	switch f {
	case FaultBusy:
		return "the database is locked by another process (an sqlite3 shell or a backup holding a transaction, a second imapmigrate on the same file): end it; the mailbox resumes by itself"
	case FaultFull:
		return "the database is full: free disk space where the data directory is (or raise the quota); the mailbox resumes by itself, nothing copied so far is lost or copied twice"
	case FaultConnection:
		return "the connection to the PostgreSQL server was lost: the mailbox resumes once the server answers again"
	}
	return ""
}
