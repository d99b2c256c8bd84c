package mailsync_test

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/store"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

const (
	user   = "alice@example.com"
	srcPW  = "source pw \"quoted\""
	dstPW  = "dest-pw-123"
	master = "admin"
	mastPW = "admin-secret"
)

// testBundle is a source and a destination Dovecot with a seeded source.
type testBundle struct {
	src, dst *testserver.Dovecot
	corpus   []testserver.Message
	state    *store.DB
	opts     mailsync.Options
}

type setupOpts struct {
	srcCfg   testserver.DovecotConfig
	dstCfg   testserver.DovecotConfig
	messages []testserver.Message
}

func setup(t testing.TB, so setupOpts) *testBundle {
	t.Helper()
	so.srcCfg.Users = map[string]string{user: srcPW}
	so.srcCfg.MasterUser, so.srcCfg.MasterPassword = master, mastPW
	so.dstCfg.Users = map[string]string{user: dstPW}
	src := testserver.StartDovecot(t, so.srcCfg)
	dst := testserver.StartDovecot(t, so.dstCfg)
	if so.messages == nil {
		so.messages = fixture()
	}
	ctx := context.Background()
	if err := testserver.Seed(ctx, src.Addr, user, srcPW, so.messages); err != nil {
		t.Fatalf("seed source: %v", err)
	}
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &testBundle{
		src: src, dst: dst, corpus: so.messages, state: db,
		opts: mailsync.Options{
			Source:         imapconn.Config{Addr: src.Addr, Security: imapconn.SecurityNone, User: user, Password: srcPW},
			Dest:           imapconn.Config{Addr: dst.Addr, Security: imapconn.SecurityNone, User: user, Password: dstPW},
			State:          db,
			MaxMessageSize: mailsync.DefaultMaxMessageSize,
			MaxItems:       mailsync.DefaultMaxItems,
			Connections:    3,
		},
	}
}

func (b *testBundle) sync(t testing.TB) *mailsync.Report {
	t.Helper()
	rep, err := mailsync.Sync(context.Background(), b.opts)
	if err != nil {
		t.Fatalf("Sync() error: %v", err)
	}
	return rep
}

func (b *testBundle) snap(t *testing.T, d *testserver.Dovecot, pw string) *testserver.Snapshot {
	t.Helper()
	s, err := testserver.Take(context.Background(), d.Addr, user, pw)
	if err != nil {
		t.Fatalf("snapshot %s: %v", d.Addr, err)
	}
	return s
}

// msg builds a small RFC 5322 message.
func msg(id, subject, body string, extra ...string) []byte {
	var b strings.Builder
	b.WriteString("From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>\r\n")
	if id != "" {
		b.WriteString("Message-ID: <" + id + "@example.com>\r\n")
	}
	b.WriteString("Date: Mon, 2 Jan 2023 10:00:00 +0100\r\nSubject: " + subject + "\r\n")
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("\r\n" + body + "\r\n")
	return []byte(b.String())
}

func day(n int) time.Time { return time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, n) }

