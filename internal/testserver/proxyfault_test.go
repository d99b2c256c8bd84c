package testserver

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestProxyCutBye checks that a Bye cut hands the client the server's BYE at
// the cut point, in either watched direction, and then closes.
func TestProxyCutBye(t *testing.T) {
	t.Parallel()
	const fetches = "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 2)\r\nA1 OK done\r\n"
	for _, tc := range []struct {
		name   string
		cut    Cut
		prompt string // what the client sends first
		want   string
	}{
		{"MidResponses", Cut{ToClient: true, After: []byte("* 2 FETCH"), Before: true, Bye: "Server shutting down."},
			"A1 FETCH 1:* UID\r\n", "* 1 FETCH (UID 1)\r\n* BYE Server shutting down.\r\n"},
		{"OnTheClientsCommand", Cut{After: []byte("A1 FETCH"), Before: true, Bye: "Disconnected for inactivity."},
			"A1 FETCH 1:* UID\r\n", "* BYE Disconnected for inactivity.\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan []byte, 1)
			srv := scripted(t, func(c *net.TCPConn) {
				line := make([]byte, len(tc.prompt))
				if _, err := io.ReadFull(c, line); err == nil {
					_, _ = c.Write([]byte(fetches))
				}
				rest, _ := io.ReadAll(c)
				got <- append(line, rest...)
			})
			p := StartProxy(t, srv, tc.cut)
			c := dialProxy(t, p)
			if _, err := c.Write([]byte(tc.prompt)); err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(c)
			if err != nil || string(b) != tc.want {
				t.Errorf("client got %q, %v; want %q and EOF", b, err, tc.want)
			}
			select {
			case <-got:
			case <-time.After(5 * time.Second):
				t.Fatal("server never saw the connection end")
			}
			if p.Fired() != 1 {
				t.Errorf("Fired() = %d; want 1", p.Fired())
			}
		})
	}
}

// TestProxyCutStall checks that a Stall cut stops both directions without
// closing, and closes the server side once the client gives up.
func TestProxyCutStall(t *testing.T) {
	t.Parallel()
	serverGot := make(chan []byte, 1)
	srv := scripted(t, func(c *net.TCPConn) {
		go func() {
			_, _ = c.Write(bytes.Repeat([]byte("s"), 100))
		}()
		b, _ := io.ReadAll(c) // until the proxy closes
		serverGot <- b
	})
	p := StartProxy(t, srv, Cut{ToClient: true, AfterBytes: 40, Stall: true})
	c := dialProxy(t, p)
	got := make([]byte, 40)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read the 40 bytes before the stall: %v", err)
	}
	// The link hangs: nothing more arrives, and the connection stays open.
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read after the stall = %d, %v; want a timeout (no data, no close)", n, err)
	}
	// Bytes from the client are swallowed.
	if _, err := c.Write([]byte("A1 NOOP\r\n")); err != nil {
		t.Fatalf("write after the stall: %v", err)
	}
	c.Close()
	select {
	case b := <-serverGot:
		if len(b) != 0 {
			t.Errorf("server got %q after the stall; want nothing", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server connection not closed after the client gave up")
	}
	if p.Fired() != 1 {
		t.Errorf("Fired() = %d; want 1", p.Fired())
	}
}
