package mailsync_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestIncrementalPassPipelines proves on the wire, against real Dovecot
// servers behind a link with a round trip of 100 ms, that an incremental
// pass does not wait for one folder's answers before it asks about the
// next: each changed source folder's EXAMINE goes out while the previous
// folder's commands are unanswered, the new messages' sizes and dates are
// asked with the EXAMINE, and each destination folder's STOREs go out with
// its SELECT (after an UNSELECT, which keeps them off the folder selected
// before should that SELECT fail). The flags and messages must arrive all
// the same.
func TestIncrementalPassPipelines(t *testing.T) {
	t.Parallel()
	// The user flags a message in four folders, and mail arrives in two.
	b, c := syncedThenFlagged(t, "INBOX", "Drafts", "Sent", "日本語")
	appendMsg(t, c, "INBOX", msg("n1", "New in the inbox", "new"), []imap.Flag{imap.FlagSeen}, day(40))
	appendMsg(t, c, "日本語", msg("n2", "New in 日本語", "new"), nil, day(41))

	srcRec := testserver.StartCommandRecorder(t, testserver.StartDelayProxy(t, b.src.Addr, 50*time.Millisecond))
	dstRec := testserver.StartCommandRecorder(t, testserver.StartDelayProxy(t, b.dst.Addr, 50*time.Millisecond))
	b.opts.Source.Addr, b.opts.Dest.Addr = srcRec.Addr(), dstRec.Addr()
	rep := b.sync(t)
	if !rep.OK() || rep.Totals.Copied != 2 || rep.Totals.FlagsUpdated != 4 {
		t.Fatalf("incremental run: OK %v, copied %d, flags updated %d, errors %v; want OK, 2 and 4", rep.OK(), rep.Totals.Copied, rep.Totals.FlagsUpdated, rep.Errors)
	}

	// The scan: the pass's first source connection, up to the copy's
	// EXAMINEs (without CONDSTORE).
	var scan []testserver.Command
	for _, cmd := range srcRec.Commands() {
		if cmd.Conn == 0 && !(cmd.Name == "EXAMINE" && !strings.Contains(cmd.Text, "CONDSTORE")) {
			scan = append(scan, cmd)
			continue
		}
		if cmd.Conn == 0 {
			break
		}
	}
	var examined []string
	fresh := 0
	for _, cmd := range scan {
		switch {
		case cmd.Name == "EXAMINE":
			examined = append(examined, cmd.Text)
			if len(examined) > 1 && cmd.Outstanding == 0 {
				t.Errorf("source: %q waited for the answers about the folder before it", cmd.Text)
			}
		case cmd.Name == "UID FETCH" && strings.Contains(cmd.Text, "INTERNALDATE"):
			fresh++
			if cmd.Outstanding < 3 {
				t.Errorf("source: %q went out with %d commands unanswered; want it with its EXAMINE, CHANGEDSINCE FETCH and SEARCH", cmd.Text, cmd.Outstanding)
			}
		}
	}
	if len(examined) != 4 || fresh != 2 {
		t.Errorf("source scan: folders examined %q, new messages asked in %d of them; want the 4 changed folders, and 2", examined, fresh)
	}

	var selects, unselects, stores int
	for _, cmd := range dstRec.Commands() {
		switch cmd.Name {
		case "SELECT":
			selects++
		case "UNSELECT":
			unselects++
		case "UID STORE":
			stores++
			if cmd.Outstanding == 0 {
				t.Errorf("destination: %q waited for its SELECT", cmd.Text)
			}
		}
	}
	if stores != 4 || unselects == 0 || unselects < selects-1 {
		t.Errorf("destination: %d STOREs, %d SELECTs, %d UNSELECTs; want 4 STOREs and an UNSELECT before each SELECT after the first", stores, selects, unselects)
	}

	dst := b.snap(t, b.dst, dstPW)
	for _, f := range []string{"INBOX", "Drafts", "Sent", "日本語"} {
		msgs := dst.Folders[f].Messages
		if len(msgs) == 0 || !slices.Contains(msgs[0].Flags, string(imap.FlagFlagged)) {
			t.Errorf("destination %s: first message %+v; want it \\Flagged", f, msgs)
		}
	}
	for f, subject := range map[string]string{"INBOX": "New in the inbox", "日本語": "New in 日本語"} {
		msgs := dst.Folders[f].Messages
		if len(msgs) == 0 || msgs[len(msgs)-1].Subject != subject {
			t.Errorf("destination %s: last message %+v; want %q", f, msgs[len(msgs)-1:], subject)
		}
	}
}

