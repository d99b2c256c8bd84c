package imapconn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestCheckReadOnly(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
	}{
		{"T1 CAPABILITY", true},
		{"T1 LOGIN alice {5}", true},
		{"T1 AUTHENTICATE PLAIN AGFsaWNl", true},
		{"T1 EXAMINE INBOX", true},
		{"T1 examine INBOX", true},
		{`T1 LIST "" "*" RETURN (SPECIAL-USE)`, true},
		{"T1 STATUS INBOX (MESSAGES UIDNEXT)", true},
		{"T1 UID FETCH 1:* (UID FLAGS BODY.PEEK[])", true},
		{"T1 uid fetch 1:* (uid body.peek[header])", true},
		{"T1 FETCH 1 (RFC822.SIZE RFC822.HEADER INTERNALDATE ENVELOPE BODYSTRUCTURE BODY)", true},
		{`T1 FETCH 1 (BODY.PEEK[HEADER.FIELDS ("RFC822" "BODY[")])`, true},
		{"T1 FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])", true},
		{"T1 UID SEARCH ALL", true},
		{"T1 UNSELECT", true},
		{"T1 IDLE", true},
		{"T1 SELECT INBOX", false},
		{"T1 CLOSE", false},
		{"T1 STORE 1 +FLAGS (\\Seen)", false},
		{"T1 UID STORE 1 +FLAGS (\\Seen)", false},
		{"T1 UID EXPUNGE 1", false},
		{"T1 UID MOVE 1 Archive", false},
		{"T1 UID COPY 1 Archive", false},
		{"T1 APPEND INBOX {5}", false},
		{"T1 SUBSCRIBE INBOX", false},
		{"T1 FETCH 1 BODY[]", false},
		{"T1 UID FETCH 1 (UID BODY[TEXT])", false},
		{"T1 FETCH 1 RFC822", false},
		{"T1 FETCH 1 (FLAGS RFC822.TEXT)", false},
		{"T1 FETCH 1 (BINARY[1])", false},
		{"DONE", false}, // only valid while IDLE is running
		{"", false},
	}
	for _, tt := range tests {
		err := checkReadOnly([]byte(tt.line))
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrReadOnly) {
			t.Errorf("checkReadOnly(%q) = %v; want ok=%v", tt.line, err, tt.ok)
		}
	}
}