// fixture is a mailbox with what a real one has: nested and non-ASCII
// folders, special folders, an empty folder, a calendar, \Deleted and
// keywords, identical twins, no Message-ID, a large message.
func fixture() []testserver.Message {
	big := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 6000) // ~390 KB
	twin := msg("twin", "Twins", "same bytes")
	m := []testserver.Message{
		{Folder: "INBOX", Raw: msg("1", "Hello", "first"), Flags: []imap.Flag{imap.FlagSeen}, Date: day(1)},
		{Folder: "INBOX", Raw: msg("2", "=?UTF-8?B?w4RyZ2VyIMO8YmVy?=", "zweite"), Flags: []imap.Flag{imap.FlagAnswered, "$Forwarded", "Important"}, Date: day(2)},
		{Folder: "INBOX", Raw: msg("3", "Deleted but not expunged", "still here"), Flags: []imap.Flag{imap.FlagDeleted, imap.FlagSeen}, Date: day(3)},
		{Folder: "INBOX", Raw: twin, Date: day(4)},
		{Folder: "INBOX", Raw: twin, Date: day(4)},
		{Folder: "INBOX", Raw: msg("", "No Message-ID", "anonymous"), Flags: []imap.Flag{imap.FlagFlagged}, Date: day(5)},
		{Folder: "INBOX", Raw: msg("big", "Big one", big), Date: day(6)},
		// Two different messages sharing a Message-ID are two messages.
		{Folder: "INBOX", Raw: msg("shared", "Shared id, first", "one"), Date: day(-10)},
		{Folder: "INBOX", Raw: msg("shared", "Shared id, second", "two"), Flags: []imap.Flag{imap.FlagSeen}, Date: day(-11)},
		{Folder: "Sent", Raw: msg("s1", "Sent one", "out"), Flags: []imap.Flag{imap.FlagSeen}, Date: day(7)},
		{Folder: "Drafts", Raw: msg("d1", "Draft", "unfinished"), Flags: []imap.Flag{imap.FlagDraft}, Date: day(8)},
		{Folder: "Archive/2019", Raw: msg("a1", "Old", "archived"), Flags: []imap.Flag{imap.FlagSeen, "$label1"}, Date: day(-1000)},
		{Folder: "Archive/2020", Raw: msg("a2", "Less old", "archived"), Flags: []imap.Flag{imap.FlagSeen}, Date: day(-500)},
		{Folder: "Département/Équipe", Raw: msg("u1", "Umlauts", "ünïcödé"), Date: day(9)},
		{Folder: "日本語", Raw: msg("j1", "=?UTF-8?B?5pel5pys6Kqe?=", "こんにちは"), Date: day(10)},
		{Folder: "Calendar", Raw: msg("c1", "Meeting", "BEGIN:VCALENDAR"), Date: day(11)},
	}
	return m
}

