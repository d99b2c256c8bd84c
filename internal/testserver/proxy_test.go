package testserver

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scripted starts a server on 127.0.0.1 that runs serve on every
// connection, and returns its address.
func scripted(t *testing.T, serve func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c.(*net.TCPConn))
			}()
		}
	}()
	return ln.Addr().String()
}

// writePieces writes each piece separately, with a pause, so that the proxy
// reads them apart and triggers split across reads are exercised.
func writePieces(c net.Conn, pieces ...string) {
	for _, p := range pieces {
		if _, err := c.Write([]byte(p)); err != nil {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func dialProxy(t *testing.T, p *Proxy) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return c.(*net.TCPConn)
}

func TestProxyPassesBytes(t *testing.T) {
	t.Parallel()
	echo := scripted(t, func(c *net.TCPConn) {
		_, _ = io.Copy(c, c)
		_ = c.CloseWrite()
	})
	p := StartProxy(t, echo, Cut{After: []byte("never sent")})
	c := dialProxy(t, p)
	want := make([]byte, 300<<10)
	for i := range want {
		want[i] = byte(rand.IntN(256))
	}
	go func() {
		_, _ = c.Write(want)
		_ = c.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("echo through proxy: %d bytes, err %v; want the %d bytes sent and EOF", len(got), err, len(want))
	}
	if p.Fired() != 0 || p.Accepted() != 1 {
		t.Errorf("Fired() = %d, Accepted() = %d; want 0, 1", p.Fired(), p.Accepted())
	}
}

func TestProxyCutToClient(t *testing.T) {
	t.Parallel()
	// A FETCH with a literal, then an APPEND answer, each split across
	// writes in the middle of the strings the cuts look for.
	pieces := []string{
		"* OK ready\r\n",
		"* 1 FETCH (UID 7 BO", "DY[] {20}\r\n0123456789",
		"abcdefghij)\r\n",
		"A1 OK [APPENDUID 1 5] done\r\n",
		"A2 OK [APPEN", "DUID 1 6] done\r\n",
		"A3 OK [APPENDUID 1 7] done\r\n",
	}
	script := ""
	for _, p := range pieces {
		script += p
	}
	upto := func(s string) string {
		i := bytes.Index([]byte(script), []byte(s))
		if i < 0 {
			t.Fatalf("%q not in script", s)
		}
		return script[:i]
	}
	for _, tc := range []struct {
		name string
		cut  Cut
		want string
	}{
		{"AfterSkipMidLiteral", Cut{ToClient: true, After: []byte("BODY[] {"), Skip: 9}, upto("456789abc")},
		{"AfterNoSkip", Cut{ToClient: true, After: []byte("BODY[] {")}, upto("20}")},
		{"BeforeDropsTheLine", Cut{ToClient: true, After: []byte("APPENDUID"), Before: true}, upto("A1 OK")},
		{"BeforeNthSplitTrigger", Cut{ToClient: true, After: []byte("APPENDUID"), Nth: 2, Before: true}, upto("A2 OK")},
		{"NthThird", Cut{ToClient: true, After: []byte("APPENDUID"), Nth: 3, Before: true}, upto("A3 OK")},
		{"AfterBytes", Cut{ToClient: true, AfterBytes: 30, Skip: 2}, script[:32]},
		{"AfterBytesZero", Cut{ToClient: true}, ""},
		{"NoMatch", Cut{ToClient: true, After: []byte("APPENDUID"), Nth: 4}, script},
		{"OtherDirectionUntouched", Cut{After: []byte("OK")}, script},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := scripted(t, func(c *net.TCPConn) {
				writePieces(c, pieces...)
				_ = c.CloseWrite()
				_, _ = io.Copy(io.Discard, c)
			})
			p := StartProxy(t, srv, tc.cut)
			c := dialProxy(t, p)
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("read through proxy: %v after %q", err, got)
			}
			if string(got) != tc.want {
				t.Errorf("client got %q; want %q", got, tc.want)
			}
			wantFired := 1
			if tc.want == script {
				wantFired = 0
			}
			if p.Fired() != wantFired {
				t.Errorf("Fired() = %d; want %d", p.Fired(), wantFired)
			}
		})
	}
}

