package service

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/imapconn"
)

func TestAdjustConnections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                                string
		cur, started, configured, calm, rec int
		throttled                           bool
		want, wantCalm                      int
	}{
		{"ThrottledHalves", 4, 4, 4, 3, 5, true, 2, 0},
		{"ThrottledOdd", 5, 5, 8, 0, 5, true, 2, 0},
		{"ThrottledAtLeastOne", 1, 1, 4, 0, 5, true, 1, 0},
		{"ThrottledTwoHalvesToOne", 2, 2, 4, 0, 5, true, 1, 0},
		// Two passes that met one limit at once halve it once: the second
		// halves from what it started with, and the count is already there.
		{"ThrottledSamePassCountOnce", 2, 4, 4, 0, 5, true, 2, 0},
		// A pass that started below the count (another one lowered it
		// meanwhile, the first time) lowers it further.
		{"ThrottledFromLowerStart", 4, 2, 4, 0, 5, true, 1, 0},
		{"NotLoweredNothingToWin", 4, 4, 4, 0, 5, false, 4, 0},
		{"StoredZeroMeansConfigured", 0, 4, 4, 2, 5, false, 4, 0},
		{"ConfigLoweredSinceClamps", 8, 4, 4, 0, 5, false, 4, 0},
		{"CalmCounts", 2, 2, 4, 0, 5, false, 2, 1},
		{"CalmFourthPass", 2, 2, 4, 3, 5, false, 2, 4},
		{"CalmFifthPassWinsOne", 2, 2, 4, 4, 5, false, 3, 0},
		{"RecoverEveryPass", 1, 1, 4, 0, 1, false, 2, 0},
		{"RecoverUpToConfigured", 3, 3, 4, 0, 1, false, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, gotCalm := adjustConnections(tt.cur, tt.started, tt.configured, tt.calm, tt.rec, tt.throttled)
			if got != tt.want || gotCalm != tt.wantCalm {
				t.Errorf("adjustConnections(cur %d, started %d, configured %d, calm %d, recover after %d, throttled %v) = %d, %d; want %d, %d",
					tt.cur, tt.started, tt.configured, tt.calm, tt.rec, tt.throttled, got, gotCalm, tt.want, tt.wantCalm)
			}
		})
	}
}

// TestAdaptInDatabase: the counts live in the endpoints table, per side,
// so a service started on the same database (another worker, or after a
// restart) uses them; each change is logged with the endpoint and why; a
// throttling answer that names no server lowers both sides.
func TestAdaptInDatabase(t *testing.T) {
	t.Parallel()
	b := setupState(t, 1)
	s := b.s
	var logs strings.Builder
	s.log = slog.New(slog.NewTextHandler(&logs, nil))
	s.cfg.RecoverPasses = 2
	limit := &imapconn.Error{Side: sideDest, Addr: "127.0.0.1:2", Kind: imapconn.KindAuth,
		Err: &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit, Text: "Maximum number of connections from user+IP exceeded"}}

	counts := func() (src, dst int) {
		t.Helper()
		eps, err := s.Endpoints(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range eps {
			switch e.Name {
			case "src":
				src = e.SourceConnections
			case "dst":
				dst = e.DestConnections
			}
		}
		return src, dst
	}
	pass := func(started int, err error, calm bool) {
		t.Helper()
		var th throttles
		th.note("", err)
		s.adapt(b.ctx, b.src, b.dst, started, &th, calm)
	}

	if src, dst := counts(); src != 4 || dst != 4 {
		t.Fatalf("new endpoints: %d source, %d destination connections; want the configured 4", src, dst)
	}
	pass(4, fmt.Errorf("validation: %w", limit), false)
	if src, dst := counts(); src != 4 || dst != 2 {
		t.Errorf("after [LIMIT] at the destination: %d source, %d destination connections; want 4, 2", src, dst)
	}
	want := `msg="Fewer connections per mailbox to a server that throttles." endpoint=dst side=destination from=4 to=2 reason="validation: destination 127.0.0.1:2: imap: NO [LIMIT] Maximum number`
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, logs.String())
	}
	// Another pass that started before the change met the same limit.
	pass(4, limit, false)
	if _, dst := counts(); dst != 2 {
		t.Errorf("a second pass started at 4 and throttled: %d destination connections; want still 2", dst)
	}

	// Another service on the database (a worker, or this one restarted).
	again, err := New(b.ctx, Config{DB: s.cfg.DB, Key: s.cfg.Key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	src, err := again.endpointByName(b.ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	dst, err := again.endpointByName(b.ctx, "dst")
	if err != nil {
		t.Fatal(err)
	}
	if n := again.passConnections(src, dst); n != 2 {
		t.Errorf("a restarted service opens %d connections per mailbox from src to dst; want 2", n)
	}

	// Two calm passes win one back, two more the last one.
	for i, wantDst := range []int{2, 3, 3, 4} {
		pass(2, nil, true)
		if _, dst := counts(); dst != wantDst {
			t.Errorf("after %d calm passes: %d destination connections; want %d", i+1, dst, wantDst)
		}
	}
	if want := `msg="One more connection per mailbox to a server that stopped throttling." endpoint=dst side=destination from=3 to=4 reason="passes without throttling: 2"`; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, logs.String())
	}
	var stored int
	if err := s.db.QueryRowContext(b.ctx, `SELECT dest_connections FROM endpoints WHERE name = 'dst'`).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("dest_connections back at the configured count = %d, %v; want 0 (not lowered)", stored, err)
	}

	// A pass cut short by an error that is no throttling is not calm and
	// changes nothing; a command's [UNAVAILABLE] that names no side
	// lowers both.
	pass(4, errors.New("connection reset by peer"), false)
	if src, dst := counts(); src != 4 || dst != 4 {
		t.Errorf("after a network error: %d source, %d destination connections; want 4, 4", src, dst)
	}
	pass(4, fmt.Errorf("examine folder %q: %w", "INBOX", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "try later"}), false)
	if src, dst := counts(); src != 2 || dst != 2 {
		t.Errorf("after an [UNAVAILABLE] of no known side: %d source, %d destination connections; want 2, 2", src, dst)
	}
}
