package imapconn

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAppendLiteralPlus checks that a large APPEND goes out as a
// non-synchronizing literal when the server offers LITERAL+ (no round trip
// for "+"), and as a synchronizing one when it does not.
func TestAppendLiteralPlus(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps string
		want string // literal marker the server must receive
	}{
		{"Offered", "IMAP4rev1 LITERAL+", "+}"},
		{"NotOffered", "IMAP4rev1", "}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := make(chan string, 8)
			addr := literalServer(t, tc.caps, nil, lines)
			cfg := testConfig(addr, SecurityNone)
			cfg.IdleTimeout = 2 * time.Second
			c := mustDial(t, cfg)
			for i := range 3 {
				body := bytes.Repeat([]byte{'a' + byte(i)}, 10000+i)
				cmd := c.Append("INBOX", int64(len(body)), nil)
				if _, err := cmd.Write(body); err != nil {
					t.Fatal(err)
				}
				if err := cmd.Close(); err != nil {
					t.Fatal(err)
				}
				data, err := cmd.Wait()
				if err != nil || data.UID != 7 {
					t.Fatalf("APPEND %d = %+v, %v; want UID 7", i, data, err)
				}
				line := <-lines
				if !strings.HasSuffix(line, "{"+strconv.Itoa(len(body))+tc.want) {
					t.Errorf("server received %q; want a literal ending %q", line, tc.want)
				}
			}
			// The connection still works for other commands.
			if err := c.Noop().Wait(); err != nil {
				t.Errorf("NOOP after APPENDs = %v", err)
			}
		})
	}
}

// literalServer answers APPEND, sending "+" only for synchronizing
// literals, reads each literal with drain (at full speed when nil), and
// reports each APPEND line it receives on lines (when not nil).
func literalServer(t *testing.T, caps string, drain func(r io.Reader, n int64) error, lines chan<- string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	literal := regexp.MustCompile(`\{(\d+)(\+?)\}$`)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		// A small receive buffer, so that a slow drain is felt by the
		// client's writes rather than hidden in kernel buffers.
		conn.(*net.TCPConn).SetReadBuffer(16 << 10)
		br := bufio.NewReader(conn)
		send := func(s string) { conn.Write([]byte(s + "\r\n")) }
		send("* OK [CAPABILITY " + caps + "] hi")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			tag, rest, _ := strings.Cut(line, " ")
			switch name, _, _ := strings.Cut(rest, " "); strings.ToUpper(name) {
			case "CAPABILITY":
				send("* CAPABILITY " + caps)
				send(tag + " OK done")
			case "APPEND":
				m := literal.FindStringSubmatch(line)
				n, _ := strconv.ParseInt(m[1], 10, 64)
				if m[2] == "" {
					send("+ go ahead")
				}
				if drain == nil {
					drain = func(r io.Reader, n int64) error { _, err := io.CopyN(io.Discard, r, n); return err }
				}
				if err := drain(br, n); err != nil {
					return
				}
				br.ReadString('\n')
				if lines != nil {
					lines <- line
				}
				send("* 7 EXISTS")
				send(tag + " OK [APPENDUID 1 7] stored")
			case "LOGOUT":
				send("* BYE bye")
				send(tag + " OK bye")
				return
			default:
				send(tag + " OK done")
			}
		}
	}()
	return ln.Addr().String()
}
