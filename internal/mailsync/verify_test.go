package mailsync_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// lockedBuffer collects a connection transcript; both connections write
// to it from their own goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// verifyCorpus is the fixture without its large message, so that a policy
// limit of 300 KiB leaves nothing out until the test adds one, plus a
// generated corpus across the same folders.
func verifyCorpus() []testserver.Message {
	msgs := slices.DeleteFunc(fixture(), func(m testserver.Message) bool { return bytes.Contains(m.Raw, []byte("Subject: Big one")) })
	return append(msgs, testserver.Corpus(testserver.CorpusOptions{
		Seed: 7, Messages: 40, Folders: []string{"INBOX", "Sent", "Archive/2019", "Département/Équipe"},
	})...)
}

func verify(t *testing.T, opts mailsync.Options) (*mailsync.Verification, string) {
	t.Helper()
	var trace lockedBuffer
	opts.Source.Trace, opts.Dest.Trace = &trace, &trace
	v, err := mailsync.Verify(context.Background(), opts)
	if err != nil {
		t.Fatalf("Verify() error: %v", err)
	}
	return v, trace.String()
}

// wholeBodyFetches counts the commands in a transcript that fetch whole
// messages.
func wholeBodyFetches(trace string) int {
	n := 0
	for _, line := range strings.Split(trace, "\n") {
		if strings.Contains(line, "C: ") && strings.Contains(line, "BODY.PEEK[]") {
			n++
		}
	}
	return n
}

func uidOf(t *testing.T, snap *testserver.Snapshot, folder, subject string) imap.UID {
	t.Helper()
	f := snap.Folders[folder]
	if f == nil {
		t.Fatalf("no folder %q in snapshot", folder)
	}
	for _, m := range f.Messages {
		if m.Subject == subject {
			return imap.UID(m.UID)
		}
	}
	t.Fatalf("no message %q in folder %q", subject, folder)
	return 0
}

// changeDest runs fn on a read-write session at the destination with
// folder selected.
func changeDest(t *testing.T, b *testBundle, folder string, fn func(c *imapclient.Client)) {
	t.Helper()
	c := login(t, b.dst.Addr, dstPW)
	defer c.Close()
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	fn(c)
}

func storeFlags(t *testing.T, c *imapclient.Client, uid imap.UID, op imap.StoreFlagsOp, flags ...imap.Flag) {
	t.Helper()
	if err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
		t.Fatal(err)
	}
}

// deleteMsg expunges one message (UID EXPUNGE, so that the fixture's
// message flagged \Deleted stays).
func deleteMsg(t *testing.T, c *imapclient.Client, uid imap.UID) {
	t.Helper()
	storeFlags(t, c, uid, imap.StoreFlagsAdd, imap.FlagDeleted)
	if err := c.UIDExpunge(imap.UIDSetNum(uid)).Close(); err != nil {
		t.Fatal(err)
	}
}

func checkFolderCounts(t *testing.T, v *mailsync.Verification, want map[string]mailsync.FolderCheck) {
	t.Helper()
	for _, f := range v.Folders {
		w, ok := want[f.Source]
		if !ok {
			continue
		}
		if f.Status != w.Status || f.SourceCount != w.SourceCount || f.DestCount != w.DestCount || f.Matched != w.Matched ||
			f.Missing != w.Missing || f.Extra != w.Extra || f.FlagsDiffer != w.FlagsDiffer || f.DatesDiffer != w.DatesDiffer {
			t.Errorf("folder %q: %s source %d dest %d matched %d missing %d extra %d flags %d dates %d; want %s %d %d %d %d %d %d %d",
				f.Source, f.Status, f.SourceCount, f.DestCount, f.Matched, f.Missing, f.Extra, f.FlagsDiffer, f.DatesDiffer,
				w.Status, w.SourceCount, w.DestCount, w.Matched, w.Missing, w.Extra, w.FlagsDiffer, w.DatesDiffer)
		}
		delete(want, f.Source)
	}
	for name := range want {
		t.Errorf("no folder %q in the verification", name)
	}
}