func TestProxyCutToServer(t *testing.T) {
	t.Parallel()
	literal := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	cmd := append([]byte("A1 APPEND INBOX {65536+}\r\n"), literal...)
	cmd = append(cmd, "\r\n"...)
	for _, tc := range []struct {
		name string
		cut  Cut
		want int // bytes the server receives
	}{
		{"MidLiteral", Cut{After: []byte("{65536+}\r\n"), Skip: 3000}, 26 + 3000},
		{"AfterBytes", Cut{AfterBytes: 40000, Skip: 1}, 40001},
		{"WholeLiteralNoCRLF", Cut{After: []byte("{65536+}\r\n"), Skip: 65536}, 26 + 65536},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan []byte, 1)
			srv := scripted(t, func(c *net.TCPConn) {
				b, _ := io.ReadAll(c)
				got <- b
			})
			p := StartProxy(t, srv, tc.cut)
			c := dialProxy(t, p)
			go func() {
				// Stops with an error once the proxy cuts.
				for off := 0; off < len(cmd); off += 1000 {
					if _, err := c.Write(cmd[off:min(off+1000, len(cmd))]); err != nil {
						return
					}
				}
			}()
			select {
			case b := <-got:
				if !bytes.Equal(b, cmd[:tc.want]) {
					t.Errorf("server got %d bytes; want the first %d of the command", len(b), tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("server never saw the connection end")
			}
			if p.Fired() != 1 {
				t.Errorf("Fired() = %d; want 1", p.Fired())
			}
		})
	}
}

// TestProxyCutFiresOnce checks that a cut binds to the first connection that
// triggers it, and that later connections pass untouched.
func TestProxyCutFiresOnce(t *testing.T) {
	t.Parallel()
	const greeting = "* OK ready\r\nA1 OK [APPENDUID 1 1] done\r\n"
	srv := scripted(t, func(c *net.TCPConn) {
		_, _ = c.Write([]byte(greeting))
		_ = c.CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	})
	p := StartProxy(t, srv, Cut{ToClient: true, After: []byte("APPENDUID"), Before: true})
	for i, want := range []string{"* OK ready\r\n", greeting, greeting} {
		got, err := io.ReadAll(dialProxy(t, p))
		if err != nil || string(got) != want {
			t.Errorf("connection %d got %q, %v; want %q", i+1, got, err, want)
		}
	}
	if p.Fired() != 1 || p.Accepted() != 3 {
		t.Errorf("Fired() = %d, Accepted() = %d; want 1, 3", p.Fired(), p.Accepted())
	}
}

func TestProxyCutReset(t *testing.T) {
	t.Parallel()
	srv := scripted(t, func(c *net.TCPConn) {
		for {
			if _, err := c.Write(bytes.Repeat([]byte("x"), 1000)); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	p := StartProxy(t, srv, Cut{ToClient: true, AfterBytes: 5000, Reset: true})
	c := dialProxy(t, p)
	n, err := io.Copy(io.Discard, c)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read through an RST cut: %d bytes, err %v; want ECONNRESET", n, err)
	}
	if n > 5000 {
		t.Errorf("client read %d bytes; want at most 5000", n)
	}
	if p.Fired() != 1 {
		t.Errorf("Fired() = %d; want 1", p.Fired())
	}
}

// TestProxyClose checks that Close ends open connections.
func TestProxyClose(t *testing.T) {
	t.Parallel()
	srv := scripted(t, func(c *net.TCPConn) { _, _ = io.Copy(io.Discard, c) })
	p, err := NewProxy(srv)
	if err != nil {
		t.Fatal(err)
	}
	c := dialProxy(t, p)
	if _, err := c.Write([]byte("hello\r\n")); err != nil {
		t.Fatal(err)
	}
	for p.Accepted() == 0 {
		time.Sleep(time.Millisecond)
	}
	p.Close()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("read after Close succeeded; want the connection closed")
	}
}

// TestProxyCutCountsItsOwnDirection checks that bytes flowing the other
// way while a cut waits out its Skip do not count towards it.
func TestProxyCutCountsItsOwnDirection(t *testing.T) {
	t.Parallel()
	got := make(chan []byte, 1)
	srv := scripted(t, func(c *net.TCPConn) {
		b := make([]byte, 2)
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		_, _ = c.Write(bytes.Repeat([]byte("s"), 1000))
		rest, _ := io.ReadAll(c)
		got <- append(b, rest...)
	})
	p := StartProxy(t, srv, Cut{After: []byte("GO"), Skip: 10})
	c := dialProxy(t, p)
	if _, err := c.Write([]byte("GO")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1000)); err != nil {
		t.Fatalf("read the server's 1000 bytes: %v", err)
	}
	_, _ = c.Write(bytes.Repeat([]byte("c"), 100))
	select {
	case b := <-got:
		if want := "GO" + strings.Repeat("c", 10); string(b) != want {
			t.Errorf("server got %q; want %q", b, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server never saw the connection end")
	}
}
