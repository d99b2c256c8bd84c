package mailsync_test

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestSyncSourceReadOnlyOnTheWire proves from the wire that the source is
// only ever read: the source Dovecot sits behind a recorder that parses
// every command the engine sends, through a full run, an incremental run
// after flag changes, new mail and an expunge at the source, and a dry run.
// Not one command that could change the mailbox may reach it (STORE,
// EXPUNGE, APPEND, CREATE, DELETE, RENAME, MOVE, COPY, (UN)SUBSCRIBE,
// SELECT instead of EXAMINE, a FETCH of a body without .PEEK), nor may the
// engine's own guard have had to stop one; and the source's flags, \Seen
// first, are as the user left them.
func TestSyncSourceReadOnlyOnTheWire(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{srcCfg: testserver.DovecotConfig{SpecialUse: true}, dstCfg: testserver.DovecotConfig{SpecialUse: true}})
	rec := testserver.StartCommandRecorder(t, b.src.Addr)
	b.opts.Source.Addr = rec.Addr()
	var trace logSink
	b.opts.Source.Trace = &trace

	before := b.snap(t, b.src, srcPW)
	if rep := b.sync(t); !rep.OK() || rep.Totals.Copied != 15 {
		t.Fatalf("full run: OK %v, copied %d; want 15", rep.OK(), rep.Totals.Copied)
	}
	if d := before.Diff(b.snap(t, b.src, srcPW)); len(d) > 0 {
		t.Errorf("the full run changed the source: %v", d)
	}

	// The user goes on working at the source, directly (not through the
	// recorder).
	c := login(t, b.src.Addr, srcPW)
	appendMsg(t, c, "INBOX", msg("later", "Arrived later", "new"), nil, day(20))
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	setFlags(t, c, 1, imap.StoreFlagsDel, imap.FlagSeen)
	setFlags(t, c, 2, imap.StoreFlagsAdd, imap.FlagSeen, imap.FlagFlagged)
	if _, err := c.Select("Sent", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	setFlags(t, c, 1, imap.StoreFlagsAdd, imap.FlagDeleted)
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	changed := b.snap(t, b.src, srcPW)

	if rep := b.sync(t); !rep.OK() || rep.Totals.Copied != 1 || rep.Totals.FlagsUpdated != 2 || rep.Totals.DeletedAtSource != 1 {
		t.Errorf("incremental run: OK %v, copied %d, flags updated %d, deleted at source %d; want OK, 1, 2, 1",
			rep.OK(), rep.Totals.Copied, rep.Totals.FlagsUpdated, rep.Totals.DeletedAtSource)
	}
	b.opts.DryRun = true
	b.sync(t)

	after := b.snap(t, b.src, srcPW)
	if d := changed.Diff(after); len(d) > 0 {
		t.Errorf("the incremental and dry runs changed the source: %v", d)
	}
	if seen, want := countSeen(after), countSeen(changed); seen != want {
		t.Errorf("source has %d messages \\Seen after the runs; the user left %d", seen, want)
	}

	commands := rec.Commands()
	for _, cmd := range rec.Mutating() {
		t.Errorf("command that can change the source was sent: %s", cmd.Text)
	}
	// The recorder saw the real traffic: folders examined and bodies
	// fetched with .PEEK.
	var examined, peeked bool
	for _, cmd := range commands {
		examined = examined || cmd.Name == "EXAMINE"
		peeked = peeked || cmd.Name == "UID FETCH" && strings.Contains(cmd.Text, "BODY.PEEK[]")
	}
	if !examined || !peeked {
		t.Errorf("recorder saw %d commands, EXAMINE %v, UID FETCH BODY.PEEK[] %v; want both", len(commands), examined, peeked)
	}
	if strings.Contains(trace.String(), "refused, not sent (read-only)") {
		t.Errorf("the engine tried a mutating command and its guard stopped it:\n%s", trace.String())
	}
}

func countSeen(s *testserver.Snapshot) int {
	n := 0
	for _, f := range s.Folders {
		for _, m := range f.Messages {
			for _, fl := range m.Flags {
				if strings.EqualFold(fl, string(imap.FlagSeen)) {
					n++
				}
			}
		}
	}
	return n
}

// setFlags changes flags of one message in the selected folder.
func setFlags(t *testing.T, c *imapclient.Client, uid imap.UID, op imap.StoreFlagsOp, flags ...imap.Flag) {
	t.Helper()
	if err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
		t.Fatalf("store %v on uid %d: %v", flags, uid, err)
	}
}