// checkMirrors fails the test for every difference between the source
// folders and their destination folders.
func checkMirrors(t *testing.T, src, dst *testserver.Snapshot, mapping map[string]string, skip map[string]bool) {
	t.Helper()
	for _, d := range testserver.CompareFolders(src, dst, mapping, skip) {
		t.Error(d)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func folderReport(t *testing.T, rep *mailsync.Report, source string) mailsync.FolderReport {
	t.Helper()
	for _, f := range rep.Folders {
		if f.Source == source {
			return f
		}
	}
	t.Fatalf("no folder %q in report; have %+v", source, rep.Folders)
	return mailsync.FolderReport{}
}

var slashMapping = map[string]string{
	"INBOX": "INBOX", "Sent": "Sent", "Drafts": "Drafts", "Archive/2019": "Archive/2019", "Archive/2020": "Archive/2020",
	"Département/Équipe": "Département/Équipe", "日本語": "日本語",
}

func TestSyncDovecotFullFidelity(t *testing.T) {
	b := setup(t, setupOpts{srcCfg: testserver.DovecotConfig{SpecialUse: true}, dstCfg: testserver.DovecotConfig{SpecialUse: true}})
	b.opts.MaxMessageSize = 300 << 10 // the "Big one" is over it
	before := b.snap(t, b.src, srcPW)

	rep := b.sync(t)
	if !rep.OK() {
		t.Fatalf("report not OK: failed %+v errors %v folders %+v", rep.Failed, rep.Errors, rep.Folders)
	}

	t.Run("SourceUntouched", func(t *testing.T) {
		if d := before.Diff(b.snap(t, b.src, srcPW)); len(d) > 0 {
			t.Errorf("source changed: %v", d)
		}
	})
	dst := b.snap(t, b.dst, dstPW)
	var bigSHA string
	for _, m := range before.Folders["INBOX"].Messages {
		if m.Subject == "Big one" {
			bigSHA = m.SHA256
		}
	}
	t.Run("MessagesFlagsDates", func(t *testing.T) {
		checkMirrors(t, before, dst, slashMapping, map[string]bool{bigSHA: true})
	})
	t.Run("NonMailNotMigrated", func(t *testing.T) {
		if _, ok := dst.Folders["Calendar"]; ok {
			t.Errorf("Calendar was created at the destination")
		}
		if f := folderReport(t, rep, "Calendar"); f.Status != "skipped: non_mail" {
			t.Errorf("Calendar status = %q; want skipped: non_mail", f.Status)
		}
	})
	t.Run("TooLargeReported", func(t *testing.T) {
		if len(rep.Skipped) != 1 {
			t.Fatalf("skipped = %+v; want the big message", rep.Skipped)
		}
		it := rep.Skipped[0]
		if it.Folder != "INBOX" || it.Reason != mailsync.ReasonTooLarge || it.Subject != "Big one" || it.Size < 300<<10 || it.UID == 0 || !it.Date.Equal(day(6)) {
			t.Errorf("skipped item = %+v; want INBOX, too_large, subject, size, uid, date", it)
		}
	})
	t.Run("Counts", func(t *testing.T) {
		inbox := folderReport(t, rep, "INBOX")
		if inbox.SourceCount != 9 || inbox.Copied != 8 || inbox.DestCount != 8 || inbox.Skipped[mailsync.ReasonTooLarge] != 1 {
			t.Errorf("INBOX report = %+v; want source 9, copied 8, dest 8, 1 too_large", inbox)
		}
		if rep.Totals.Copied != 14 {
			t.Errorf("total copied = %d; want 14", rep.Totals.Copied)
		}
	})
	t.Run("SubscriptionsAndEmptyFolders", func(t *testing.T) {
		for _, name := range []string{"Archive/2019", "日本語"} {
			if !slices.Contains(dst.Subscribed, name) {
				t.Errorf("%q not subscribed at the destination (subscribed: %v)", name, dst.Subscribed)
			}
		}
	})

	t.Run("RerunCopiesNothing", func(t *testing.T) {
		rep := b.sync(t)
		if rep.Totals.Copied != 0 || rep.Totals.Present != 14 {
			t.Errorf("re-run copied %d, present %d; want 0, 14", rep.Totals.Copied, rep.Totals.Present)
		}
		if d := dst.Diff(b.snap(t, b.dst, dstPW)); len(d) > 0 {
			t.Errorf("re-run changed the destination: %v", d)
		}
	})

	t.Run("IncrementalNewMailAndFlags", func(t *testing.T) {
		c := login(t, b.src.Addr, srcPW)
		appendMsg(t, c, "INBOX", msg("new", "New", "arrived later"), []imap.Flag{"$label2"}, day(20))
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		// Mark the first message read→unread and flag it; keyword on the second removed.
		store := func(op imap.StoreFlagsOp, uid imap.UID, flags ...imap.Flag) {
			if err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
				t.Fatal(err)
			}
		}
		store(imap.StoreFlagsDel, 1, imap.FlagSeen)
		store(imap.StoreFlagsAdd, 1, imap.FlagFlagged)
		store(imap.StoreFlagsDel, 2, "Important")
		// The only message of Sent is deleted at the source.
		if _, err := c.Select("Sent", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		store(imap.StoreFlagsAdd, 1, imap.FlagDeleted)
		if err := c.Expunge().Close(); err != nil {
			t.Fatal(err)
		}
		c.Close()
		srcNow := b.snap(t, b.src, srcPW)

		rep := b.sync(t)
		if rep.Totals.Copied != 1 || rep.Totals.FlagsUpdated != 2 || rep.Totals.DeletedAtSource != 1 {
			t.Errorf("incremental copied %d, flags updated %d, deleted at source %d; want 1, 2, 1", rep.Totals.Copied, rep.Totals.FlagsUpdated, rep.Totals.DeletedAtSource)
		}
		dstNow := b.snap(t, b.dst, dstPW)
		mapping := maps.Clone(slashMapping)
		delete(mapping, "Sent")
		checkMirrors(t, srcNow, dstNow, mapping, map[string]bool{bigSHA: true})
		if f := dstNow.Folders["Sent"]; f == nil || len(f.Messages) != 1 {
			t.Errorf("the message deleted at the source should stay at the destination; Sent = %+v", f)
		}
	})
}

func login(t *testing.T, addr, pw string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, pw).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

func appendMsg(t *testing.T, c *imapclient.Client, mbox string, raw []byte, flags []imap.Flag, date time.Time) {
	t.Helper()
	cmd := c.Append(mbox, int64(len(raw)), &imap.AppendOptions{Flags: flags, Time: date})
	cmd.Write(raw)
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("append to %s: %v", mbox, err)
	}
}

func TestSyncCourierSource(t *testing.T) {
	msgs := []testserver.Message{
		{Folder: "INBOX", Raw: msg("1", "Inbox", "x"), Date: day(1)},
		{Folder: "Sent", Raw: msg("2", "Sent", "x"), Flags: []imap.Flag{imap.FlagSeen}, Date: day(2)},
		{Folder: "Lists/golang", Raw: msg("3", "Nested", "x"), Date: day(3)},
		{Folder: "Entwürfe", Raw: msg("4", "Entwurf", "x"), Flags: []imap.Flag{imap.FlagDraft}, Date: day(4)},
	}
	b := setup(t, setupOpts{
		srcCfg:   testserver.DovecotConfig{Separator: ".", Prefix: "INBOX."},
		dstCfg:   testserver.DovecotConfig{SpecialUse: true},
		messages: msgs,
	})
	before := b.snap(t, b.src, srcPW)
	rep := b.sync(t)
	if !rep.OK() || rep.Totals.Copied != 4 {
		t.Fatalf("report: OK %v copied %d; folders %+v", rep.OK(), rep.Totals.Copied, rep.Folders)
	}
	dst := b.snap(t, b.dst, dstPW)
	// The INBOX. prefix is stripped, "." becomes "/", German Drafts map onto
	// the destination's Drafts.
	checkMirrors(t, before, dst, map[string]string{
		"INBOX": "INBOX", "INBOX.Sent": "Sent", "INBOX.Lists.golang": "Lists/golang", "INBOX.Entwürfe": "Drafts",
	}, nil)
	if d := before.Diff(b.snap(t, b.src, srcPW)); len(d) > 0 {
		t.Errorf("source changed: %v", d)
	}
}

func TestSyncToCourierDestination(t *testing.T) {
	msgs := []testserver.Message{
		{Folder: "INBOX", Raw: msg("1", "Inbox", "x"), Date: day(1)},
		{Folder: "Archive/2020", Raw: msg("2", "Nested", "x"), Date: day(2)},
	}
	b := setup(t, setupOpts{dstCfg: testserver.DovecotConfig{Separator: ".", Prefix: "INBOX."}, messages: msgs})
	before := b.snap(t, b.src, srcPW)
	rep := b.sync(t)
	if !rep.OK() {
		t.Fatalf("report not OK: %+v", rep.Folders)
	}
	checkMirrors(t, before, b.snap(t, b.dst, dstPW), map[string]string{"INBOX": "INBOX", "Archive/2020": "INBOX.Archive.2020"}, nil)
}

func TestSyncLostStateNoDuplicates(t *testing.T) {
	b := setup(t, setupOpts{})
	b.opts.MaxItems = 5 // first run copies only the newest five
	rep := b.sync(t)
	if rep.Totals.Copied != 5 || rep.Totals.Skipped[mailsync.ReasonOverMaxItems] != 10 {
		t.Fatalf("first run copied %d, over_max_items %d; want 5, 10", rep.Totals.Copied, rep.Totals.Skipped[mailsync.ReasonOverMaxItems])
	}
	// The newest five are the ones copied.
	dst := b.snap(t, b.dst, dstPW)
	var dates []time.Time
	for _, f := range dst.Folders {
		for _, m := range f.Messages {
			dates = append(dates, m.Date)
		}
	}
	for _, d := range dates {
		if d.Before(day(6)) {
			t.Errorf("a message of %v was copied; only the newest five (day 6 on) should be", d)
		}
	}

	// Lose the state; run without the cap.
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "fresh.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b.opts.State, b.opts.MaxItems = db, 0
	rep = b.sync(t)
	if rep.Totals.Present != 5 || rep.Totals.Copied != 10 {
		t.Errorf("after losing the state: present %d, copied %d; want 5, 10", rep.Totals.Present, rep.Totals.Copied)
	}
	checkMirrors(t, b.snap(t, b.src, srcPW), b.snap(t, b.dst, dstPW), slashMapping, nil)
}

func TestSyncUIDValidityChange(t *testing.T) {
	b := setup(t, setupOpts{})
	b.sync(t)
	if out, err := b.src.Doveadm("mailbox", "update", "-u", user, "--uid-validity", "12345", "INBOX"); err != nil {
		t.Fatalf("doveadm: %v: %s", err, out)
	}
	rep := b.sync(t)
	inbox := folderReport(t, rep, "INBOX")
	if inbox.Copied != 0 || inbox.Present != 9 || !strings.Contains(inbox.Note, "UIDVALIDITY") {
		t.Errorf("after UIDVALIDITY change INBOX = %+v; want copied 0, present 9, a note", inbox)
	}
	checkMirrors(t, b.snap(t, b.src, srcPW), b.snap(t, b.dst, dstPW), slashMapping, nil)
}

func TestSyncDryRunChangesNothing(t *testing.T) {
	b := setup(t, setupOpts{})
	dstBefore := b.snap(t, b.dst, dstPW)
	b.opts.DryRun = true
	rep := b.sync(t)
	if rep.Totals.ToCopy != 15 || rep.Totals.Copied != 0 {
		t.Errorf("dry run: to copy %d, copied %d; want 15, 0", rep.Totals.ToCopy, rep.Totals.Copied)
	}
	if d := dstBefore.Diff(b.snap(t, b.dst, dstPW)); len(d) > 0 {
		t.Errorf("dry run changed the destination: %v", d)
	}
	if fs, _ := b.state.Folders(context.Background(), mailsync.MailboxKey(b.opts.Source, b.opts.Dest)); len(fs) != 0 {
		t.Errorf("dry run wrote state: %+v", fs)
	}
}

func TestSyncAdminCredentials(t *testing.T) {
	b := setup(t, setupOpts{})
	b.opts.Source.AuthUser, b.opts.Source.Password = master, mastPW
	rep := b.sync(t)
	if !rep.OK() || rep.Totals.Copied != 15 {
		t.Errorf("with admin credentials: OK %v, copied %d; want 15", rep.OK(), rep.Totals.Copied)
	}
}

// TestSyncUserRoot: an admin login sees users' mailboxes as folders, and
// the batch CSV's UserRoot names the user's: that folder is the INBOX, the
// folders below it keep their names relative to it, and nothing else goes.
func TestSyncUserRoot(t *testing.T) {
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 4, Messages: 12,
		Folders: []string{"INBOX", "users/bob", "users/bob/Sent", "users/bob/Projects/2024", "users/carol"}})
	b := setup(t, setupOpts{messages: msgs})
	b.opts.SourceRoot = "users/bob"
	rep := b.sync(t)
	if !rep.OK() {
		t.Fatalf("report not OK: %+v", rep)
	}
	src, dst := b.snap(t, b.src, srcPW), b.snap(t, b.dst, dstPW)
	mapping := map[string]string{"users/bob": "INBOX", "users/bob/Sent": "Sent", "users/bob/Projects/2024": "Projects/2024"}
	for _, d := range testserver.CompareFolders(src, dst, mapping, nil) {
		t.Error(d)
	}
	for name, f := range dst.Folders {
		if strings.HasPrefix(name, "users") || (name == "INBOX" && len(f.Messages) != len(src.Folders["users/bob"].Messages)) {
			t.Errorf("destination folder %s with %d messages: only bob's folders, bob's INBOX from users/bob", name, len(f.Messages))
		}
	}
}

