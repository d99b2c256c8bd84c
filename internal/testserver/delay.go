package testserver

import (
	"net"
	"sync"
	"testing"
	"time"
)

// StartDelayProxy listens on 127.0.0.1:0 and forwards every connection to
// upstream, delivering each chunk oneWay after it was read, in each
// direction: a link with a round trip of 2*oneWay and no bandwidth limit,
// to measure what round trips cost without slowing the machine's loopback
// for anyone else. It returns the address to dial and is closed in
// tb.Cleanup.
func StartDelayProxy(tb testing.TB, upstream string, oneWay time.Duration) string {
	tb.Helper()
	p, err := ListenDelayProxy("127.0.0.1:0", upstream, oneWay)
	if err != nil {
		tb.Fatalf("start delay proxy: %v", err)
	}
	tb.Cleanup(p.Close)
	return p.Addr()
}

// DelayProxy is StartDelayProxy's proxy, for a program (cmd/delayproxy)
// rather than a test.
type DelayProxy struct {
	ln net.Listener
	wg sync.WaitGroup
}

// ListenDelayProxy listens on addr (a loopback address) and proxies to
// upstream with oneWay of delay each way, until Close.
func ListenDelayProxy(addr, upstream string, oneWay time.Duration) (*DelayProxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &DelayProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", upstream)
			if err != nil {
				client.Close()
				continue
			}
			p.wg.Add(2)
			go func() { defer p.wg.Done(); delayCopy(server, client, oneWay) }()
			go func() { defer p.wg.Done(); delayCopy(client, server, oneWay) }()
		}
	}()
	return p, nil
}

// Addr is the host:port to dial.
func (p *DelayProxy) Addr() string { return p.ln.Addr().String() }

// Close stops listening and waits for the connections to end.
func (p *DelayProxy) Close() {
	p.ln.Close()
	p.wg.Wait()
}

// delayCopy copies from to to, each chunk oneWay late. Reading goes on
// while earlier chunks wait, so only latency is added, not a bandwidth cap.
func delayCopy(to, from net.Conn, oneWay time.Duration) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	ch := make(chan chunk, 1024)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 64<<10)
			n, err := from.Read(buf)
			if n > 0 {
				ch <- chunk{buf[:n], time.Now().Add(oneWay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.due))
		if _, err := to.Write(c.b); err != nil {
			break
		}
	}
	to.Close()
	from.Close()
	for range ch {
	}
}
