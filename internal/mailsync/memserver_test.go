package mailsync_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/store"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// A source that misbehaves on the copy FETCH (RELIABILITY §4.2): an
// imapmemserver whose sessions are wrapped, copying into a real Dovecot.
// These cover settleMissing: a message the source FETCH did not return is
// either expunged (skipped) or not served (failed).

const memPW = "mem-pw-7"

// memSource is the wrapped imapmemserver. Its fetch hook, when set, runs
// for every whole-message body FETCH (the copy FETCH) and may change the
// number set handed to the real session.
type memSource struct {
	addr string
	user *imapmemserver.User

	mu    sync.Mutex
	fetch func(numSet imap.NumSet) imap.NumSet
	body  int // whole-message body FETCHes seen
	// bodyEarly, when set, answers the copy FETCH itself from msgs, each
	// message's body right after its UID, before its FLAGS, INTERNALDATE
	// and RFC822.SIZE (RFC 3501 does not order FETCH items), leaving out
	// the FLAGS of the folder's UIDs in noFlags; with uidLast, the body
	// comes first and the UID last.
	bodyEarly *bodyEarly
	msgs      []testserver.Message
}

type bodyEarly struct {
	noFlags map[string]imap.UID
	uidLast bool
}

// hookSession wraps a memserver session. It embeds SessionIMAP4rev2: the
// server advertises IMAP4rev2 and panics on a plain Session.
type hookSession struct {
	imapserver.SessionIMAP4rev2
	src      *memSource
	selected string
}

func (s *hookSession) Select(mailbox string, options *imap.SelectOptions) (*imap.SelectData, error) {
	s.selected = mailbox
	return s.SessionIMAP4rev2.Select(mailbox, options)
}

func (s *hookSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	if wholeBody(options) {
		s.src.mu.Lock()
		s.src.body++
		hook, early := s.src.fetch, s.src.bodyEarly
		s.src.mu.Unlock()
		if hook != nil {
			numSet = hook(numSet)
		}
		if early != nil {
			return s.fetchBodyEarly(w, numSet.(imap.UIDSet), options, early)
		}
	}
	return s.SessionIMAP4rev2.Fetch(w, numSet, options)
}

