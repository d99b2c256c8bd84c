// Package batch reads the CSV file that lists the users of a migration batch.
//
// The format is the one Exchange Online uses for IMAP migration batches, so
// admins can reuse the files they already have: a header line naming the
// columns, then one user a line. Columns are EmailAddress (the destination
// mailbox), UserName and Password (the source login), and the optional
// UserRoot, DestinationUserName and DestinationPassword; and, for endpoints
// that log in with OAuth 2.0 refresh tokens (consumer accounts), the
// user's RefreshToken at the source and DestinationRefreshToken at the
// destination.
//
// Parse checks the whole file before anything is stored and reports every
// problem with its line, so an admin fixes the file once instead of once per
// mistake. Files exported from spreadsheets are common, so a UTF-8 byte order
// mark, CRLF line ends, and ";" or tab separators (Excel in many locales) are
// accepted; quoting follows RFC 4180.
package batch

import (
	"fmt"
	"strconv"
)

// Row is one user of a batch CSV.
type Row struct {
	Line         int    // 1-based line number in the file (the header is line 1)
	EmailAddress string // destination mailbox address (the user's identity in the batch)
	UserName     string // source login
	Password     string // source password, exactly as written (never trimmed)
	UserRoot     string // optional
	DestUserName string // optional column DestinationUserName
	DestPassword string // optional column DestinationPassword, exactly as written
	// RefreshToken and DestRefreshToken are the optional columns
	// RefreshToken and DestinationRefreshToken: the user's OAuth 2.0
	// refresh tokens at the source and the destination, for endpoints
	// that log in with them. Whether an endpoint needs one is the
	// service's check.
	RefreshToken     string
	DestRefreshToken string
}

// Problem is one thing wrong with the file, tied to its line (0 for the whole
// file).
//
// Message reads on from Column when Column is set, so String can put them
// side by side: Column "EmailAddress" and Message `"bob@": missing domain`
// print as `line 14: EmailAddress "bob@": missing domain`. Messages never
// contain a password.
type Problem struct {
	Line    int    `json:"line"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

// String formats the problem the way the CLI prints it, one a line.
func (p Problem) String() string {
	where := "file"
	if p.Line > 0 {
		where = "line " + strconv.Itoa(p.Line)
	}
	if p.Column != "" {
		return fmt.Sprintf("%s: %s %s", where, p.Column, p.Message)
	}
	return where + ": " + p.Message
}

// Options changes what Parse accepts.
type Options struct {
	// PasswordOptional accepts an empty Password (the source endpoint logs
	// in with admin credentials). The Password column may then be left out
	// of the file altogether.
	PasswordOptional bool
	// MaxRows is the most users one file may hold. Defaults to
	// DefaultMaxRows when zero or less.
	MaxRows int
}

// DefaultMaxRows is the default for Options.MaxRows. Exchange Online caps a
// batch at 50,000 users; files larger than that are almost always a mistake
// (a whole directory export) rather than a plan.
const DefaultMaxRows = 50000