func TestLiteralMarker(t *testing.T) {
	tests := []struct {
		in    string
		n     int64
		isLit bool
	}{
		{"T1 LOGIN a {5}", 5, true},
		{"T1 APPEND INBOX {123+}", 123, true},
		{"* 1 FETCH (BINARY[] ~{0}", 0, true},
		{"T1 LOGIN {}", 0, false},
		{"T1 LOGIN {x}", 0, false},
		{"T1 LOGIN {-5}", 0, false},
		{"T1 X {1234567890123456789}", 0, false},
		{"}", 0, false},
	}
	for _, tt := range tests {
		n, ok := literalMarker([]byte(tt.in))
		if n != tt.n || ok != tt.isLit {
			t.Errorf("literalMarker(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.isLit)
		}
	}
}

// fakeConn is the socket under a wire in unit tests: Read returns queued
// chunks as they are, Write records.
type fakeConn struct {
	net.Conn // nil: methods the wire does not use panic
	reads    [][]byte
	sent     bytes.Buffer
	closed   bool
}

func (f *fakeConn) Read(p []byte) (int, error) {
	if len(f.reads) == 0 {
		return 0, io.EOF
	}
	n := copy(p, f.reads[0])
	if f.reads[0] = f.reads[0][n:]; len(f.reads[0]) == 0 {
		f.reads = f.reads[1:]
	}
	return n, nil
}
func (f *fakeConn) Write(p []byte) (int, error)      { return f.sent.Write(p) }
func (f *fakeConn) Close() error                     { f.closed = true; return nil }
func (f *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// transcript is a session as go-imap would write it (C) and a server would
// answer (S), with secrets, literals in both directions, a literal holding
// CRLF, a status text that looks like a literal marker, and a mutating
// command at the end.
var transcript = []struct {
	client bool
	data   string
}{
	{false, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"},
	{true, "T1 AUTHENTICATE PLAIN\r\n"},
	{false, "+ \r\n"},
	{true, "AGFsaWNlAFNlY3JldC0x\r\n"},
	{false, "T1 NO [AUTHENTICATIONFAILED] nope\r\n"},
	{true, "T2 LOGIN alice {9}\r\n"},
	{false, "+ go ahead\r\n"},
	{true, "Secret-2\"\r\n"},
	{false, "T2 OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"},
	{true, "T3 EXAMINE INBOX\r\n"},
	{false, "* 1 EXISTS\r\n* OK [UIDVALIDITY 7] text {5}\r\nT3 OK [READ-ONLY] done\r\n"},
	{true, "T4 UID FETCH 1:* (UID BODY.PEEK[])\r\n"},
	{false, "* 1 FETCH (UID 9 BODY[] {12}\r\nhello\r\nworld)\r\nT4 OK done\r\n"},
	{true, "T5 IDLE\r\n"},
	{false, "+ idling\r\n* 2 EXISTS\r\n"},
	{true, "DONE\r\n"},
	{false, "T5 OK idle done\r\n"},
	{true, "T6 APPEND INBOX {5+}\r\nhello\r\n"},
	{false, "T6 OK [APPENDUID 7 10] done\r\n"},
	{true, "T7 STORE 1 +FLAGS (\\Seen)\r\n"},
	{false, "T7 OK done\r\n"},
}

// play feeds the transcript through a wire, cutting every step into chunks
// whose sizes cycle through sizes, and returns everything observable.
func play(readOnly bool, sizes []byte) string {
	raw := &fakeConn{}
	var trace bytes.Buffer
	w := newWire(raw, raw, Config{ReadOnly: readOnly, Trace: &trace, TraceLabel: "src", IdleTimeout: time.Minute})
	var writeErr error
	k := 0
	chunks := func(s string) [][]byte {
		var out [][]byte
		for b := []byte(s); len(b) > 0; k++ {
			n := len(b)
			if len(sizes) > 0 {
				n = min(n, int(sizes[k%len(sizes)])%23+1)
			}
			out = append(out, b[:n])
			b = b[n:]
		}
		return out
	}
	for _, step := range transcript {
		if writeErr != nil {
			break // the connection is closed
		}
		if step.client {
			for _, c := range chunks(step.data) {
				if writeErr == nil {
					_, writeErr = w.Write(c)
				}
			}
			continue
		}
		raw.reads = chunks(step.data)
		buf := make([]byte, 64)
		for len(raw.reads) > 0 {
			w.Read(buf)
		}
	}
	return fmt.Sprintf("sent:\n%s\ntrace:\n%s\nerr: %v\npending: %d closed: %v\n",
		raw.sent.String(), trace.String(), writeErr, w.pending, raw.closed)
}

const wantTrace = `src S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready
src C: T1 AUTHENTICATE PLAIN ***
src S: + 
src C: ***
src S: T1 NO [AUTHENTICATIONFAILED] nope
src C: T2 LOGIN ***
src C: ***
src S: + go ahead
src C: ***
src S: T2 OK [CAPABILITY IMAP4rev1 IDLE] in
src C: T3 EXAMINE INBOX
src S: * 1 EXISTS
src S: * OK [UIDVALIDITY 7] text {5}
src S: T3 OK [READ-ONLY] done
src C: T4 UID FETCH 1:* (UID BODY.PEEK[])
src S: * 1 FETCH (UID 9 BODY[] {12}
src S: <literal 12 bytes>
src S: )
src S: T4 OK done
src C: T5 IDLE
src S: + idling
src S: * 2 EXISTS
src C: DONE
src S: T5 OK idle done
`

func TestWireTranscript(t *testing.T) {
	t.Run("ReadOnly", func(t *testing.T) {
		got := play(true, nil)
		want := wantTrace + "src C: refused, not sent (read-only): T6 APPEND INBOX {5+}\n"
		if !strings.Contains(got, "trace:\n"+want+"\n") {
			t.Errorf("play(readOnly) =\n%s\nwant trace\n%s", got, want)
		}
		if strings.Contains(got[:strings.Index(got, "trace:")], "APPEND") {
			t.Errorf("APPEND reached the server:\n%s", got)
		}
		if !strings.Contains(got, "err: send APPEND: imapconn: mutating command refused") || !strings.Contains(got, "closed: true") {
			t.Errorf("play(readOnly) did not refuse APPEND and close:\n%s", got)
		}
	})
	t.Run("ReadWrite", func(t *testing.T) {
		got := play(false, nil)
		want := wantTrace + `src C: T6 APPEND INBOX {5+}
src C: <literal 5 bytes>
src S: T6 OK [APPENDUID 7 10] done
src C: T7 STORE 1 +FLAGS (\Seen)
src S: T7 OK done
`
		if !strings.Contains(got, "trace:\n"+want+"\n") || !strings.Contains(got, "pending: 0") {
			t.Errorf("play(readWrite) =\n%s\nwant trace\n%s", got, want)
		}
		for _, step := range transcript {
			if step.client && !strings.Contains(got, step.data) {
				t.Errorf("%q was not forwarded", step.data)
			}
		}
	})
}

// FuzzScanner checks that the wire's view of a session, and so its
// transcript, guard decisions and pending count, does not depend on how
// the stream is cut into Read and Write calls.
func FuzzScanner(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{22, 0, 7, 13, 1})
	f.Add([]byte("chunk sizes from text"))
	want := map[bool]string{false: play(false, nil), true: play(true, nil)}
	f.Fuzz(func(t *testing.T, sizes []byte) {
		for readOnly, w := range want {
			if got := play(readOnly, sizes); got != w {
				t.Errorf("readOnly %v, chunks %v:\n%s\nwant\n%s", readOnly, sizes, got, w)
			}
		}
	})
}