func TestSyncIncludeExclude(t *testing.T) {
	b := setup(t, setupOpts{})
	b.opts.Folders = folder.Rules{Include: []string{"INBOX", "Archive/*"}, Exclude: []string{"Archive/2019"}}
	rep := b.sync(t)
	dst := b.snap(t, b.dst, dstPW)
	if _, ok := dst.Folders["Archive/2019"]; ok {
		t.Errorf("excluded Archive/2019 was created")
	}
	if f := dst.Folders["Archive/2020"]; f == nil || len(f.Messages) != 1 {
		t.Errorf("Archive/2020 at destination = %+v; want 1 message", f)
	}
	if f := folderReport(t, rep, "Sent"); f.Status != "skipped: excluded" {
		t.Errorf("Sent status %q; want skipped: excluded", f.Status)
	}
}

func TestSyncRejectedMessageGoesOn(t *testing.T) {
	b := setup(t, setupOpts{dstCfg: testserver.DovecotConfig{MaxMailSize: "100k"}})
	rep := b.sync(t)
	if len(rep.Skipped) != 1 || rep.Skipped[0].Reason != mailsync.ReasonRejected || rep.Skipped[0].Folder != "INBOX" || rep.Skipped[0].UID == 0 {
		t.Fatalf("skipped = %+v; want the big message rejected by the destination", rep.Skipped)
	}
	if !strings.Contains(rep.Skipped[0].Detail, "destination said") {
		t.Errorf("rejection detail %q should carry the server's words", rep.Skipped[0].Detail)
	}
	if rep.Totals.Copied != 14 {
		t.Errorf("copied %d; want the other 14", rep.Totals.Copied)
	}
}

