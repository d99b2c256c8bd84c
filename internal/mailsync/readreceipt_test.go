package mailsync_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestSyncDisarmReadReceipts copies two messages that ask for a read
// receipt (one with the field folded over two lines) and one that does
// not: with the option on, the two arrive with $MDNSent and their own
// flags, the third without; with it off, none has the keyword. The bytes
// never change.
func TestSyncDisarmReadReceipts(t *testing.T) {
	msgs := []testserver.Message{
		{Folder: "INBOX", Raw: msg("r1", "Please confirm", "receipt asked", "Disposition-Notification-To: Bob <bob@example.com>"), Flags: []imap.Flag{imap.FlagSeen}, Date: day(1)},
		{Folder: "INBOX", Raw: msg("r2", "Folded", "receipt asked", "disposition-notification-to:\r\n  Bob <bob@example.com>"), Date: day(2)},
		{Folder: "INBOX", Raw: msg("n1", "No receipt", "nothing asked", "Return-Receipt-To: bob@example.com"), Flags: []imap.Flag{imap.FlagFlagged}, Date: day(3)},
	}
	for _, tc := range []struct {
		name               string
		disarm             bool
		wantMDN            map[string]bool // by Message-ID
		disarmed, reported int
	}{
		{name: "on", disarm: true, wantMDN: map[string]bool{"r1@example.com": true, "r2@example.com": true}, disarmed: 2},
		{name: "off", disarm: false, wantMDN: map[string]bool{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t, setupOpts{messages: msgs})
			b.opts.DisarmReadReceipts = tc.disarm
			rep := b.sync(t)
			if !rep.OK() || rep.Totals.Copied != 3 {
				t.Fatalf("copied %d, OK %v: %+v", rep.Totals.Copied, rep.OK(), rep.Errors)
			}
			if rep.DisarmReadReceipts != tc.disarm || rep.ReadReceiptsDisarmed != tc.disarmed || rep.ReadReceiptsNotDisarmed != 0 {
				t.Errorf("report: option %v, disarmed %d, not disarmed %d; want %v, %d, 0",
					rep.DisarmReadReceipts, rep.ReadReceiptsDisarmed, rep.ReadReceiptsNotDisarmed, tc.disarm, tc.disarmed)
			}
			if text := rep.ReadReceiptsText(); tc.disarm != strings.Contains(text, "2 messages asking for one were copied with $MDNSent") {
				t.Errorf("ReadReceiptsText() = %q", text)
			}

			src := b.snap(t, b.src, srcPW).Folders["INBOX"]
			dst := b.snap(t, b.dst, dstPW).Folders["INBOX"]
			if len(dst.Messages) != 3 {
				t.Fatalf("destination INBOX holds %d messages; want 3", len(dst.Messages))
			}
			bySum := map[string][]string{}
			for _, m := range src.Messages {
				bySum[m.SHA256] = m.Flags
			}
			for _, m := range dst.Messages {
				srcFlags, ok := bySum[m.SHA256]
				if !ok {
					t.Errorf("%s: its bytes changed (SHA-256 %s is not at the source)", m.MessageID, m.SHA256)
					continue
				}
				want := slices.Clone(srcFlags)
				if tc.wantMDN[m.MessageID] {
					want = append(want, string(imap.FlagMDNSent))
				}
				slices.Sort(want)
				got := slices.Clone(m.Flags)
				slices.Sort(got)
				if !slices.EqualFunc(got, want, strings.EqualFold) {
					t.Errorf("%s arrived with flags %v; want %v", m.MessageID, got, want)
				}
			}

			// The keyword is not the source's: a second run leaves it be
			// and copies nothing.
			if rep := b.sync(t); rep.Totals.Copied != 0 || rep.Totals.FlagsUpdated != 0 {
				t.Errorf("second run copied %d, updated flags of %d; want 0, 0", rep.Totals.Copied, rep.Totals.FlagsUpdated)
			}
			// Nor is it a difference for verification, run with the same
			// options.
			v, err := mailsync.Verify(context.Background(), b.opts)
			if err != nil {
				t.Fatal(err)
			}
			if v.Totals.FlagsDiffer != 0 || v.Grade != mailsync.GradePerfect {
				t.Errorf("verify: %d flag differences %+v, grade %s; want 0, Perfect", v.Totals.FlagsDiffer, v.FlagsDiffer, v.Grade)
			}
		})
	}
}
