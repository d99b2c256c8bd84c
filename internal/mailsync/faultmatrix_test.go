package mailsync_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// The rest of the fault matrix against real Dovecot (RELIABILITY §3 rows
// 4, 5 and 15): a server that says BYE, a server restarted or down for a
// while, a link that stalls. Each run must end as a clean one would: every
// source message exactly once at the destination with its bytes, flags and
// date, a report that is OK, and the source unchanged; and the report's
// retries must say what happened.

// logSink collects the engine's log, to check what an admin would read.
type logSink struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// captureLog sends the engine's log of b's runs to a sink.
func captureLog(b *testBundle) *logSink {
	sink := &logSink{}
	b.opts.Logger = slog.New(slog.NewTextHandler(sink, nil))
	return sink
}

// checkRetried checks that the report and the log both tell of an
// interruption with words.
func checkRetried(t *testing.T, rep *mailsync.Report, log *logSink, words string) {
	t.Helper()
	found := false
	for _, r := range rep.Retries {
		found = found || strings.Contains(r, words)
	}
	if !found {
		t.Errorf("report retries = %q; want one saying %q", rep.Retries, words)
	}
	if !strings.Contains(log.String(), words) {
		t.Errorf("log does not say %q:\n%s", words, log)
	}
}

// TestSyncServerBye: the server ends a session with BYE, as Dovecot does on
// a restart or doveadm kick ("Server shutting down."), or for a connection
// it finds idle. The engine reconnects, resumes where it was, copies every
// message once, and reports the server's words.
func TestSyncServerBye(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		source bool
		cut    testserver.Cut
	}{
		// The fifth message's FETCH response is replaced by the BYE: four
		// messages of the batch arrived, the rest must come after the
		// reconnection.
		{"SourceMidFetch", true, testserver.Cut{ToClient: true, After: []byte("BODY[] {"), Nth: 5, Before: true,
			Bye: "Server shutting down."}},
		// The destination connection sat idle while the source was
		// scanned; the server hangs up as the first folder is opened (a
		// pass that has not copied yet starts over).
		{"DestIdleDuringScan", false, testserver.Cut{After: []byte(" SELECT "), Before: true,
			Bye: "Disconnected for inactivity."}},
		// The source connection sat idle while the destination was
		// prepared; the server hangs up as the copy opens the first folder
		// again (after the two folders' scan).
		{"SourceIdleBeforeCopy", true, testserver.Cut{After: []byte(" EXAMINE "), Nth: 3, Before: true,
			Bye: "Disconnected for inactivity."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msgs, _ := faultCorpus()
			b := setup(t, setupOpts{messages: msgs})
			log := captureLog(b)
			before := b.snap(t, b.src, srcPW)
			upstream := &b.opts.Dest.Addr
			if tc.source {
				upstream = &b.opts.Source.Addr
			}
			p := testserver.StartProxy(t, *upstream, tc.cut)
			*upstream = p.Addr
			b.opts.Connections = 1
			rep := faultSync(t, b)
			checkFaultRun(t, b, p, before, rep)
			checkRetried(t, rep, log, "BYE "+tc.cut.Bye)
		})
	}
}

// TestSyncStall: the link stops carrying bytes without closing, in the
// middle of a message's FETCH literal or of its APPEND literal. The idle
// timeout (made short here through the option) cuts the connection, the
// engine reconnects, and the message arrives once, whole.
func TestSyncStall(t *testing.T) {
	t.Parallel()
	const idle = 2 * time.Second
	_, bigSize := faultCorpus()
	for _, tc := range []struct {
		name   string
		source bool
		cut    testserver.Cut
	}{
		{"MidFetch", true, testserver.Cut{ToClient: true, After: fmt.Appendf(nil, "BODY[] {%d}\r\n", bigSize), Skip: 3000, Stall: true}},
		{"MidAppend", false, testserver.Cut{After: fmt.Appendf(nil, "{%d", bigSize), Skip: 3000, Stall: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msgs, _ := faultCorpus()
			b := setup(t, setupOpts{messages: msgs})
			log := captureLog(b)
			b.opts.Source.IdleTimeout, b.opts.Dest.IdleTimeout = idle, idle
			before := b.snap(t, b.src, srcPW)
			upstream := &b.opts.Dest.Addr
			if tc.source {
				upstream = &b.opts.Source.Addr
			}
			p := testserver.StartProxy(t, *upstream, tc.cut)
			*upstream = p.Addr
			b.opts.Connections = 1
			rep := faultSync(t, b)
			checkFaultRun(t, b, p, before, rep)
			checkRetried(t, rep, log, "idle timeout")
		})
	}
}

