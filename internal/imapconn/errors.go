package imapconn

import (
	"errors"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Kind says which step of connection setup failed, so that callers can pick a
// status and a retry policy without parsing messages.
type Kind int

const (
	// KindConnect: the TCP connection could not be made or was lost during
	// setup, or setup ran out of time (DialTimeout, IdleTimeout, ctx).
	// Usually worth a retry with backoff.
	KindConnect Kind = iota + 1
	// KindTLS: the TLS handshake failed (certificate unknown, expired or for
	// another host; protocol version), or STARTTLS was required but is not
	// offered. Retrying does not help until the admin changes something.
	KindTLS
	// KindAuth: the server answered NO or BAD to LOGIN or AUTHENTICATE, or
	// no usable login method is offered. The wrapped *imap.Error's Code tells
	// a wrong password (AUTHENTICATIONFAILED) from throttling (LIMIT,
	// UNAVAILABLE), which are not the user's fault.
	KindAuth
	// KindProtocol: anything else during setup, such as a malformed greeting.
	KindProtocol
)

// String returns a short name fit for a status column.
func (k Kind) String() string {
	switch k {
	case KindConnect:
		return "connect"
	case KindTLS:
		return "tls"
	case KindAuth:
		return "auth"
	case KindProtocol:
		return "protocol"
	}
	return "unknown"
}

// Error is a failure to set up a connection. Its message names the side,
// the address and the user, and never contains the password.
type Error struct {
	Side string // "source" or "destination", from Config.Side
	Addr string
	User string
	Kind Kind
	Err  error
}

func (e *Error) Error() string {
	if e.Side == "" {
		return e.Addr + ": " + e.Err.Error()
	}
	return e.Side + " " + e.Addr + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain.
func KindOf(err error) (Kind, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, true
	}
	return 0, false
}

// ErrReadOnly is wrapped by the error of any command the read-only guard
// refused (see Config.ReadOnly).
var ErrReadOnly = errors.New("imapconn: mutating command refused on a read-only connection")

// ErrIdleTimeout is wrapped by Conn.Err when the idle watchdog cut the
// connection (see Config.IdleTimeout).
var ErrIdleTimeout = errors.New("idle timeout")

// errAborted is Conn.Err after Abort.
var errAborted = errors.New("connection aborted")

// withoutSecret removes secret from err's message. Some servers echo the
// command they reject in their BAD text; an echoed LOGIN would put the
// password into our logs and reports.
func withoutSecret(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		clean := *ie
		clean.Text = strings.ReplaceAll(clean.Text, secret, "***")
		if !strings.Contains(clean.Error(), secret) {
			return &clean
		}
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "***"))
}