// fetchBodyEarly answers a UID FETCH of whole messages in the selected
// folder as memSource.bodyEarly says. A message's UID is its place among
// the folder's messages in msgs, and so its sequence number: the source
// it serves expunges nothing.
func (s *hookSession) fetchBodyEarly(w *imapserver.FetchWriter, uids imap.UIDSet, options *imap.FetchOptions, early *bodyEarly) error {
	uid := imap.UID(0)
	for _, m := range s.src.msgs {
		if m.Folder != s.selected {
			continue
		}
		uid++
		if !uids.Contains(uid) {
			continue
		}
		rw := w.CreateMessage(uint32(uid))
		if !early.uidLast {
			rw.WriteUID(uid)
		}
		for _, bs := range options.BodySection {
			wc := rw.WriteBodySection(bs, int64(len(m.Raw)))
			if _, err := wc.Write(m.Raw); err != nil {
				return err
			}
			if err := wc.Close(); err != nil {
				return err
			}
		}
		if options.Flags && early.noFlags[s.selected] != uid {
			rw.WriteFlags(m.Flags)
		}
		if options.InternalDate {
			rw.WriteInternalDate(m.Date)
		}
		if options.RFC822Size {
			rw.WriteRFC822Size(int64(len(m.Raw)))
		}
		if early.uidLast {
			rw.WriteUID(uid)
		}
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// wholeBody reports whether a FETCH asks for BODY[] (or BODY.PEEK[]), as
// the copy does; the header-only fetches used for fingerprints are left
// alone.
func wholeBody(options *imap.FetchOptions) bool {
	for _, bs := range options.BodySection {
		if bs.Specifier == imap.PartSpecifierNone && len(bs.Part) == 0 {
			return true
		}
	}
	return false
}

// withoutUID returns set minus uid. Other number sets are returned as is.
func withoutUID(set imap.NumSet, uid imap.UID) imap.NumSet {
	uids, ok := set.(imap.UIDSet)
	if !ok {
		return set
	}
	var out imap.UIDSet
	for _, r := range uids {
		lo, hi := r.Start, r.Stop
		if hi != 0 && lo > hi {
			lo, hi = hi, lo
		}
		if uid < lo || (hi != 0 && uid > hi) {
			out = append(out, imap.UIDRange{Start: r.Start, Stop: r.Stop})
			continue
		}
		if lo < uid {
			out = append(out, imap.UIDRange{Start: lo, Stop: uid - 1})
		}
		if hi == 0 || uid < hi {
			out = append(out, imap.UIDRange{Start: uid + 1, Stop: hi})
		}
	}
	if len(out) == 0 {
		// An empty set cannot go on the wire; ask for a UID that is not there.
		out = imap.UIDSetNum(0xfffffff0)
	}
	return out
}

type literal struct{ *bytes.Reader }

func (l literal) Size() int64 { return l.Reader.Size() }

// startMemSource starts the wrapped memserver on 127.0.0.1 with the
// messages appended folder by folder (UIDs from 1 in append order).
func startMemSource(t *testing.T, msgs []testserver.Message) *memSource {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, memPW)
	created := map[string]bool{}
	for _, name := range []string{"INBOX", "Archive"} {
		if err := u.Create(name, nil); err != nil {
			t.Fatal(err)
		}
		created[name] = true
	}
	for _, m := range msgs {
		if !created[m.Folder] {
			if err := u.Create(m.Folder, nil); err != nil {
				t.Fatal(err)
			}
			created[m.Folder] = true
		}
		if _, err := u.Append(m.Folder, literal{bytes.NewReader(m.Raw)}, &imap.AppendOptions{Flags: m.Flags, Time: m.Date}); err != nil {
			t.Fatal(err)
		}
	}
	mem.AddUser(u)
	src := &memSource{user: u, msgs: msgs}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &hookSession{SessionIMAP4rev2: mem.NewSession().(imapserver.SessionIMAP4rev2), src: src}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	src.addr = ln.Addr().String()
	return src
}

func (s *memSource) setFetch(f func(imap.NumSet) imap.NumSet) {
	s.mu.Lock()
	s.fetch = f
	s.mu.Unlock()
}

func (s *memSource) setBodyEarly(b *bodyEarly) {
	s.mu.Lock()
	s.bodyEarly = b
	s.mu.Unlock()
}

func (s *memSource) bodyFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.body
}

// expunge removes uid from folder through a second client connection, as
// another mail client would.
func (s *memSource) expunge(folder string, uid imap.UID) error {
	c, err := imapclient.DialInsecure(s.addr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(user, memPW).Wait(); err != nil {
		return err
	}
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		return err
	}
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := c.Store(imap.UIDSetNum(uid), store, nil).Close(); err != nil {
		return err
	}
	if err := c.Expunge().Close(); err != nil {
		return err
	}
	return c.Logout().Wait()
}

// memCorpus is five messages in INBOX (UIDs 1-5) and two in Archive,
// without keywords (the memserver lowercases them).
func memCorpus() []testserver.Message {
	var out []testserver.Message
	for i := 1; i <= 5; i++ {
		out = append(out, testserver.Message{Folder: "INBOX", Raw: msg(fmt.Sprintf("in%d", i), fmt.Sprintf("Inbox %d", i), strings.Repeat("body ", 50*i)), Flags: []imap.Flag{imap.FlagSeen}, Date: day(i)})
	}
	for i := 1; i <= 2; i++ {
		out = append(out, testserver.Message{Folder: "Archive", Raw: msg(fmt.Sprintf("ar%d", i), fmt.Sprintf("Archive %d", i), "old"), Date: day(-i)})
	}
	return out
}

