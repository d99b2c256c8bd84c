package imapconn

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestMultiAppendDovecot sends MULTIAPPENDs to a real Dovecot: the messages
// of a group arrive byte for byte with their flags, keywords and dates, in
// a folder whose name needs modified UTF-7, their UIDs in order; go-imap's
// commands before and after still work on the same connection; a group
// with one message over the server's size limit is refused whole, with the
// server's response code, and leaves nothing behind (what the engine's
// retry of such a group one message at a time relies on); and a read-only
// connection sends none.
func TestMultiAppendDovecot(t *testing.T) {
	d := testserver.StartDovecot(t, testserver.DovecotConfig{
		Users:       map[string]string{testUser: testPassword},
		MaxMailSize: "20k",
	})
	var trace bytes.Buffer
	cfg := testConfig(d.Addr, SecurityNone)
	cfg.Trace = &trace
	c := mustDial(t, cfg)
	if !c.CanMultiAppend() {
		t.Fatalf("Dovecot's capabilities %v: want MULTIAPPEND and LITERAL+", c.Caps())
	}
	const folder = "Déjà vu & Co"
	if err := c.Create(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}

	type msg struct {
		body  []byte
		flags []imap.Flag
		date  time.Time
	}
	var group []msg
	for i := range 3 {
		body := fmt.Appendf(nil, "Subject: message %d\r\nMessage-ID: <%d@multi>\r\n\r\n%s\r\n", i, i, strings.Repeat("body ", 100*(i+1)))
		flags := []imap.Flag{imap.FlagSeen, "$Label" + imap.Flag(fmt.Sprint(i))}
		group = append(group, msg{body, flags, time.Date(2019, 3, 4+i, 5, 6, 7, 0, time.FixedZone("", 2*3600))})
	}
	send := func(msgs []msg) (*AppendedData, error) {
		a, err := c.MultiAppend(folder)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if err := a.Message(m.flags, m.date, int64(len(m.body))); err != nil {
				return nil, err
			}
			if _, err := a.Write(m.body); err != nil {
				return nil, err
			}
		}
		if err := a.Close(); err != nil {
			return nil, err
		}
		return a.Wait()
	}

	data, err := send(group)
	if err != nil {
		t.Fatalf("MULTIAPPEND of 3 = %v", err)
	}
	if len(data.UIDs) != 3 || data.UIDValidity == 0 || !slices.IsSorted(data.UIDs) {
		t.Fatalf("APPENDUID %+v; want 3 UIDs in order", data)
	}

	// A group with one message over the limit: refused whole.
	big := msg{body: bytes.Repeat([]byte("x"), 30<<10), flags: nil}
	_, err = send([]msg{group[0], big, group[1]})
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo {
		t.Fatalf("MULTIAPPEND with a message over the size limit = %v; want a NO", err)
	}
	t.Logf("refused: %v", err)

	// go-imap's own commands go on, and the folder holds the first group only.
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("NOOP after MULTIAPPEND = %v", err)
	}
	bufs, err := c.Fetch(imap.UIDSetNum(data.UIDs...), &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(bufs) != 3 {
		t.Fatalf("fetched %d messages; want 3", len(bufs))
	}
	for i, b := range bufs {
		m := group[i]
		if b.UID != data.UIDs[i] || !bytes.Equal(b.BodySection[0].Bytes, m.body) || !b.InternalDate.Equal(m.date) {
			t.Errorf("message %d: uid %d, date %v, %d bytes; want uid %d, date %v, the %d bytes sent",
				i, b.UID, b.InternalDate, len(b.BodySection[0].Bytes), data.UIDs[i], m.date, len(m.body))
		}
		if !slices.Equal(sortedFlags(b.Flags), sortedFlags(m.flags)) {
			t.Errorf("message %d: flags %v; want %v", i, b.Flags, m.flags)
		}
	}
	st, err := c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 3 {
		t.Errorf("folder holds %v messages (%v); want the 3 of the accepted group only", st.NumMessages, err)
	}
	if !strings.Contains(trace.String(), " APPEND \"D&AOk-j&AOA- vu &- Co\" (\\Seen $Label0)") {
		t.Errorf("the transcript does not show the MULTIAPPEND:\n%s", trace.String())
	}

	// The read-only guard refuses it.
	ro := testConfig(d.Addr, SecurityNone)
	ro.ReadOnly = true
	rc := mustDial(t, ro)
	if rc.CanMultiAppend() {
		t.Error("a read-only connection says it can MULTIAPPEND")
	}
	a, err := rc.MultiAppend("INBOX")
	if err == nil {
		err = a.Message(nil, time.Time{}, 3)
	}
	if err == nil || !errors.Is(rc.Err(), ErrReadOnly) {
		t.Errorf("MULTIAPPEND on a read-only connection = %v (connection %v); want it refused by the guard", err, rc.Err())
	}
}

func sortedFlags(in []imap.Flag) []string {
	var out []string
	for _, f := range in {
		if !strings.EqualFold(string(f), `\Recent`) {
			out = append(out, strings.ToLower(string(f)))
		}
	}
	slices.Sort(out)
	return out
}

// TestEncodeMUTF7 checks the encoder against go-imap's own decoder: every
// name comes back as it was.
func TestEncodeMUTF7(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"INBOX", "INBOX"},
		{"Sent & Drafts", "Sent &- Drafts"},
		{"Déjà", "D&AOk-j&AOA-"},
		{"日本語", "&ZeVnLIqe-"},
		{"😀 smile", "&2D3eAA- smile"},
		{"a\tb", "a&AAk-b"},
	} {
		got := encodeMUTF7(tc.name)
		if got != tc.want {
			t.Errorf("encodeMUTF7(%q) = %q; want %q", tc.name, got, tc.want)
		}
	}
}

func FuzzEncodeMUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "Déjà & vu", "日本語/x", "😀", "a\x01b", "&-&"} {
		f.Add(s)
	}
	var o listOracle
	f.Fuzz(func(t *testing.T, name string) {
		if !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
			return
		}
		enc := encodeMUTF7(name)
		dec, ok := decodeMUTF7([]byte(enc))
		if !ok || dec != name {
			t.Fatalf("encodeMUTF7(%q) = %q, decodes to %q (%v)", name, enc, dec, ok)
		}
		quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(enc) + `"`
		got, accepted := o.accepts(t, []byte(`* LIST () "/" `+quoted+"\r\n"))
		if !accepted || (got != name && !strings.EqualFold(name, "INBOX")) {
			t.Fatalf("go-imap reads %q as %q (accepted %v); want %q", enc, got, accepted, name)
		}
	})
}
