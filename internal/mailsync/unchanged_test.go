package mailsync_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// examined returns the folders the commands after the first from EXAMINEd
// (each once: a folder with messages to copy is examined again by the
// copy), whether any FETCH was sent, and whether only CHANGEDSINCE ones
// asked for the flags of the whole folder (UID FETCH 1:*).
func examined(cmds []testserver.Command, from int) (folders []string, fetched, onlyChanges bool) {
	onlyChanges = true
	for _, c := range cmds[from:] {
		switch c.Name {
		case "EXAMINE":
			f := strings.Fields(c.Text)
			if len(f) >= 3 {
				folders = append(folders, strings.Trim(f[2], `"`))
			}
		case "FETCH", "UID FETCH":
			fetched = true
			if strings.Contains(c.Text, " 1:* ") && !strings.Contains(c.Text, "CHANGEDSINCE") {
				onlyChanges = false
			}
		}
	}
	slices.Sort(folders)
	return slices.Compact(folders), fetched, onlyChanges
}

// TestSyncSkipsUnchangedFolders proves on the wire, against a real Dovecot
// (CONDSTORE and LIST-STATUS), that a pass after a complete one neither
// examines nor fetches an unchanged folder, that a flag change and an
// expunge are still noticed and carried (by HIGHESTMODSEQ), and that a
// skipped folder's report says what a scanned one would.
func TestSyncSkipsUnchangedFolders(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{srcCfg: testserver.DovecotConfig{SpecialUse: true}, dstCfg: testserver.DovecotConfig{SpecialUse: true}})
	rec := testserver.StartCommandRecorder(t, b.src.Addr)
	b.opts.Source.Addr = rec.Addr()

	if rep := b.sync(t); !rep.OK() || rep.Totals.Copied != 15 {
		t.Fatalf("full run: OK %v, copied %d; want 15", rep.OK(), rep.Totals.Copied)
	}
	mail := []string{"Archive/2019", "Archive/2020", "Drafts", "INBOX", "Sent", "Département/Équipe", "日本語"}
	sourceCount := map[string]int{"Archive/2019": 1, "Archive/2020": 1, "Drafts": 2, "INBOX": 9, "Sent": 1, "Département/Équipe": 1, "日本語": 1}

	// The user changes one flag in Sent, expunges the one message of
	// Archive/2019 and saves a draft, directly at the source; INBOX and
	// the rest stay.
	c := login(t, b.src.Addr, srcPW)
	defer c.Close()
	if _, err := c.Select("Sent", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	setFlags(t, c, 1, imap.StoreFlagsAdd, imap.FlagFlagged)
	if _, err := c.Select("Archive/2019", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	setFlags(t, c, 1, imap.StoreFlagsAdd, imap.FlagDeleted)
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, c, "Drafts", msg("d2", "Second draft", "new"), []imap.Flag{imap.FlagDraft}, day(30))

	type want struct {
		unchanged                  bool
		flagsUpdated, deletedAtSrc int
		sourceCount                int
	}
	passes := []struct {
		name     string
		examined []string // folders the pass may EXAMINE, sorted
		copied   int
		folders  map[string]want
	}{
		{
			name:     "after a flag change and an expunge",
			examined: []string{"Archive/2019", "Drafts", "Sent"},
			copied:   1,
			folders: map[string]want{
				"Drafts":       {unchanged: false, sourceCount: 2},
				"Sent":         {unchanged: false, flagsUpdated: 1, sourceCount: 1},
				"Archive/2019": {unchanged: false, deletedAtSrc: 1, sourceCount: 0},
				"INBOX":        {unchanged: true, sourceCount: 9},
			},
		},
		{
			name:     "nothing changed",
			examined: nil,
			folders: map[string]want{
				"Sent":         {unchanged: true, sourceCount: 1},
				"Archive/2019": {unchanged: true, deletedAtSrc: 1, sourceCount: 0},
				"INBOX":        {unchanged: true, sourceCount: 9},
				"日本語":          {unchanged: true, sourceCount: 1},
				"Drafts":       {unchanged: true, sourceCount: 2},
			},
		},
	}
	for _, p := range passes {
		from := len(rec.Commands())
		rep := b.sync(t)
		if !rep.OK() || rep.Totals.Copied != p.copied {
			t.Fatalf("%s: OK %v, copied %d, errors %v; want OK and %d copied", p.name, rep.OK(), rep.Totals.Copied, rep.Errors, p.copied)
		}
		got, fetched, onlyChanges := examined(rec.Commands(), from)
		if !onlyChanges {
			t.Errorf("%s: a whole folder was fetched; want only its changes (CHANGEDSINCE)", p.name)
		}
		if !slices.Equal(got, p.examined) {
			t.Errorf("%s: source folders examined %q; want %q", p.name, got, p.examined)
		}
		if fetched != (len(p.examined) > 0) {
			t.Errorf("%s: FETCH sent %v; want %v", p.name, fetched, len(p.examined) > 0)
		}
		for name, w := range p.folders {
			f := folderReport(t, rep, name)
			if f.Unchanged != w.unchanged || f.FlagsUpdated != w.flagsUpdated || f.DeletedAtSource != w.deletedAtSrc ||
				f.SourceCount != w.sourceCount || f.Status != "synced" {
				t.Errorf("%s: folder %s: unchanged %v, flags updated %d, deleted at source %d, source count %d, status %q; want %v, %d, %d, %d, synced",
					p.name, name, f.Unchanged, f.FlagsUpdated, f.DeletedAtSource, f.SourceCount, f.Status,
					w.unchanged, w.flagsUpdated, w.deletedAtSrc, w.sourceCount)
			}
		}
		for _, name := range mail {
			f := folderReport(t, rep, name)
			want := sourceCount[name]
			switch {
			case name == "Archive/2019":
				want = 0
			case name == "Drafts" && p.copied > 0:
				want = 1 // and the new draft copied
			}
			if f.Present != want || f.DestCount != sourceCount[name] {
				t.Errorf("%s: folder %s: already present %d, destination count %d; want %d and %d", p.name, name, f.Present, f.DestCount, want, sourceCount[name])
			}
		}
	}

	// The flag reached the destination; the expunged message stays there.
	dst := b.snap(t, b.dst, dstPW)
	sent := dst.Folders["Sent"].Messages
	if len(sent) != 1 || !slices.Contains(sent[0].Flags, string(imap.FlagFlagged)) {
		t.Errorf("destination Sent: %+v; want one message with \\Flagged", sent)
	}
	if got := dst.Folders["Drafts"].Messages; len(got) != 2 || got[1].Subject != "Second draft" || !slices.Contains(got[1].Flags, string(imap.FlagDraft)) {
		t.Errorf("destination Drafts: %+v; want the new draft second, with \\Draft", got)
	}
	if n := len(dst.Folders["Archive/2019"].Messages); n != 1 {
		t.Errorf("destination Archive/2019 holds %d messages; want the 1 copied before the expunge", n)
	}
}