func TestSyncWrongPassword(t *testing.T) {
	b := setup(t, setupOpts{})
	b.opts.Dest.Password = "wrong"
	_, err := mailsync.Sync(context.Background(), b.opts)
	kind, ok := imapconn.KindOf(err)
	if !ok || kind != imapconn.KindAuth || !strings.Contains(err.Error(), "destination") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("Sync() with a wrong destination password = %v; want an auth error naming the destination and not the password", err)
	}
}

func TestSyncNoselectParent(t *testing.T) {
	b := setup(t, setupOpts{messages: []testserver.Message{{Folder: "INBOX", Raw: msg("1", "x", "x"), Date: day(1)}}})
	// Maildir++ makes "Projects" a parent that exists only by name.
	if out, err := b.src.Doveadm("mailbox", "create", "-u", user, "Projects/Alpha"); err != nil {
		t.Fatalf("doveadm: %v: %s", err, out)
	}
	c := login(t, b.src.Addr, srcPW)
	appendMsg(t, c, "Projects/Alpha", msg("p1", "In a child of a Noselect parent", "x"), nil, day(2))
	c.Close()
	before := b.snap(t, b.src, srcPW)
	rep := b.sync(t)
	if !rep.OK() {
		t.Fatalf("report not OK: %+v", rep.Folders)
	}
	checkMirrors(t, before, b.snap(t, b.dst, dstPW), map[string]string{"INBOX": "INBOX", "Projects/Alpha": "Projects/Alpha"}, nil)
	if f := folderReport(t, rep, "Projects"); f.Status != "skipped: noselect" {
		t.Errorf("Projects status = %q; want skipped: noselect", f.Status)
	}
}

