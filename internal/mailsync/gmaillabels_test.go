package mailsync_test

import (
	"context"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

func TestLabelKeyword(t *testing.T) {
	for _, tc := range []struct{ label, want string }{
		{"Work", "Work"},
		{"Work/Projects", "Work/Projects"},
		{"Q1 plans", "Q1_plans"},
		{"Données", "Donn__es"},
		{`a(b)c{d%e*f"g\h]i`, "a_b_c_d_e_f_g_h_i"},
		{"$Label1", "$Label1"},
	} {
		if got := mailsync.LabelKeyword(tc.label); string(got) != tc.want {
			t.Errorf("LabelKeyword(%q) = %q, want %q", tc.label, got, tc.want)
		}
	}
}

// TestSyncGmailLabelsAsKeywords imitates Gmail with Dovecot: every message
// in "[Gmail]/All Mail" (\All), the same bytes also in the label folders.
// Keywords mode copies each message once, tagged with its labels, and a
// later pass turns label changes into keyword changes without copying.
func TestSyncGmailLabelsAsKeywords(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Dovecot")
	}
	plan := msg("plan", "Project plan", "in the inbox, labelled twice, also sent")
	report := msg("report", "Report", "archived, labelled Work")
	archived := msg("old", "Old news", "archived, no label")
	sent := msg("sent", "Sent note", "sent, labelled Q1 plans")
	in := func(raw []byte, flags []imap.Flag, d int, folders ...string) []testserver.Message {
		var out []testserver.Message
		for _, f := range append([]string{"[Gmail]/All Mail"}, folders...) {
			out = append(out, testserver.Message{Folder: f, Raw: raw, Flags: flags, Date: day(d)})
		}
		return out
	}
	var corpus []testserver.Message
	corpus = append(corpus, in(plan, []imap.Flag{imap.FlagSeen}, 1, "INBOX", "Work", "Work/Projects", "[Gmail]/Sent Mail")...)
	corpus = append(corpus, in(report, []imap.Flag{imap.FlagFlagged}, 2, "Work", "[Gmail]/Starred")...)
	corpus = append(corpus, in(archived, []imap.Flag{imap.FlagSeen, "$Forwarded"}, 3)...)
	corpus = append(corpus, in(sent, []imap.Flag{imap.FlagSeen}, 4, "[Gmail]/Sent Mail", "Q1 plans")...)

	b := setup(t, setupOpts{
		srcCfg: testserver.DovecotConfig{Mailboxes: map[string]string{
			"[Gmail]/All Mail": `\All`, "[Gmail]/Sent Mail": `\Sent`, "[Gmail]/Starred": `\Flagged`,
		}},
		dstCfg:   testserver.DovecotConfig{SpecialUse: true},
		messages: corpus,
	})
	b.opts.GmailLabels = mailsync.GmailLabelsKeywords
	srcBefore := b.snap(t, b.src, srcPW)

	rep := b.sync(t)
	if rep.Totals.Copied != 4 || rep.Totals.Failed != 0 || len(rep.Errors) != 0 {
		t.Fatalf("first pass: copied %d, failed %d, errors %v; want 4 copied", rep.Totals.Copied, rep.Totals.Failed, rep.Errors)
	}
	for _, f := range []string{"Work", "Work/Projects", "Q1 plans"} {
		if fr := folderReport(t, rep, f); fr.Status != "skipped: gmail_label" {
			t.Errorf("folder %q: status %q, want skipped: gmail_label", f, fr.Status)
		}
	}
	if fr := folderReport(t, rep, "[Gmail]/All Mail"); fr.Destination != "Archive" || fr.Copied != 2 {
		t.Errorf("All Mail went to %q with %d copied, want Archive with 2 (note %q)", fr.Destination, fr.Copied, fr.Note)
	}

	srcSnap := b.snap(t, b.src, srcPW)
	if d := srcBefore.Diff(srcSnap); len(d) > 0 {
		t.Errorf("source changed: %v", d)
	}
	allMail := map[string]testserver.MessageSnap{}
	for _, m := range srcSnap.Folders["[Gmail]/All Mail"].Messages {
		allMail[m.Subject] = m
	}
	want := map[string]map[string][]string{ // folder → subject → flags
		"INBOX":   {"Project plan": {"Work", "Work/Projects", `\Seen`}},
		"Archive": {"Report": {"Work", `\Flagged`}, "Old news": {"$Forwarded", `\Seen`}},
		"Sent":    {"Sent note": {"Q1_plans", `\Seen`}},
	}
	checkDest := func(when string, want map[string]map[string][]string) {
		t.Helper()
		dst := b.snap(t, b.dst, dstPW)
		total := 0
		for name, f := range dst.Folders {
			total += len(f.Messages)
			if want[name] == nil && len(f.Messages) > 0 {
				t.Errorf("%s: destination folder %q holds %d messages, want none", when, name, len(f.Messages))
			}
		}
		if total != 4 {
			t.Errorf("%s: destination holds %d messages, want each of the 4 once", when, total)
		}
		for name, subjects := range want {
			f := dst.Folders[name]
			if f == nil {
				t.Errorf("%s: no destination folder %q", when, name)
				continue
			}
			got := map[string]testserver.MessageSnap{}
			for _, m := range f.Messages {
				if _, dup := got[m.Subject]; dup {
					t.Errorf("%s: %q twice in %q", when, m.Subject, name)
				}
				got[m.Subject] = m
			}
			for subject, flags := range subjects {
				m, ok := got[subject]
				if !ok {
					t.Errorf("%s: %q not in %q (have %v)", when, subject, name, keys(got))
					continue
				}
				src := allMail[subject]
				if m.SHA256 != src.SHA256 || !m.Date.Equal(src.Date) {
					t.Errorf("%s: %q in %q: bytes or date differ from the source", when, subject, name)
				}
				if !slices.Equal(m.Flags, flags) {
					t.Errorf("%s: %q in %q has flags %v, want %v", when, subject, name, m.Flags, flags)
				}
			}
		}
	}
	checkDest("first pass", want)

	// At the source: label "Old news" Work, take Projects off "Project plan".
	c := login(t, b.src.Addr, srcPW)
	appendMsg(t, c, "Work", archived, []imap.Flag{imap.FlagSeen, "$Forwarded"}, day(3))
	if _, err := c.Select("Work/Projects", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()

	rep = b.sync(t)
	if rep.Totals.Copied != 0 || rep.Totals.FlagsUpdated != 2 || len(rep.Errors) != 0 {
		t.Errorf("second pass: copied %d, flags updated %d, errors %v; want 0 copied, 2 updated", rep.Totals.Copied, rep.Totals.FlagsUpdated, rep.Errors)
	}
	want["INBOX"]["Project plan"] = []string{"Work", `\Seen`}
	want["Archive"]["Old news"] = []string{"$Forwarded", "Work", `\Seen`}
	checkDest("second pass", want)

	// Default mode is unchanged: each label is a folder, All Mail skipped.
	b.opts.GmailLabels = ""
	b.opts.DryRun = true
	rep, err := mailsync.Sync(context.Background(), b.opts)
	if err != nil {
		t.Fatal(err)
	}
	if fr := folderReport(t, rep, "[Gmail]/All Mail"); fr.Status != "skipped: virtual" {
		t.Errorf("folders mode: All Mail status %q, want skipped: virtual", fr.Status)
	}
	if fr := folderReport(t, rep, "Work/Projects"); fr.Destination != "Work/Projects" {
		t.Errorf("folders mode: Work/Projects goes to %q", fr.Destination)
	}
}
