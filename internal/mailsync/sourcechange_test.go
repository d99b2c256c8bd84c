package mailsync_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// The source changes between two runs, or during one (RELIABILITY §3 rows
// 17, 18 and 40), on real Dovecot changed behind the engine's back with
// doveadm, as an admin or a mail client would change it.

// checkOnceEach fails the test unless every message of the source mailbox
// is at the destination exactly as many times as at the source, counting
// across all folders (a message copied twice into two folders is a
// duplicate too), plus extra, the SHA-256s of messages the destination
// may also hold.
func checkOnceEach(t *testing.T, src, dst *testserver.Snapshot, extra ...string) {
	t.Helper()
	count := map[string]int{}
	for _, f := range src.Folders {
		for _, m := range f.Messages {
			count[m.SHA256]++
		}
	}
	for _, sha := range extra {
		count[sha]++
	}
	for name, f := range dst.Folders {
		for _, m := range f.Messages {
			if count[m.SHA256]--; count[m.SHA256] < 0 {
				t.Errorf("destination %q holds message %.12s (%q) once more than the source", name, m.SHA256, m.Subject)
			}
		}
	}
	for sha, n := range count {
		if n > 0 {
			t.Errorf("message %.12s is missing %d time(s) at the destination", sha, n)
		}
	}
}

func doveadm(t *testing.T, d *testserver.Dovecot, args ...string) {
	t.Helper()
	if out, err := d.Doveadm(args...); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

// TestSyncSourceFolderDeleted: a folder deleted at the source after it was
// copied stays at the destination with its mail; the report says the
// source folder is gone, without an error, and says so again next time.
func TestSyncSourceFolderDeleted(t *testing.T) {
	t.Parallel()
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 21, Messages: 12, Folders: []string{"INBOX", "Old", "Keep"}, MinSize: 800, MaxSize: 2000})
	b := setup(t, setupOpts{messages: msgs})
	if rep := b.sync(t); !rep.OK() || rep.Totals.Copied != len(msgs) {
		t.Fatalf("first run: OK %v, copied %d; want all %d", rep.OK(), rep.Totals.Copied, len(msgs))
	}
	dstBefore := b.snap(t, b.dst, dstPW)
	oldCount := len(dstBefore.Folders["Old"].Messages)
	doveadm(t, b.src, "mailbox", "delete", "-u", user, "Old")

	for run := 2; run <= 3; run++ {
		rep := b.sync(t)
		if !rep.OK() || len(rep.Errors) != 0 || rep.Totals.Copied != 0 || rep.Totals.Failed != 0 {
			t.Errorf("run %d: OK %v, errors %v, copied %d, failed %d; want OK, none, 0, 0", run, rep.OK(), rep.Errors, rep.Totals.Copied, rep.Totals.Failed)
		}
		gone := folderReport(t, rep, "Old")
		if gone.Status != mailsync.StatusSourceGone || gone.Destination != "Old" || gone.DestCount != oldCount ||
			gone.Error != "" || !strings.Contains(gone.Note, fmt.Sprintf("the %d messages copied into it are kept", oldCount)) {
			t.Errorf("run %d: folder report for Old = %+v; want status %q, destination Old with %d messages kept, no error",
				run, gone, mailsync.StatusSourceGone, oldCount)
		}
		if d := dstBefore.Diff(b.snap(t, b.dst, dstPW)); len(d) > 0 {
			t.Errorf("run %d changed the destination: %v", run, d)
		}
	}
}

