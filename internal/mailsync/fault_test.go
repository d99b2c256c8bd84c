package mailsync_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// Fault injection against real Dovecot through testserver.Proxy
// (RELIABILITY §3 rows 1-3). Each test cuts one connection at a chosen
// point of the protocol and then checks what an admin would check: every
// source message exactly once at the destination with its bytes, flags and
// INTERNALDATE, a clean report, and that the fault really happened. One
// connection per side makes the fault point deterministic.

var faultMapping = map[string]string{"INBOX": "INBOX", "Archive": "Archive"}

// faultCorpus is a dozen small messages in two folders plus one of 40 KB in
// the middle of INBOX, the one the cuts aim at. It returns the big one's
// size, which names its literal on the wire ("BODY[] {40123}").
func faultCorpus() ([]testserver.Message, int) {
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 11, Messages: 12, Folders: []string{"INBOX", "Archive"}, MinSize: 1000, MaxSize: 4000})
	big := testserver.Corpus(testserver.CorpusOptions{Seed: 12, Messages: 1, MinSize: 40000, MaxSize: 40000})[0]
	// Date order follows UID order, as in a real INBOX.
	big.Date = msgs[6].Date.Add(time.Minute)
	msgs = slices.Insert(msgs, 7, big)
	return msgs, len(big.Raw)
}

// faultSync runs Sync with a deadline, so that an engine stuck on a cut
// connection fails the test instead of hanging it.
func faultSync(t *testing.T, b *testBundle) *mailsync.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := mailsync.Sync(ctx, b.opts)
	if err != nil {
		t.Fatalf("Sync() error: %v", err)
	}
	return rep
}

// checkFaultRun checks the outcome of a run that met one fault: the cut
// fired once and the client reconnected, the report accounts for every
// message as copied with nothing failed, and the destination mirrors the
// source exactly.
func checkFaultRun(t *testing.T, b *testBundle, p *testserver.Proxy, before *testserver.Snapshot, rep *mailsync.Report) {
	t.Helper()
	if n := p.Fired(); n != 1 {
		t.Errorf("proxy Fired() = %d; want 1 (the fault did not happen)", n)
	}
	if p.Accepted() < 2 {
		t.Errorf("proxy accepted %d connections; want a reconnection after the cut", p.Accepted())
	}
	if !rep.OK() || rep.Totals.Copied != len(b.corpus) || rep.Totals.Failed != 0 || rep.Totals.Present != 0 {
		t.Errorf("report: OK %v, copied %d, failed %d, present %d; want OK, %d copied, 0, 0 (failed %+v, errors %v)",
			rep.OK(), rep.Totals.Copied, rep.Totals.Failed, rep.Totals.Present, len(b.corpus), rep.Failed, rep.Errors)
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
}

// runFault seeds faultCorpus, puts the source (or the destination) behind a
// proxy with cut, syncs over one connection per side and checks the result.
func runFault(t *testing.T, source bool, cut testserver.Cut) {
	t.Helper()
	runFaultOn(t, source, cut, testserver.DovecotConfig{})
}

// runFaultOn is runFault with a destination configured as dstCfg says.
func runFaultOn(t *testing.T, source bool, cut testserver.Cut, dstCfg testserver.DovecotConfig) {
	t.Helper()
	msgs, _ := faultCorpus()
	b := setup(t, setupOpts{messages: msgs, dstCfg: dstCfg})
	before := b.snap(t, b.src, srcPW)
	var p *testserver.Proxy
	if source {
		p = testserver.StartProxy(t, b.src.Addr, cut)
		b.opts.Source.Addr = p.Addr
	} else {
		p = testserver.StartProxy(t, b.dst.Addr, cut)
		b.opts.Dest.Addr = p.Addr
	}
	b.opts.Connections = 1
	checkFaultRun(t, b, p, before, faultSync(t, b))
}

// TestSyncSourceCutMidLiteral loses the source connection 3000 bytes into
// the 40 KB message's FETCH literal (row 1). The lane must not complete the
// APPEND it was streaming into: no truncated copy, no duplicate.
func TestSyncSourceCutMidLiteral(t *testing.T) {
	t.Parallel()
	_, bigSize := faultCorpus()
	for _, tc := range []struct {
		name  string
		reset bool
	}{{"FIN", false}, {"RST", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runFault(t, true, testserver.Cut{ToClient: true, After: fmt.Appendf(nil, "BODY[] {%d}\r\n", bigSize), Skip: 3000, Reset: tc.reset})
		})
	}
}

