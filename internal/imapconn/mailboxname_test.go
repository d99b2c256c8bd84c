package imapconn

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func TestDecodeMUTF7(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		ok   bool
	}{
		{"ASCII", "Sent", "Sent", true},
		{"Ampersand", "A&-B", "A&B", true},
		{"RFC3501Example", "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語", true},
		{"RawUTF8", "Café", "Café", true},
		{"Control", "&AAE-x", "\x01x", true},
		{"NoDash", "Bad&AGE", "", false},
		{"ShiftedASCII", "&AGE-", "", false},
		{"Padding", "&AOk=-", "", false},
		{"NullShift", "&AOk-&AOk-", "", false},
		{"OddBytes", "&AOkA-", "", false},
		{"LoneSurrogate", "&2D0-", "", false},
		{"BadAlphabet", "&Jjo!-", "", false},
		{"Latin1", "Caf\xe9", "", false},
		{"RawControl", "a\tb", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decodeMUTF7([]byte(tt.in))
			if got != tt.want || ok != tt.ok {
				t.Errorf("decodeMUTF7(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// badListHandler answers LIST with valid names around three that go-imap
// cannot decode: a shift without its "-", Latin-1 in a literal, and an
// atom with a control character. It also sends STATUS data for one.
func badListHandler(rc *rawConn, tag, name, cmd string) {
	rc.send(
		`* LIST () "/" INBOX`,
		`* LIST () "/" "Bad&AGE"`,
		`* LIST () "/" Sent`,
		"* LIST (\\HasNoChildren) \"/\" {4}\r\nCaf\xe9",
		`* STATUS "Bad&AGE" (MESSAGES 3)`,
		"* LIST () \"/\" Tab\x01x",
		`* LIST () "/" "Archive/&ZeVnLIqe-"`,
		tag+" OK done",
	)
}

// TestListInvalidMailboxName reproduces go-imap losing its connection over
// one invalid modified UTF-7 name, then shows that through the wire the
// listing succeeds, the names are reported unmappable, and the connection
// stays up.
func TestListInvalidMailboxName(t *testing.T) {
	rs := startRaw(t, "* OK ready", "IMAP4rev1", map[string]rawHandler{"LIST": badListHandler})

	t.Run("PlainGoIMAP", func(t *testing.T) {
		c, err := imapclient.DialInsecure(rs.addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login(testUser, testPassword).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.List("", "*", nil).Collect(); err == nil {
			t.Fatal("go-imap accepted an invalid name; the workaround may no longer be needed")
		}
		if err := c.Noop().Wait(); err == nil {
			t.Fatal("NOOP after the bad LIST succeeded; want the connection lost")
		}
	})

	t.Run("Wire", func(t *testing.T) {
		tr := &syncBuffer{}
		cfg := testConfig(rs.addr, SecurityNone)
		cfg.Trace = tr
		c := mustDial(t, cfg)
		defer c.Close()
		list, err := c.List("", "*", nil).Collect()
		if err != nil {
			t.Fatalf("List() = %v; want the listing", err)
		}
		var names, raws []string
		for _, l := range list {
			if raw, ok := c.Unmappable(l.Mailbox); ok {
				raws = append(raws, raw)
				names = append(names, "?")
				continue
			}
			names = append(names, l.Mailbox)
		}
		if got, want := strings.Join(names, ","), "INBOX,?,Sent,?,?,Archive/日本語"; got != want {
			t.Errorf("listed %s; want %s", got, want)
		}
		if got, want := fmt.Sprintf("%q", raws), `["Bad&AGE" "Caf\xe9" "Tab\x01x"]`; got != want {
			t.Errorf("unmappable raw names %s; want %s", got, want)
		}
		if len(list) > 1 && !strings.HasPrefix(list[1].Mailbox, "\x01unmappable-") {
			t.Errorf("sentinel %q; want it to start with U+0001", list[1].Mailbox)
		}
		if _, ok := c.Unmappable("Sent"); ok {
			t.Error(`Unmappable("Sent") = true; want false`)
		}
		if err := c.Noop().Wait(); err != nil {
			t.Errorf("NOOP after the LIST = %v; want the connection kept", err)
		}
		if !strings.Contains(tr.String(), `-- mailbox name "Bad&AGE" is not valid modified UTF-7`) {
			t.Errorf("transcript does not note the rewrite:\n%s", tr)
		}
	})
}

// TestWireHoldsSplitResponses feeds a LIST with a bad name, split at every
// byte, between other responses, and checks what go-imap would read.
func TestWireHoldsSplitResponses(t *testing.T) {
	in := "* OK hi\r\n* 1 FETCH (BODY[] {5}\r\n* LIS)\r\n* LIST () \"/\" \"B&AGE\"\r\n* LIST () \"/\" {2}\r\nA\xff\r\nT1 OK done\r\n"
	for size := 1; size <= len(in); size++ {
		raw := &fakeConn{}
		for b := []byte(in); len(b) > 0; {
			n := min(size, len(b))
			raw.reads = append(raw.reads, b[:n])
			b = b[n:]
		}
		w := newWire(raw, raw, Config{IdleTimeout: time.Minute})
		var got bytes.Buffer
		buf := make([]byte, 7)
		for {
			n, err := w.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				break
			}
		}
		s1 := sentinelName(w.nonce, 1)
		s2 := sentinelName(w.nonce, 2)
		want := "* OK hi\r\n* 1 FETCH (BODY[] {5}\r\n* LIS)\r\n* LIST () \"/\" \"" + s1 + "\"\r\n* LIST () \"/\" \"" + s2 + "\"\r\nT1 OK done\r\n"
		if got.String() != want {
			t.Errorf("chunks of %d: read\n%q\nwant\n%q", size, got.String(), want)
		}
	}
}

// listOracle is a go-imap client that answers whether go-imap accepts one
// LIST response: the judge FuzzFixMailbox uses. A refused response kills
// the connection, so a new pair is made after each.
type listOracle struct {
	c    *imapclient.Client
	cli  net.Conn
	resp chan []byte
}

func (o *listOracle) accepts(t *testing.T, resp []byte) (string, bool) {
	if o.c == nil {
		cli, srv := net.Pipe()
		o.resp = make(chan []byte)
		go func() {
			defer srv.Close()
			br := bufio.NewReader(srv)
			srv.Write([]byte("* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n"))
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				tag, _, _ := strings.Cut(line, " ")
				if _, err := srv.Write(append(<-o.resp, tag+" OK done\r\n"...)); err != nil {
					return
				}
			}
		}()
		o.c, o.cli = imapclient.New(cli, nil), cli
	}
	var list []*imap.ListData
	var err error
	done := make(chan struct{})
	go func() {
		cmd := o.c.List("", "*", nil)
		o.resp <- resp
		list, err = cmd.Collect()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("go-imap hangs on %q", resp)
	}
	if err != nil || len(list) != 1 {
		// Not Client.Close, which can wait forever for go-imap's reader
		// (STACK.md catch 2): drop the pipe and leave the client behind.
		o.cli.Close()
		o.c = nil
		return "", false
	}
	return list[0].Mailbox, true
}

// FuzzFixMailbox checks fixMailbox against go-imap itself: it never
// panics; a response it leaves alone is one go-imap accepts; one it
// rewrites was refused by go-imap, is accepted after the rewrite with the
// sentinel as the name, and the raw name it reports is the one sent.
func FuzzFixMailbox(f *testing.F) {
	for _, s := range []string{"INBOX", "inbox", "Sent", "Bad&AGE", "&U,BTFw-", "&AGE-", "&Jjo!", "Caf\xe9", "a\x01b", "&-", "&AOk-&AOk-", "&2D3eCg-", "a]b", "a(b", "&AAE-unmappable-fuzz-1", ""} {
		for form := byte(0); form < 3; form++ {
			f.Add([]byte(s), form)
		}
	}
	const reserved = "\x01unmappable-fuzz-"
	var o listOracle
	f.Fuzz(func(t *testing.T, name []byte, form byte) {
		var enc string
		switch form % 3 {
		case 0:
			if bytes.IndexByte(name, '\n') >= 0 {
				return // a quoted string cannot span lines
			}
			r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
			enc = `"` + r.Replace(string(name)) + `"`
		case 1:
			enc = fmt.Sprintf("{%d}\r\n%s", len(name), name)
		case 2:
			if len(name) == 0 || bytes.ContainsAny(name, " \r\n{\"") {
				// Not one unquoted name; and go-imap, reading a '"' as the
				// start of a quoted string, waits for its end across lines.
				return
			}
			enc = string(name)
		}
		resp := []byte(`* LIST () "/" ` + enc + "\r\n")
		out, raw := fixMailbox(resp, reserved, func([]byte) string { return sentinelName("fuzz", 1) })
		orig, accepted := o.accepts(t, resp)
		if raw == nil {
			if !bytes.Equal(out, resp) {
				t.Fatalf("fixMailbox(%q) changed it without a raw name: %q", resp, out)
			}
			if !accepted {
				t.Fatalf("fixMailbox(%q) left it alone, but go-imap refuses it", resp)
			}
			return
		}
		if accepted && !strings.HasPrefix(orig, reserved) {
			t.Errorf("fixMailbox(%q) rewrote a response go-imap accepts (as %q)", resp, orig)
		}
		if !bytes.Equal(raw, name) {
			t.Errorf("fixMailbox(%q) raw name %q; want %q", resp, raw, name)
		}
		got, ok := o.accepts(t, out)
		if want := reserved + "1"; !ok || got != want {
			t.Fatalf("go-imap reads fixMailbox(%q) = %q as %q, %v; want %q", resp, out, got, ok, want)
		}
	})
}