// TestSyncSourceFolderRenamed: a folder renamed at the source (with a
// sub-folder, and new mail in it since) is recognised by its UIDVALIDITY
// and messages: the destination folders are renamed to follow and only
// the new message is copied; nothing is duplicated. When the new name is
// taken at the destination by another folder, the copy goes on into the
// old destination folder.
func TestSyncSourceFolderRenamed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// taken creates the new name at the destination before the second
		// run.
		taken bool
		// want maps source folders to destination folders after the rename.
		want map[string]string
	}{
		{"DestinationFollows", false, map[string]string{"INBOX": "INBOX", "Clients": "Clients", "Clients/Alpha": "Clients/Alpha"}},
		{"NewNameTaken", true, map[string]string{"INBOX": "INBOX", "Clients": "Projects", "Clients/Alpha": "Clients/Alpha"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 22, Messages: 12, Folders: []string{"INBOX", "Projects", "Projects/Alpha"}, MinSize: 800, MaxSize: 2000})
			b := setup(t, setupOpts{messages: msgs})
			if rep := b.sync(t); !rep.OK() || rep.Totals.Copied != len(msgs) {
				t.Fatalf("first run: OK %v, copied %d; want all %d", rep.OK(), rep.Totals.Copied, len(msgs))
			}
			doveadm(t, b.src, "mailbox", "rename", "-u", user, "Projects", "Clients")
			c := login(t, b.src.Addr, srcPW)
			appendMsg(t, c, "Clients", msg("after-rename", "New in the renamed folder", "x"), nil, day(30))
			c.Close()
			if tc.taken {
				doveadm(t, b.dst, "mailbox", "create", "-u", user, "Clients")
			}
			src := b.snap(t, b.src, srcPW)

			rep := b.sync(t)
			if !rep.OK() || rep.Totals.Copied != 1 || rep.Totals.Present != len(msgs) {
				t.Errorf("after the rename: OK %v, copied %d, present %d; want OK, the new message only, %d present (folders %+v)",
					rep.OK(), rep.Totals.Copied, rep.Totals.Present, len(msgs), rep.Folders)
			}
			for _, f := range rep.Folders {
				if f.Status == mailsync.StatusSourceGone {
					t.Errorf("folder %q reported gone; it was renamed", f.Source)
				}
			}
			clients := folderReport(t, rep, "Clients")
			if !strings.Contains(clients.Note, `renamed at the source from "Projects"`) || clients.Destination != tc.want["Clients"] {
				t.Errorf("Clients report = %+v; want a note on the rename and destination %q", clients, tc.want["Clients"])
			}
			dst := b.snap(t, b.dst, dstPW)
			checkMirrors(t, src, dst, tc.want, nil)
			checkOnceEach(t, src, dst)
			if tc.taken {
				if f := dst.Folders["Clients"]; f == nil || len(f.Messages) != 0 {
					t.Errorf("the destination's own Clients folder = %+v; want it left empty", f)
				}
			} else if _, ok := dst.Folders["Projects"]; ok {
				t.Errorf("destination still has Projects after the source renamed it: %v", keys(dst.Folders))
			}

			rep = b.sync(t)
			if !rep.OK() || rep.Totals.Copied != 0 || rep.Totals.Present != len(msgs)+1 {
				t.Errorf("run after: OK %v, copied %d, present %d; want OK, 0, %d", rep.OK(), rep.Totals.Copied, rep.Totals.Present, len(msgs)+1)
			}
			if d := dst.Diff(b.snap(t, b.dst, dstPW)); len(d) > 0 {
				t.Errorf("run after changed the destination: %v", d)
			}
		})
	}
}

// TestSyncNewMailDuringRun: mail delivered to a folder while it is being
// copied is picked up by this run or the next, never twice.
func TestSyncNewMailDuringRun(t *testing.T) {
	t.Parallel()
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 23, Messages: 120, Folders: []string{"INBOX", "Archive"}, MinSize: 800, MaxSize: 3000})
	b := setup(t, setupOpts{messages: msgs})
	b.opts.Connections = 1
	var handled atomic.Int32
	b.opts.Progress = func(mailsync.Progress) {
		if handled.Add(1) != 20 {
			return
		}
		// Delivered while the copy is held here, in both folders.
		c := login(t, b.src.Addr, srcPW)
		defer c.Close()
		for i, f := range []string{"INBOX", "INBOX", "Archive"} {
			appendMsg(t, c, f, msg(fmt.Sprint("during-", i), "Arrived during the run", "x"), []imap.Flag{imap.FlagSeen}, day(40+i))
		}
	}
	first := b.sync(t)
	if handled.Load() < 20 {
		t.Fatalf("only %d messages handled; the new mail was not delivered during the run", handled.Load())
	}
	if !first.OK() || first.Totals.Failed != 0 {
		t.Fatalf("run during delivery: OK %v, failed %+v, errors %v", first.OK(), first.Failed, first.Errors)
	}
	src := b.snap(t, b.src, srcPW)
	dst := b.snap(t, b.dst, dstPW)
	// After this run: nothing twice; the new mail may or may not be there.
	var newSHAs []string
	for _, f := range src.Folders {
		for _, m := range f.Messages {
			if m.Subject == "Arrived during the run" {
				newSHAs = append(newSHAs, m.SHA256)
			}
		}
	}
	if len(newSHAs) != 3 {
		t.Fatalf("source has %d of the 3 new messages", len(newSHAs))
	}
	for name, f := range dst.Folders {
		seen := map[string]bool{}
		for _, m := range f.Messages {
			if seen[m.SHA256] {
				t.Errorf("destination %q has message %.12s twice after the first run", name, m.SHA256)
			}
			seen[m.SHA256] = true
		}
	}

	b.opts.Progress = nil
	second := b.sync(t)
	if !second.OK() || first.Totals.Copied+second.Totals.Copied != len(msgs)+3 {
		t.Errorf("copied %d then %d; want %d in all, each message once", first.Totals.Copied, second.Totals.Copied, len(msgs)+3)
	}
	dst = b.snap(t, b.dst, dstPW)
	checkMirrors(t, src, dst, map[string]string{"INBOX": "INBOX", "Archive": "Archive"}, nil)
	checkOnceEach(t, src, dst)
}