// TestSyncServerRestart stops one side's Dovecot in the middle of the
// copy: its sessions get "* BYE Server shutting down." and its port
// refuses connections, as during a restart or a failover. The destination
// stops after the fifth message. The source stops at the first, while the
// first of four folders' units awaits its APPEND's answer: by then the
// second unit's bodies may be on their way (see fetchAhead), but not the
// third's. When the server comes back (here: once the engine has met the
// refused port, so the test does not depend on timing), the engine, which
// has kept retrying with backoff, resumes and finishes with every message
// once. When it stays down longer than the reconnect timeout, the run ends
// with an error that names the side and the address; a run after the
// server is back completes without a duplicate.
func TestSyncServerRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		source   bool
		comeBack bool
	}{
		{"SourceBack", true, true},
		{"DestBack", false, true},
		{"SourceStaysDown", true, false},
		{"DestStaysDown", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msgs, _ := faultCorpus()
			stopAt := int32(5)
			if tc.source {
				msgs = testserver.Corpus(testserver.CorpusOptions{Seed: 11, Messages: 12, Folders: []string{"INBOX", "Archive", "Sent", "Drafts"}, MinSize: 1000, MaxSize: 4000})
				stopAt = 1
			}
			b := setup(t, setupOpts{messages: msgs})
			log := captureLog(b)
			before := b.snap(t, b.src, srcPW)
			server, side := b.dst, "destination"
			if tc.source {
				server, side = b.src, "source"
			}
			b.opts.Connections = 1
			// Long enough for any machine when the server comes back; short
			// when it stays down.
			b.opts.ReconnectTimeout = 30 * time.Second
			if !tc.comeBack {
				b.opts.ReconnectTimeout = 2 * time.Second
			}
			// The copy is held at message stopAt while the server stops,
			// so the stop always falls mid-run.
			var handled atomic.Int32
			relaunched := make(chan error, 1)
			b.opts.Progress = func(mailsync.Progress) {
				if handled.Add(1) != stopAt {
					return
				}
				if err := server.Stop(); err != nil {
					t.Errorf("stop %s: %v", side, err)
				}
				if tc.comeBack {
					go func() {
						deadline := time.Now().Add(30 * time.Second)
						for !strings.Contains(log.String(), "connection refused") {
							if time.Now().After(deadline) {
								relaunched <- errors.Join(errors.New("the engine never tried the stopped server"), server.Relaunch())
								return
							}
							time.Sleep(20 * time.Millisecond)
						}
						relaunched <- server.Relaunch()
					}()
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := mailsync.Sync(ctx, b.opts)

			if tc.comeBack {
				if err := <-relaunched; err != nil {
					t.Fatal(err)
				}
				if err != nil {
					t.Fatalf("Sync() across a restart of the %s: %v", side, err)
				}
				if !rep.OK() || rep.Totals.Copied != len(msgs) || rep.Totals.Failed != 0 {
					t.Errorf("report: OK %v, copied %d, failed %d; want OK, %d, 0 (failed %+v, errors %v)",
						rep.OK(), rep.Totals.Copied, rep.Totals.Failed, len(msgs), rep.Failed, rep.Errors)
				}
				checkRetried(t, rep, log, "BYE Server shutting down.")
			} else {
				addr := b.opts.Dest.Addr
				if tc.source {
					addr = b.opts.Source.Addr
				}
				kind, _ := imapconn.KindOf(err)
				if err == nil || kind != imapconn.KindConnect || !strings.Contains(err.Error(), side+" "+addr) {
					t.Fatalf("Sync() with the %s down = %v (kind %v); want a connect error naming %q", side, err, kind, side+" "+addr)
				}
				if !strings.Contains(err.Error(), "gave up reconnecting after 2s") {
					t.Errorf("Sync() error = %v; want it to say how long it tried", err)
				}
				if err := server.Relaunch(); err != nil {
					t.Fatal(err)
				}
				b.opts.Progress = nil
				rep = b.sync(t)
				if !rep.OK() || rep.Totals.Copied+rep.Totals.Present != len(msgs) || rep.Totals.Present < 4 {
					t.Errorf("re-run: OK %v, copied %d, present %d; want OK and %d in all, the first ones present",
						rep.OK(), rep.Totals.Copied, rep.Totals.Present, len(msgs))
				}
			}
			for _, f := range rep.Folders {
				if f.DestCount != f.SourceCount {
					t.Errorf("folder %q: destination count %d; want the source's %d", f.Source, f.DestCount, f.SourceCount)
				}
			}
			checkMirrors(t, before, b.snap(t, b.dst, dstPW), faultMapping, nil)
			if d := before.Diff(b.snap(t, b.src, srcPW)); len(d) > 0 {
				t.Errorf("source changed: %v", d)
			}
		})
	}
}