// memBundle syncs a memSource into a fresh Dovecot over one connection per
// side.
func memBundle(t *testing.T, msgs []testserver.Message) (*memSource, *testserver.Dovecot, mailsync.Options) {
	t.Helper()
	dst := testserver.StartDovecot(t, testserver.DovecotConfig{Users: map[string]string{user: dstPW}})
	src := startMemSource(t, msgs)
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return src, dst, mailsync.Options{
		Source:         imapconn.Config{Addr: src.addr, Security: imapconn.SecurityNone, User: user, Password: memPW},
		Dest:           imapconn.Config{Addr: dst.Addr, Security: imapconn.SecurityNone, User: user, Password: dstPW},
		State:          db,
		MaxMessageSize: mailsync.DefaultMaxMessageSize,
		MaxItems:       mailsync.DefaultMaxItems,
		Connections:    1,
	}
}

func memSync(t *testing.T, opts mailsync.Options) *mailsync.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := mailsync.Sync(ctx, opts)
	if err != nil {
		t.Fatalf("Sync() error: %v", err)
	}
	return rep
}

// checkDest checks that each destination folder holds exactly want[folder]
// messages, with no two alike.
func checkDest(t *testing.T, dst *testserver.Dovecot, want map[string]int) {
	t.Helper()
	snap, err := testserver.Take(context.Background(), dst.Addr, user, dstPW)
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range want {
		f := snap.Folders[name]
		if f == nil {
			t.Errorf("destination folder %q missing; have %v", name, keys(snap.Folders))
			continue
		}
		if len(f.Messages) != n {
			t.Errorf("destination folder %q has %d messages; want %d", name, len(f.Messages), n)
		}
		seen := map[string]bool{}
		for _, m := range f.Messages {
			if seen[m.SHA256] {
				t.Errorf("destination folder %q: duplicate of %q", name, m.Subject)
			}
			seen[m.SHA256] = true
		}
	}
}

func TestSyncSourceReturnsNoData(t *testing.T) {
	const lost imap.UID = 3
	src, dst, opts := memBundle(t, memCorpus())
	// INBOX and Archive are fetched on one connection; only INBOX has a
	// UID 3, but Archive's set never contains it either way.
	src.setFetch(func(set imap.NumSet) imap.NumSet { return withoutUID(set, lost) })

	check := func(t *testing.T, rep *mailsync.Report, wantCopied int) {
		t.Helper()
		if rep.OK() {
			t.Error("Report.OK() = true; want false with a message not served")
		}
		if len(rep.Failed) != 1 || rep.Totals.Failed != 1 {
			t.Fatalf("failed items %+v (total %d); want exactly one", rep.Failed, rep.Totals.Failed)
		}
		it := rep.Failed[0]
		if it.Folder != "INBOX" || it.UID != uint32(lost) || !strings.Contains(it.Detail, "no data") ||
			!strings.Contains(it.Detail, fmt.Sprintf("uid %d", lost)) || !strings.Contains(it.Detail, "INBOX") {
			t.Errorf("failed item %+v; want INBOX uid %d with \"no data\" in Detail", it, lost)
		}
		if n := len(rep.Skipped); n != 0 {
			t.Errorf("skipped items %+v; want none", rep.Skipped)
		}
		if rep.Totals.Copied != wantCopied {
			t.Errorf("copied %d; want %d", rep.Totals.Copied, wantCopied)
		}
		if f := folderReport(t, rep, "INBOX"); f.Failed != 1 || f.DestCount != 4 {
			t.Errorf("INBOX report: failed %d, destination count %d; want 1, 4", f.Failed, f.DestCount)
		}
		checkDest(t, dst, map[string]int{"INBOX": 4, "Archive": 2})
	}

	rep := memSync(t, opts)
	check(t, rep, 6)
	if src.bodyFetches() == 0 {
		t.Fatal("no body FETCH reached the source: the fault was not injected")
	}

	t.Run("SecondRun", func(t *testing.T) {
		before := src.bodyFetches()
		rep := memSync(t, opts)
		if src.bodyFetches() == before {
			t.Error("second run did not try the missing message again")
		}
		check(t, rep, 0)
	})
}