// TestSyncDestCutMidAppend loses the destination connection 3000 bytes into
// the 40 KB message's APPEND literal (row 2). Dovecot discards the partial
// APPEND; the retry copies the message once.
func TestSyncDestCutMidAppend(t *testing.T) {
	t.Parallel()
	_, bigSize := faultCorpus()
	// "{40123" matches both "{40123}" and the LITERAL+ form "{40123+}".
	runFault(t, false, testserver.Cut{After: fmt.Appendf(nil, "{%d", bigSize), Skip: 3000})
}

// TestSyncDestAppendAnswerLost drops the line carrying a tagged OK
// [APPENDUID] (row 3): Dovecot has stored the message, or with MULTIAPPEND
// the whole group of messages, and the client never learns it. The retry
// must recognise the stored copies rather than append them again, and
// count them as copied. Without MULTIAPPEND (as Gmail and Exchange) it is
// the fifth message's APPEND; with it, the first group's.
func TestSyncDestAppendAnswerLost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		multi bool
		nth   int
	}{{"OneByOne", false, 5}, {"MultiAppend", true, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runFaultOn(t, false, testserver.Cut{ToClient: true, After: []byte("APPENDUID"), Nth: tc.nth, Before: true},
				testserver.DovecotConfig{NoMultiAppend: !tc.multi})
		})
	}
}

// TestSyncCutLeavesNoPartialMessage cuts with an RST at the
// edges of the 40 KB message's literal on either side: before its first
// byte, one byte short, and with every byte of it sent but the response or
// command left unfinished. Whatever the server made of it, the destination
// ends with exactly one intact copy. (Names are short: Dovecot's socket
// paths live under t.TempDir, which is named after the test, and a unix
// socket path is limited to 107 bytes.)
func TestSyncCutLeavesNoPartialMessage(t *testing.T) {
	t.Parallel()
	_, bigSize := faultCorpus()
	srcLit := fmt.Appendf(nil, "BODY[] {%d}\r\n", bigSize)
	// Dovecot offers LITERAL+, so imapconn sends APPEND literals as
	// non-synchronizing ones: "{N+}", then the bytes at once.
	dstLit := fmt.Appendf(nil, "{%d+}\r\n", bigSize)
	for _, tc := range []struct {
		name   string
		source bool
		cut    testserver.Cut
	}{
		{"SourceNoByte", true, testserver.Cut{ToClient: true, After: srcLit}},
		{"SourceShort1", true, testserver.Cut{ToClient: true, After: srcLit, Skip: bigSize - 1}},
		{"SourceWhole", true, testserver.Cut{ToClient: true, After: srcLit, Skip: bigSize}},
		{"DestNoByte", false, testserver.Cut{After: dstLit}},
		{"DestShort1", false, testserver.Cut{After: dstLit, Skip: bigSize - 1}},
		{"DestNoCRLF", false, testserver.Cut{After: dstLit, Skip: bigSize}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cut.Reset = true
			runFault(t, tc.source, tc.cut)
		})
	}
}