func TestVerifyDovecot(t *testing.T) {
	b := setup(t, setupOpts{
		srcCfg:   testserver.DovecotConfig{SpecialUse: true},
		dstCfg:   testserver.DovecotConfig{SpecialUse: true},
		messages: verifyCorpus(),
	})
	b.opts.MaxMessageSize = 300 << 10
	b.opts.Folders.Exclude = []string{"Archive/2020"}
	if rep := b.sync(t); !rep.OK() || rep.Totals.Copied == 0 {
		t.Fatalf("sync: OK %v copied %d; folders %+v", rep.OK(), rep.Totals.Copied, rep.Folders)
	}
	srcSnap := b.snap(t, b.src, srcPW)
	count := func(folder string) int { return len(srcSnap.Folders[folder].Messages) }
	inbox, equipe := count("INBOX"), count("Département/Équipe")
	// Everything but Calendar (not mail) and Archive/2020 (excluded).
	expected := 0
	for name, f := range srcSnap.Folders {
		if name != "Calendar" && name != "Archive/2020" {
			expected += len(f.Messages)
		}
	}

	t.Run("PerfectAfterSync", func(t *testing.T) {
		v, trace := verify(t, b.opts)
		if v.Grade != mailsync.GradePerfect {
			t.Errorf("grade %s (%s); want Perfect", v.Grade, v.GradeReason)
		}
		tot := v.Totals
		if tot.Expected != expected || tot.Matched != expected || tot.Missing != 0 || tot.Extra != 0 || tot.FlagsDiffer != 0 || tot.DatesDiffer != 0 {
			t.Errorf("totals %+v; want %d expected and matched, no difference", tot, expected)
		}
		if want := map[string]int{"folder_non_mail": 1, "folder_excluded": 1}; !equalCounts(tot.Skipped, want) {
			t.Errorf("skipped %v; want %v", tot.Skipped, want)
		}
		checkFolderCounts(t, v, map[string]mailsync.FolderCheck{
			"INBOX":        {Status: "compared", SourceCount: inbox, DestCount: inbox, Matched: inbox},
			"Calendar":     {Status: "skipped: non_mail", SourceCount: 1},
			"Archive/2020": {Status: "skipped: excluded", SourceCount: 1},
		})
		// The twins of the fixture are paired by date and flags, without
		// their bodies.
		if v.BodiesFetched != 0 || wholeBodyFetches(trace) != 0 {
			t.Errorf("bodies fetched: %d reported, %d BODY.PEEK[] commands; want none", v.BodiesFetched, wholeBodyFetches(trace))
		}
	})

	// Break the destination the ways an admin would want to hear of, and
	// give the source a message too large for the policy.
	dstSnap := b.snap(t, b.dst, dstPW)
	changeDest(t, b, "Département/Équipe", func(c *imapclient.Client) {
		deleteMsg(t, c, uidOf(t, dstSnap, "Département/Équipe", "Umlauts"))
	})
	changeDest(t, b, "INBOX", func(c *imapclient.Client) {
		storeFlags(t, c, uidOf(t, dstSnap, "INBOX", "Hello"), imap.StoreFlagsAdd, imap.FlagFlagged)
		appendMsg(t, c, "INBOX", msg("extra", "Only at the destination", "x"), nil, day(40))
	})
	src := login(t, b.src.Addr, srcPW)
	appendMsg(t, src, "INBOX", msg("huge", "Too big", strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 6000)), nil, day(30))
	src.Close()
	srcSnap = b.snap(t, b.src, srcPW)
	srcUmlauts := uidOf(t, srcSnap, "Département/Équipe", "Umlauts")
	srcHello := uidOf(t, srcSnap, "INBOX", "Hello")
	srcBig := uidOf(t, srcSnap, "INBOX", "Too big")
	dstBefore := b.snap(t, b.dst, dstPW)
	dstExtra := uidOf(t, dstBefore, "INBOX", "Only at the destination")

	v, trace := verify(t, b.opts)

	t.Run("Differences", func(t *testing.T) {
		if len(v.Missing) != 1 || v.Missing[0].Folder != "Département/Équipe" || v.Missing[0].UID != uint32(srcUmlauts) ||
			v.Missing[0].Subject != "Umlauts" || !v.Missing[0].Date.Equal(day(9)) || v.Missing[0].Size == 0 {
			t.Errorf("missing %+v; want Département/Équipe UID %d Umlauts of %v", v.Missing, srcUmlauts, day(9))
		}
		if len(v.Extra) != 1 || v.Extra[0].Folder != "INBOX" || v.Extra[0].UID != uint32(dstExtra) || v.Extra[0].Subject != "Only at the destination" {
			t.Errorf("extra %+v; want INBOX UID %d Only at the destination", v.Extra, dstExtra)
		}
		if len(v.FlagsDiffer) != 1 || v.FlagsDiffer[0].UID != uint32(srcHello) || v.FlagsDiffer[0].Subject != "Hello" ||
			!slices.Equal(v.FlagsDiffer[0].SourceFlags, []string{`\Seen`}) || !slices.Equal(v.FlagsDiffer[0].DestFlags, []string{`\Flagged`, `\Seen`}) {
			t.Errorf("flags differ %+v; want Hello UID %d [\\Seen] vs [\\Flagged \\Seen]", v.FlagsDiffer, srcHello)
		}
		if len(v.DatesDiffer) != 0 {
			t.Errorf("dates differ %+v; want none", v.DatesDiffer)
		}
		if len(v.Skipped) != 1 || v.Skipped[0].Reason != mailsync.ReasonTooLarge || v.Skipped[0].UID != uint32(srcBig) ||
			v.Skipped[0].Subject != "Too big" || v.Skipped[0].Size <= 300<<10 ||
			v.Skipped[0].Detail != fmt.Sprintf("%d bytes is over the limit of 307200 bytes", v.Skipped[0].Size) {
			t.Errorf("skipped %+v; want INBOX UID %d Too big, too_large", v.Skipped, srcBig)
		}
		checkFolderCounts(t, v, map[string]mailsync.FolderCheck{
			"INBOX":              {Status: "compared", SourceCount: inbox + 1, DestCount: inbox + 1, Matched: inbox, Extra: 1, FlagsDiffer: 1},
			"Département/Équipe": {Status: "compared", SourceCount: equipe, DestCount: equipe - 1, Matched: equipe - 1, Missing: 1},
		})
		if v.Totals.Skipped[mailsync.ReasonTooLarge] != 1 || v.Totals.Expected != expected {
			t.Errorf("totals %+v; want 1 too_large and %d expected", v.Totals, expected)
		}
	})
	t.Run("Grade", func(t *testing.T) {
		// 1 missing and 1 flag difference among some 50 messages.
		if v.Grade != mailsync.GradeGood || !strings.Contains(v.GradeReason, "1 of ") || !strings.Contains(v.GradeReason, "1 flag or date difference") {
			t.Errorf("grade %s (%s); want Good with 1 missing and 1 difference", v.Grade, v.GradeReason)
		}
	})
	t.Run("NoBodiesFetched", func(t *testing.T) {
		if v.BodiesFetched != 0 || wholeBodyFetches(trace) != 0 {
			t.Errorf("bodies fetched: %d reported, %d BODY.PEEK[] commands; want none", v.BodiesFetched, wholeBodyFetches(trace))
		}
	})
	t.Run("NothingChanged", func(t *testing.T) {
		if d := srcSnap.Diff(b.snap(t, b.src, srcPW)); len(d) > 0 {
			t.Errorf("verify changed the source: %v", d)
		}
		if d := dstBefore.Diff(b.snap(t, b.dst, dstPW)); len(d) > 0 {
			t.Errorf("verify changed the destination: %v", d)
		}
		for _, cmd := range []string{" SELECT ", " STORE ", " APPEND ", " EXPUNGE", " CREATE ", " BODY[]"} {
			if strings.Contains(trace, cmd) {
				t.Errorf("the transcript holds %q", cmd)
			}
		}
	})

	// Doubts that only bodies settle: one of two identical twins gone, a
	// message replaced by one with the same header and another body, and a
	// message stored again under another date.
	dstSnap = b.snap(t, b.dst, dstPW)
	changeDest(t, b, "INBOX", func(c *imapclient.Client) {
		deleteMsg(t, c, uidOf(t, dstSnap, "INBOX", "Twins"))
		deleteMsg(t, c, uidOf(t, dstSnap, "INBOX", "No Message-ID"))
		appendMsg(t, c, "INBOX", msg("", "No Message-ID", "anonymous, but edited"), []imap.Flag{imap.FlagFlagged}, day(5))
	})
	changeDest(t, b, "Sent", func(c *imapclient.Client) {
		deleteMsg(t, c, uidOf(t, dstSnap, "Sent", "Sent one"))
		appendMsg(t, c, "Sent", msg("s1", "Sent one", "out"), []imap.Flag{imap.FlagSeen}, day(70))
	})

	t.Run("DoubtsSettledByBodies", func(t *testing.T) {
		v, trace := verify(t, b.opts)
		// Twins: 2 at the source, 1 at the destination; the edited
		// message: 1 at each end.
		if v.BodiesFetched != 5 || wholeBodyFetches(trace) != 2 {
			t.Errorf("bodies fetched %d in %d commands; want 5 in 2 (INBOX at both ends)", v.BodiesFetched, wholeBodyFetches(trace))
		}
		var missing []string
		for _, d := range v.Missing {
			missing = append(missing, d.Subject+": "+d.Detail)
		}
		slices.Sort(missing)
		want := []string{
			"No Message-ID: the destination holds a message with the same header but other content (UID",
			"Twins: identical copies: 2 at the source, 1 at the destination",
			"Umlauts: ",
		}
		if len(missing) != len(want) {
			t.Fatalf("missing %q; want %q", missing, want)
		}
		for i := range want {
			if !strings.HasPrefix(missing[i], want[i]) {
				t.Errorf("missing %q; want %q", missing[i], want[i])
			}
		}
		if len(v.Extra) != 2 {
			t.Errorf("extra %+v; want the first extra message and the edited one", v.Extra)
		}
		if len(v.DatesDiffer) != 1 || v.DatesDiffer[0].Subject != "Sent one" || !v.DatesDiffer[0].Date.Equal(day(7)) || !v.DatesDiffer[0].DestDate.Equal(day(70)) {
			t.Errorf("dates differ %+v; want Sent one %v vs %v", v.DatesDiffer, day(7), day(70))
		}
		// 3 missing is over 5% of the 53 messages expected.
		if v.Totals.Expected != expected || v.Grade != mailsync.GradePoor {
			t.Errorf("grade %s (%s) with %d expected; want Poor with %d expected", v.Grade, v.GradeReason, v.Totals.Expected, expected)
		}
	})
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