func TestSyncSourceExpungedDuringRun(t *testing.T) {
	const gone imap.UID = 2
	src, dst, opts := memBundle(t, memCorpus())
	var once sync.Once
	var expErr error
	src.setFetch(func(set imap.NumSet) imap.NumSet {
		once.Do(func() { expErr = src.expunge("INBOX", gone) })
		return set
	})

	rep := memSync(t, opts)
	if expErr != nil {
		t.Fatalf("expunge at the source: %v", expErr)
	}
	if src.bodyFetches() == 0 {
		t.Fatal("no body FETCH reached the source: the fault was not injected")
	}
	if !rep.OK() {
		t.Errorf("Report.OK() = false; want true (failed %+v, errors %v)", rep.Failed, rep.Errors)
	}
	if len(rep.Failed) != 0 {
		t.Errorf("failed items %+v; want none", rep.Failed)
	}
	if len(rep.Skipped) != 1 {
		t.Fatalf("skipped items %+v; want one", rep.Skipped)
	}
	if it := rep.Skipped[0]; it.Folder != "INBOX" || it.UID != uint32(gone) || it.Reason != mailsync.ReasonExpunged {
		t.Errorf("skipped item %+v; want INBOX uid %d with reason %q", it, gone, mailsync.ReasonExpunged)
	}
	if n := rep.Totals.Skipped[mailsync.ReasonExpunged]; n != 1 {
		t.Errorf("totals: %d skipped as expunged; want 1", n)
	}
	if rep.Totals.Copied != 6 {
		t.Errorf("copied %d; want 6", rep.Totals.Copied)
	}
	checkDest(t, dst, map[string]int{"INBOX": 4, "Archive": 2})
}

// A source may send a message's body before its FLAGS and INTERNALDATE:
// the copy holds the body until they come and copies it with them. A
// message sent without its FLAGS fails, named, rather than arriving
// without them; the next run copies it. A body before its UID never
// reaches the copy (go-imap cannot tell whose it is): each such message
// fails as sent no data, and nothing is lost.
func TestSyncBodyBeforeFlagsAndDate(t *testing.T) {
	corpus := memCorpus()
	corpus[1].Flags = []imap.Flag{imap.FlagFlagged, imap.FlagAnswered}
	src, dst, opts := memBundle(t, corpus)
	before, err := testserver.Take(context.Background(), src.addr, user, memPW)
	if err != nil {
		t.Fatal(err)
	}
	src.setBodyEarly(&bodyEarly{uidLast: true})
	rep := memSync(t, opts)
	if rep.Totals.Copied != 0 || rep.Totals.Failed != len(corpus) || !strings.Contains(rep.Failed[0].Detail, "no data") {
		t.Fatalf("bodies before UIDs: copied %d, failed %d %+v; want every message failed as sent no data", rep.Totals.Copied, rep.Totals.Failed, rep.Failed)
	}

	const noFlags imap.UID = 4
	src.setBodyEarly(&bodyEarly{noFlags: map[string]imap.UID{"INBOX": noFlags}})

	rep = memSync(t, opts)
	if rep.Totals.Copied != 6 || rep.Totals.Failed != 1 || len(rep.Failed) != 1 {
		t.Fatalf("copied %d, failed %d %+v; want 6 copied and INBOX uid %d failed", rep.Totals.Copied, rep.Totals.Failed, rep.Failed, noFlags)
	}
	if it := rep.Failed[0]; it.Folder != "INBOX" || it.UID != uint32(noFlags) || !strings.Contains(it.Detail, "without its FLAGS") {
		t.Errorf("failed item %+v; want INBOX uid %d sent without its FLAGS", it, noFlags)
	}
	checkDest(t, dst, map[string]int{"INBOX": 4, "Archive": 2})

	src.setBodyEarly(&bodyEarly{})
	rep = memSync(t, opts)
	if rep.Totals.Copied != 1 || !rep.OK() {
		t.Errorf("second run: copied %d, OK %v (failed %+v); want the one failed message copied", rep.Totals.Copied, rep.OK(), rep.Failed)
	}
	after, err := testserver.Take(context.Background(), dst.Addr, user, dstPW)
	if err != nil {
		t.Fatal(err)
	}
	checkMirrors(t, before, after, map[string]string{"INBOX": "INBOX", "Archive": "Archive"}, nil)
}