// TestSyncNewestFirst checks the copy order at the destination: the
// destination assigns UIDs in the order messages arrive, so the first
// batch to arrive must hold the newest messages.
func TestSyncNewestFirst(t *testing.T) {
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 5, Messages: 250, Folders: []string{"INBOX"}, MinSize: 500, MaxSize: 2000})
	b := setup(t, setupOpts{messages: msgs})
	b.opts.Connections = 1
	if rep := b.sync(t); !rep.OK() || rep.Totals.Copied != 250 {
		t.Fatalf("copied %d; want 250", rep.Totals.Copied)
	}
	inbox := b.snap(t, b.dst, dstPW).Folders["INBOX"]
	if len(inbox.Messages) != 250 {
		t.Fatalf("destination INBOX has %d messages", len(inbox.Messages))
	}
	// Batches of up to 100 arrive newest batch first.
	batch := func(lo, hi int) (oldest, newest time.Time) {
		oldest, newest = inbox.Messages[lo].Date, inbox.Messages[lo].Date
		for _, m := range inbox.Messages[lo:hi] {
			if m.Date.Before(oldest) {
				oldest = m.Date
			}
			if m.Date.After(newest) {
				newest = m.Date
			}
		}
		return oldest, newest
	}
	o1, _ := batch(0, 100)
	o2, n2 := batch(100, 200)
	_, n3 := batch(200, 250)
	if !n2.Before(o1) || !n3.Before(o2) {
		t.Errorf("arrival order is not newest first: batch 1 oldest %v, batch 2 %v..%v, batch 3 newest %v", o1, o2, n2, n3)
	}
}