// TestSyncAnswersLostForTwins loses the answers to the APPENDs of two
// identical twins (same bytes, INTERNALDATEs a day apart, different
// flags). The retry finds both copies at the destination and must tell
// which is whose by date: were they swapped, each would get the other's
// flag changes, as the second pass shows.
func TestSyncAnswersLostForTwins(t *testing.T) {
	t.Parallel()
	twin := msg("twin", "Twins", "same bytes")
	msgs := []testserver.Message{
		{Folder: "INBOX", Raw: msg("a", "First", "one"), Flags: []imap.Flag{imap.FlagSeen}, Date: day(1)},
		{Folder: "INBOX", Raw: twin, Date: day(2)},
		{Folder: "INBOX", Raw: twin, Flags: []imap.Flag{imap.FlagSeen}, Date: day(3)},
	}
	// A unit's APPENDs go out in the FETCH's (UID) order: the cut loses
	// the answers from the second on.
	b := twinFault(t, msgs, 2)

	c := login(t, b.src.Addr, srcPW)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	srcNow := b.snap(t, b.src, srcPW)
	if rep := faultSync(t, b); rep.Totals.FlagsUpdated != 1 || rep.Totals.Copied != 0 {
		t.Errorf("second pass: flags updated %d, copied %d; want 1, 0", rep.Totals.FlagsUpdated, rep.Totals.Copied)
	}
	checkMirrors(t, srcNow, b.snap(t, b.dst, dstPW), map[string]string{"INBOX": "INBOX"}, nil)
}

// TestSyncAnswerLostAfterTwinCopied loses the answer to the APPEND of a
// message whose twin, alike in bytes, date and flags, the same attempt
// copied and recorded just before. The retry must count the twin's copy
// as the twin's: the state then records each message with its own copy.
func TestSyncAnswerLostAfterTwinCopied(t *testing.T) {
	t.Parallel()
	twin := msg("twin", "Twins", "same bytes")
	msgs := []testserver.Message{
		{Folder: "INBOX", Raw: msg("a", "First", "one"), Flags: []imap.Flag{imap.FlagSeen}, Date: day(1)},
		{Folder: "INBOX", Raw: twin, Flags: []imap.Flag{imap.FlagSeen}, Date: day(2)},
		{Folder: "INBOX", Raw: twin, Flags: []imap.Flag{imap.FlagSeen}, Date: day(2)},
	}
	b := twinFault(t, msgs, 3)
	fs, err := b.state.Folders(context.Background(), mailsync.MailboxKey(b.opts.Source, b.opts.Dest))
	if err != nil || len(fs) != 1 {
		t.Fatalf("state folders: %v, %v", fs, err)
	}
	recs, err := b.state.Messages(context.Background(), fs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	dest := map[uint32]uint32{}
	for _, r := range recs {
		if prev, ok := dest[r.DestUID]; ok {
			t.Errorf("source UIDs %d and %d are both recorded as destination UID %d", prev, r.SourceUID, r.DestUID)
		}
		dest[r.DestUID] = r.SourceUID
	}
	if len(recs) != 3 {
		t.Errorf("the state records %d messages; want 3", len(recs))
	}
}

// twinFault copies msgs (INBOX only) through a proxy that loses the
// answers to the APPENDs from the nth on, and checks that the pass
// recovered: every message once at the destination, as at the source.
func twinFault(t *testing.T, msgs []testserver.Message, nth int) *testBundle {
	t.Helper()
	b := setup(t, setupOpts{messages: msgs, dstCfg: testserver.DovecotConfig{NoMultiAppend: true}})
	before := b.snap(t, b.src, srcPW)
	p := testserver.StartProxy(t, b.dst.Addr, testserver.Cut{ToClient: true, After: []byte("APPENDUID"), Nth: nth, Before: true})
	b.opts.Dest.Addr = p.Addr
	b.opts.Connections = 1
	rep := faultSync(t, b)
	if p.Fired() != 1 || rep.Totals.Copied != len(msgs) || rep.Totals.Failed != 0 {
		t.Fatalf("fault fired %d times; copied %d, failed %d; want 1, %d, 0 (errors %v)", p.Fired(), rep.Totals.Copied, rep.Totals.Failed, len(msgs), rep.Errors)
	}
	checkMirrors(t, before, b.snap(t, b.dst, dstPW), map[string]string{"INBOX": "INBOX"}, nil)
	return b
}