// TestMailArrivesDuringPass: a message that reaches a source folder
// between the pass's LIST and its EXAMINE, while the scan of the folders
// after it is already on the wire, is not among the new messages the LIST
// announced; the scan lists it by its UID SEARCH and fetches it after
// examining the folder again, and it is copied once, then never again.
// The folder is Sent: with one message against INBOX's nine, it is
// scanned first (smaller folders first, see scanAll), INBOX behind it.
func TestMailArrivesDuringPass(t *testing.T) {
	t.Parallel()
	b, c := syncedThenFlagged(t, "INBOX", "Sent")

	rec := testserver.StartCommandRecorder(t, b.src.Addr)
	// The hook runs on the proxy's goroutine: no t.Fatal there.
	var once sync.Once
	arrived := make(chan error, 1)
	rec.Before(func(cmd testserver.Command) {
		if cmd.Name == "EXAMINE" && strings.Contains(cmd.Text, "Sent") {
			once.Do(func() {
				raw := msg("late1", "Arrived during the pass", "late")
				a := c.Append("Sent", int64(len(raw)), &imap.AppendOptions{Time: day(50)})
				_, err := a.Write(raw)
				if err == nil {
					err = a.Close()
				}
				if err == nil {
					_, err = a.Wait()
				}
				arrived <- err
			})
		}
	})
	b.opts.Source.Addr = rec.Addr()
	rep := b.sync(t)
	select {
	case err := <-arrived:
		if err != nil {
			t.Fatalf("append while the pass examines Sent: %v", err)
		}
	default:
		t.Fatal("the pass never examined Sent")
	}
	if !rep.OK() || rep.Totals.Copied != 1 || rep.Totals.FlagsUpdated != 2 {
		t.Fatalf("pass with mail arriving: OK %v, copied %d, flags updated %d, errors %v; want the message copied and 2 flags", rep.OK(), rep.Totals.Copied, rep.Totals.FlagsUpdated, rep.Errors)
	}
	// After the scan's window: Sent examined again (without CONDSTORE)
	// and the late message's size and date fetched, before any body.
	late := false
	var last testserver.Command
	for _, cmd := range rec.Commands() {
		if cmd.Conn != 0 {
			continue
		}
		if cmd.Name == "UID FETCH" && strings.Contains(cmd.Text, "BODY") {
			break
		}
		if cmd.Name == "UID FETCH" && strings.Contains(cmd.Text, "INTERNALDATE") && !strings.Contains(cmd.Text, ":*") &&
			last.Name == "EXAMINE" && strings.HasSuffix(last.Text, `"Sent"`) {
			late = true
		}
		last = cmd
	}
	if !late {
		t.Errorf("no EXAMINE Sent followed by a FETCH of the late message's size and date before the copy; commands: %v", rec.Commands())
	}
	if rep := b.sync(t); !rep.OK() || rep.Totals.Copied != 0 {
		t.Errorf("next pass: OK %v, copied %d, errors %v; want nothing copied", rep.OK(), rep.Totals.Copied, rep.Errors)
	}
	sent := b.snap(t, b.dst, dstPW).Folders["Sent"].Messages
	n := 0
	for _, m := range sent {
		if m.Subject == "Arrived during the pass" {
			n++
		}
	}
	if n != 1 || len(sent) != 2 {
		t.Errorf("destination Sent: %d messages, the late one %d times; want 2 and once", len(sent), n)
	}
}

// syncedThenFlagged starts both servers with the fixture, runs a full
// pass, and flags the first message of each of folders at the source. It
// returns the bundle, whose state stays the same whatever address the
// servers are reached at, and a connection to the source, closed at the
// end of the test.
func syncedThenFlagged(t *testing.T, folders ...string) (*testBundle, *imapclient.Client) {
	t.Helper()
	b := setup(t, setupOpts{srcCfg: testserver.DovecotConfig{SpecialUse: true}, dstCfg: testserver.DovecotConfig{SpecialUse: true}})
	b.opts.Mailbox = mailsync.MailboxKey(b.opts.Source, b.opts.Dest)
	if rep := b.sync(t); !rep.OK() || rep.Totals.Copied != 15 {
		t.Fatalf("full run: OK %v, copied %d; want 15", rep.OK(), rep.Totals.Copied)
	}
	c := login(t, b.src.Addr, srcPW)
	t.Cleanup(func() { c.Close() })
	for _, f := range folders {
		if _, err := c.Select(f, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		setFlags(t, c, 1, imap.StoreFlagsAdd, imap.FlagFlagged)
	}
	return b, c
}