func TestSyncDestinationOverQuota(t *testing.T) {
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 9, Messages: 60, Folders: []string{"INBOX"}, MinSize: 4 << 10, MaxSize: 8 << 10})
	b := setup(t, setupOpts{dstCfg: testserver.DovecotConfig{QuotaStorageKB: 120}, messages: msgs})
	rep := b.sync(t)
	if rep.OK() || len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "over quota") {
		t.Fatalf("over quota: OK %v, errors %v; want one error saying so", rep.OK(), rep.Errors)
	}
	inbox := folderReport(t, rep, "INBOX")
	if inbox.Copied == 0 || inbox.Copied+inbox.Failed != 60 || inbox.DestCount != inbox.Copied {
		t.Errorf("INBOX = %+v; want some copied, the rest counted as failed, destination count = copied", inbox)
	}
	// What was not copied is not recorded: the next run (after the quota
	// is raised) copies exactly the rest.
	fs, err := b.state.Folders(context.Background(), mailsync.MailboxKey(b.opts.Source, b.opts.Dest))
	if err != nil || len(fs) == 0 {
		t.Fatalf("state folders: %v %v", fs, err)
	}
	for _, f := range fs {
		if f.SourceName != "INBOX" {
			continue
		}
		recorded, _ := b.state.Messages(context.Background(), f.ID)
		if len(recorded) != inbox.Copied {
			t.Errorf("state records %d messages; %d were copied", len(recorded), inbox.Copied)
		}
	}
}

// TestSyncDestinationFolderChanged covers a destination folder that is not
// the one the state speaks of any more: renumbered (UIDVALIDITY changed, the
// mail still there) or deleted and recreated empty by an admin.
func TestSyncDestinationFolderChanged(t *testing.T) {
	b := setup(t, setupOpts{})
	b.sync(t)
	if out, err := b.dst.Doveadm("mailbox", "update", "-u", user, "--uid-validity", "4242", "INBOX"); err != nil {
		t.Fatalf("doveadm: %v: %s", err, out)
	}
	if out, err := b.dst.Doveadm("mailbox", "delete", "-u", user, "Archive/2019"); err != nil {
		t.Fatalf("doveadm: %v: %s", err, out)
	}
	rep := b.sync(t)
	inbox := folderReport(t, rep, "INBOX")
	if inbox.Copied != 0 || inbox.Present != 9 || !strings.Contains(inbox.Note, "destination folder changed") {
		t.Errorf("renumbered destination INBOX = %+v; want nothing copied, 9 present, a note", inbox)
	}
	if f := folderReport(t, rep, "Archive/2019"); f.Copied != 1 || f.DestCount != 1 {
		t.Errorf("deleted destination Archive/2019 = %+v; want its message copied again", f)
	}
	checkMirrors(t, b.snap(t, b.src, srcPW), b.snap(t, b.dst, dstPW), slashMapping, nil)
}

// TestSyncConnectionLimit runs with more connections than the destination
// allows per user and address: the extra connections are refused with
// [LIMIT] and the migration completes on the ones it has.
func TestSyncConnectionLimit(t *testing.T) {
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 2, Messages: 900, Folders: []string{"INBOX", "Sent", "Archive"}, MinSize: 500, MaxSize: 3000})
	b := setup(t, setupOpts{dstCfg: testserver.DovecotConfig{MaxUserIPConnections: 1}, messages: msgs})
	b.opts.Connections = 4
	rep := b.sync(t)
	if !rep.OK() || rep.Totals.Copied != 900 {
		t.Fatalf("with a destination limit of 1 connection: OK %v, copied %d; want all 900", rep.OK(), rep.Totals.Copied)
	}
	m := map[string]string{}
	for _, f := range []string{"INBOX", "Sent", "Archive"} {
		m[f] = f
	}
	checkMirrors(t, b.snap(t, b.src, srcPW), b.snap(t, b.dst, dstPW), m, nil)
}
