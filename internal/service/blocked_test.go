package service_test

import (
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestOverQuotaBlocks: a destination mailbox that fills up (Dovecot's
// quota plugin: NO [OVERQUOTA]) parks its user Blocked with the server's
// words, without a retry loop, while the other users of the batch end
// Synced; sync-now tries it again at once; once the admin raises the
// quota, retry-failed finishes it, every message exactly once.
func TestOverQuotaBlocks(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 3, workers: 2, messagesBase: 5, dstQuotaKB: 100})
	// u01 gets about 360 KB more: over the quota, which the others' few
	// messages are not.
	more := testserver.Corpus(testserver.CorpusOptions{Seed: 100, Messages: 120, Folders: []string{"INBOX"}, MinSize: 2000, MaxSize: 4000})
	if err := testserver.Seed(b.ctx, b.src.Addr, "u01", b.password["u01"], more); err != nil {
		t.Fatal(err)
	}
	b.svc = restartTuned(b, func(c *service.Config) { c.BlockedRetry = time.Hour })
	if _, _, err := b.svc.CreateBatch(b.ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 3, nil), Start: true}); err != nil {
		t.Fatal(err)
	}

	bt := b.waitBatch("b1", 2*time.Minute, service.BatchSyncedWithErrors, service.BatchSynced, service.BatchFailed)
	if bt.State != service.BatchSyncedWithErrors || bt.Totals.UsersByState[service.UserBlocked] != 1 || bt.Totals.UsersByState[service.UserSynced] != 2 {
		t.Fatalf("batch %s with users %v; want SyncedWithErrors, 1 Blocked and 2 Synced", bt.State, bt.Totals.UsersByState)
	}
	for _, u := range []string{"u02", "u03"} {
		if got := b.user(u); got.Status != service.UserSynced || got.LastError != "" {
			t.Errorf("%s: %s, %q; want Synced without error", u, got.Status, got.LastError)
		}
		b.checkMirrored(u)
	}
	u := b.user("u01")
	blockedText := regexp.MustCompile(`^blocked: destination over quota: the mailbox u01@example.com is full, the server said "NO \[OVERQUOTA\] Quota exceeded[^"]*"; \d+ messages not copied yet\. Raise the quota: the user is tried again at \d{4}-\d\d-\d\d \d\d:\d\d UTC, or at once with retry-failed or sync-now$`)
	if u.Status != service.UserBlocked || !blockedText.MatchString(u.LastError) {
		t.Fatalf("u01: %s, %q; want Blocked, saying so in the server's words", u.Status, u.LastError)
	}
	if u.NextSync == nil || u.NextSync.Before(time.Now().Add(50*time.Minute)) {
		t.Errorf("u01's next try at %v; want about an hour from now (BlockedRetry)", u.NextSync)
	}
	copied := u.ItemsSynced
	if copied == 0 || copied >= int64(len(b.corpus["u01"])+len(more)) {
		t.Errorf("u01 blocked with %d items synced; want some, not all %d", copied, len(b.corpus["u01"])+len(more))
	}
	// No retry loop: nothing happens to u01 while the scheduler ticks.
	for range 20 {
		time.Sleep(100 * time.Millisecond)
		if u := b.user("u01"); u.Status != service.UserBlocked || blockedEntries(u) != 1 || u.ItemsSynced != copied {
			t.Fatalf("u01 while blocked: %s, %d items synced, %d blocked errors in its history; want Blocked, %d, 1",
				u.Status, u.ItemsSynced, blockedEntries(u), copied)
		}
	}

	// sync-now tries again at once: still full, so Blocked again.
	if _, err := b.svc.SyncNow(b.ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	b.waitUser("u01", time.Minute, func(u *service.User) bool { return u.Status == service.UserBlocked && blockedEntries(u) == 2 })

	// The admin raises the quota, then retries.
	raiseQuota(t, b.dst, "100K", "100M")
	if _, err := b.svc.RetryFailed(b.ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	bt = b.waitBatch("b1", 2*time.Minute, service.BatchSynced)
	if u := b.user("u01"); u.Status != service.UserSynced || u.LastError != "" || u.ItemsSynced != int64(len(b.corpus["u01"])+len(more)) {
		t.Errorf("u01 after the quota was raised: %s, %d items synced, %q; want Synced, %d, no error",
			u.Status, u.ItemsSynced, u.LastError, len(b.corpus["u01"])+len(more))
	}
	b.checkMirrored("u01")
}

// blockedEntries counts the "blocked:" errors in a user's history.
func blockedEntries(u *service.User) int {
	n := 0
	for _, e := range u.Errors {
		if strings.HasPrefix(e.Message, "blocked: ") {
			n++
		}
	}
	return n
}

// raiseQuota rewrites the instance's quota rule from old to new and
// restarts it, as an admin raising a mailbox's quota would.
func raiseQuota(t *testing.T, d *testserver.Dovecot, from, to string) {
	t.Helper()
	conf := filepath.Join(d.Dir, "etc", "dovecot.conf")
	text, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	rule := "quota_rule = *:storage=" + from
	if !strings.Contains(string(text), rule) {
		t.Fatalf("%s has no %q", conf, rule)
	}
	if err := os.WriteFile(conf, []byte(strings.Replace(string(text), rule, "quota_rule = *:storage="+to, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Restart(); err != nil {
		t.Fatal(err)
	}
}

// TestExchangeUnavailableBlocks: a destination that answers every APPEND
// "NO Server Unavailable. 15", as Exchange does for a full mailbox, costs
// the user's messages as rejected items for two passes (it may be busy),
// lowers the connections to it (it is a throttling answer), and parks the
// user Blocked at the third pass in a row; once it accepts mail again,
// retry-failed finishes the user with every message exactly once. The
// destination is an in-process go-imap server: Dovecot cannot say it.
func TestExchangeUnavailableBlocks(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 1, workers: 1, messagesBase: 20})
	exch := startUnavailable(t, "u01@example.com", "exchange pw")
	host, port, _ := net.SplitHostPort(exch.addr)
	portN, _ := strconv.Atoi(port)
	if _, err := b.svc.AddEndpoint(b.ctx, service.EndpointSpec{Endpoint: service.Endpoint{Name: "exch", Host: host, Port: portN, Security: "none"}}); err != nil {
		t.Fatal(err)
	}
	csv := fmt.Sprintf("EmailAddress,UserName,Password,DestinationUserName,DestinationPassword\nu01@example.com,u01,%s,u01@example.com,exchange pw\n", b.password["u01"])
	if _, _, err := b.svc.CreateBatch(b.ctx, service.BatchSpec{Name: "b1", SourceEndpoint: "src", DestEndpoint: "exch", CSV: csv, Start: true}); err != nil {
		t.Fatal(err)
	}
	total := int64(len(b.corpus["u01"]))

	var last *time.Time
	for pass := 1; pass <= 2; pass++ {
		if pass > 1 {
			if _, err := b.svc.SyncNow(b.ctx, "b1"); err != nil {
				t.Fatal(err)
			}
		}
		u := b.waitUser("u01", time.Minute, func(u *service.User) bool {
			return u.Status == service.UserSynced && u.LastSync != nil && (last == nil || u.LastSync.After(*last))
		})
		last = u.LastSync
		if u.SkippedBy["rejected"] != total || len(u.SkippedItems) == 0 || u.SkippedItems[0].Detail != "destination said: NO Server Unavailable. 15" {
			t.Errorf("u01 after pass %d: %d rejected (%+v); want all %d rejected, saying why", pass, u.SkippedBy["rejected"], u.SkippedItems, total)
		}
	}
	if n := b.endpoint("exch").DestConnections; n >= 2 {
		t.Errorf("exch after two passes answered \"Server Unavailable\": %d destination connections; want fewer than 2", n)
	}

	if _, err := b.svc.SyncNow(b.ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	u := b.waitUser("u01", time.Minute, func(u *service.User) bool {
		return u.Status == service.UserBlocked || u.Status == service.UserSynced && u.LastSync.After(*last)
	})
	want := `blocked: possibly over quota at the destination: the server of u01@example.com answered APPEND with "destination said: NO Server Unavailable. 15" in 3 passes in a row, which is how Exchange says that a mailbox is full. Raise the quota:`
	if u.Status != service.UserBlocked || !strings.HasPrefix(u.LastError, want) {
		t.Fatalf("u01 after the third pass: %s, %q; want Blocked, %q...", u.Status, u.LastError, want)
	}
	if bt := b.waitBatch("b1", time.Minute, service.BatchSyncedWithErrors); bt.Totals.UsersByState[service.UserBlocked] != 1 {
		t.Errorf("batch users %v; want 1 Blocked", bt.Totals.UsersByState)
	}
	if n := exch.stored(); n != 0 {
		t.Fatalf("the destination stored %d messages while refusing them", n)
	}

	exch.refuse.Store(false)
	if _, err := b.svc.RetryFailed(b.ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("b1", time.Minute, service.BatchSynced)
	if u := b.user("u01"); u.Status != service.UserSynced || u.ItemsSynced != total || u.LastError != "" {
		t.Errorf("u01 once the destination takes mail: %s, %d items synced, %q; want Synced, %d, no error", u.Status, u.ItemsSynced, u.LastError, total)
	}
	// Every source message once at the destination, by its bytes.
	srcSnap, err := testserver.Take(b.ctx, b.src.Addr, "u01", b.password["u01"])
	if err != nil {
		t.Fatal(err)
	}
	dstSnap, err := testserver.Take(b.ctx, exch.addr, "u01@example.com", "exchange pw")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hashes(dstSnap), hashes(srcSnap); !slices.Equal(got, want) {
		t.Errorf("destination holds %d messages, source %d; want the same bytes, each once", len(got), len(want))
	}
}

// unavailableServer is a go-imap memserver that answers APPEND "NO Server
// Unavailable. 15" while refuse is set.
type unavailableServer struct {
	addr   string
	user   *imapmemserver.User
	refuse atomic.Bool
}

func startUnavailable(t *testing.T, user, password string) *unavailableServer {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, password)
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	s := &unavailableServer{user: u}
	s.refuse.Store(true)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &unavailableSession{SessionIMAP4rev2: mem.NewSession().(imapserver.SessionIMAP4rev2), s: s}, nil, nil
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
	s.addr = ln.Addr().String()
	return s
}

// stored counts the messages in all of the user's folders.
func (s *unavailableServer) stored() int {
	var n int
	for _, name := range []string{"INBOX", "Sent", "Archive/2019"} {
		st, err := s.user.Status(name, &imap.StatusOptions{NumMessages: true})
		if err == nil && st.NumMessages != nil {
			n += int(*st.NumMessages)
		}
	}
	return n
}

type unavailableSession struct {
	imapserver.SessionIMAP4rev2
	s *unavailableServer
}

func (u *unavailableSession) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	if u.s.refuse.Load() {
		io.Copy(io.Discard, r)
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Server Unavailable. 15"}
	}
	return u.SessionIMAP4rev2.Append(mailbox, r, options)
}

// hashes lists the SHA-256 of every message of a snapshot, sorted.
func hashes(s *testserver.Snapshot) []string {
	var out []string
	for _, f := range s.Folders {
		for _, m := range f.Messages {
			out = append(out, m.SHA256)
		}
	}
	slices.Sort(out)
	return out
}
