package mailsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/imapconn"
)

// Reconnecting after a lost connection (RELIABILITY §3 rows 1-5, 15).
//
// A connection can go at any moment: the server restarts or says BYE
// ("Server shutting down.", "Session expired"), the network resets it, or
// it stalls and the idle watchdog cuts it. While copying, the lane that
// lost it reconnects and retries its unit, reconciling first (copyUnit).
// Before copying, the pass starts over (Sync): every step of a pass is
// safe to repeat, since the state records a copy only after the
// destination's OK and recognises by content what it did not record.
// Either way, a server that refuses connections is tried again with
// backoff for Options.ReconnectTimeout before the run gives up with an
// error that names the side and the address.

const (
	// DefaultReconnectTimeout is long enough for a server restart or a
	// failover, short enough that a server gone for good fails the run
	// while someone is still looking.
	DefaultReconnectTimeout = 2 * time.Minute

	firstRetryWait = 500 * time.Millisecond
	maxRetryWait   = 30 * time.Second
	// maxLostPasses bounds how often a pass starts over because it lost a
	// connection before copying, for a server that drops every session.
	maxLostPasses = 5
)

// Sync migrates one mailbox. It returns an error only when the migration
// could not run at all (bad options, connection, TLS or authentication
// failure, the state database, a server unreachable for longer than
// Options.ReconnectTimeout); problems with folders and messages are in
// the report, and Report.OK tells whether everything that should have
// moved has moved.
//
// A pass that loses a connection before it starts copying (a server
// restart during the scan, a BYE to a connection left idle meanwhile)
// starts over, once the server answers again; Report.Retries says so.
// Flag updates made by the interrupted pass are not counted again.
func Sync(ctx context.Context, opts Options) (*Report, error) {
	if opts.ReconnectTimeout <= 0 {
		opts.ReconnectTimeout = DefaultReconnectTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	var retries []string
	var wait *backoff
	lost := 0
	for {
		rep, err := syncPass(ctx, opts)
		if err == nil {
			rep.Retries = append(retries, rep.Retries...)
			return rep, nil
		}
		var lc lostConn
		switch {
		case ctx.Err() != nil, isUnreachable(err):
			// Cancelled, or the copy already waited out the budget.
			return nil, err
		case errors.As(err, &lc):
			lost++
			if lost >= maxLostPasses {
				return nil, fmt.Errorf("connection lost %d times before copying; giving up: %w", lost, lc.err)
			}
		case wait != nil && isConnectErr(err):
			// The server that went away does not answer yet.
		default:
			return nil, err
		}
		retries = append(retries, err.Error())
		log.Warn("Connection lost before copying; the pass starts over.", "user", opts.Source.User, "err", err)
		if wait == nil {
			wait = &backoff{budget: opts.ReconnectTimeout}
		}
		if werr := wait.wait(ctx); werr != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("gave up reconnecting after %v: %w", opts.ReconnectTimeout, err)
		}
	}
}

// lostConn marks a pass that stopped because a connection was lost before
// the copy, so that Sync runs it again.
type lostConn struct{ err error }

func (e lostConn) Error() string { return e.err.Error() }
func (e lostConn) Unwrap() error { return e.err }

// lostOr returns err marked as a lost connection when it came with the
// loss of one of conns, else err.
func lostOr(err error, conns ...*imapconn.Conn) error {
	if isConnLost(err, conns...) {
		return lostConn{err}
	}
	return err
}

// unreachable marks a server that could not be reached again within
// Options.ReconnectTimeout: the run stops.
type unreachable struct{ err error }

func (e unreachable) Error() string { return e.err.Error() }
func (e unreachable) Unwrap() error { return e.err }

func isUnreachable(err error) bool {
	var u unreachable
	return errors.As(err, &u)
}

// isConnectErr reports whether err is a failure to reach a server (refused,
// reset, timed out, hung up during the login), as opposed to a refused
// login or a certificate problem, which waiting does not cure.
func isConnectErr(err error) bool {
	kind, ok := imapconn.KindOf(err)
	return ok && kind == imapconn.KindConnect
}

// redial connects like dial, but a server that cannot be reached is tried
// again with backoff for Options.ReconnectTimeout: it went away (a
// restart, a failover) and is expected back. Only for a server this run
// has reached before; the first connection fails at once, so that a wrong
// address is reported without delay.
func (s *run) redial(ctx context.Context, cfg imapconn.Config) (*imapconn.Conn, error) {
	b := backoff{budget: s.opts.ReconnectTimeout}
	for attempt := 1; ; attempt++ {
		c, err := s.dial(ctx, cfg)
		if err == nil || !isConnectErr(err) || ctx.Err() != nil {
			return c, err
		}
		s.log.Warn("Server unreachable; trying again.", "side", cfg.Side, "addr", cfg.Addr, "attempt", attempt, "err", err)
		if werr := b.wait(ctx); werr != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, unreachable{fmt.Errorf("gave up reconnecting after %v (%d attempts): %w", s.opts.ReconnectTimeout, attempt, err)}
		}
	}
}

// reconnect replaces the lane's lost connections, waiting for a server
// that went away (redial).
func (l *lane) reconnect(ctx context.Context, s *run) error {
	var err error
	if l.src == nil {
		if l.src, err = s.redial(ctx, s.opts.Source); err != nil {
			return err
		}
		l.srcFolder = ""
	}
	if l.dst == nil {
		if l.dst, err = s.redial(ctx, s.opts.Dest); err != nil {
			return err
		}
		l.dstFolder = ""
	}
	return nil
}

// closed reports whether c's connection has ended.
func closed(c *imapconn.Conn) bool {
	select {
	case <-c.Closed():
		return true
	default:
		return false
	}
}

// backoff paces attempts to reach a server: waits from firstRetryWait,
// doubling up to maxRetryWait, each with up to a fifth more of jitter so
// that mailboxes cut off together do not all come back at the same
// moment, until budget has passed since the first wait.
type backoff struct {
	budget time.Duration
	start  time.Time
	next   time.Duration
}

var errBudgetSpent = errors.New("reconnect budget spent")

// wait sleeps before the next attempt, or returns errBudgetSpent when the
// budget is spent, or ctx's error.
func (b *backoff) wait(ctx context.Context) error {
	if b.start.IsZero() {
		b.start, b.next = time.Now(), firstRetryWait
	}
	left := b.budget - time.Since(b.start)
	if left <= 0 {
		return errBudgetSpent
	}
	d := min(b.next+rand.N(b.next/5+1), left)
	b.next = min(2*b.next, maxRetryWait)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// addRetry records in the report why the run had to reconnect or retry.
func (s *run) addRetry(msg string) {
	s.mu.Lock()
	s.rep.Retries = append(s.rep.Retries, msg)
	s.mu.Unlock()
}
