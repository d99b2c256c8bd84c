package testserver

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Cut is a one-shot network fault for Proxy: once its trigger has passed in
// the watched direction of some connection, the proxy lets Skip more bytes
// through and then closes both sides of that connection at once, without
// forwarding anything else. It models a connection lost at a chosen point of
// the protocol (RELIABILITY §3 rows 1-3, §4.1), which toxiproxy cannot do
// because its toxics know nothing of content.
//
// A cut is bound to the first connection whose bytes trigger it; it fires
// once, and every other connection (earlier, later or concurrent) passes
// untouched.
type Cut struct {
	// ToClient watches the server→client bytes; false watches
	// client→server.
	ToClient bool
	// After is the trigger: the cut point is just past this byte string,
	// e.g. "BODY[] {" to land in a FETCH literal or "{25000+}\r\n" in an
	// APPEND literal. At most 256 bytes. Empty means AfterBytes is the
	// trigger.
	After []byte
	// Nth fires on the Nth passage of After, counted over all connections,
	// e.g. 5 with After "APPENDUID" for the fifth APPEND. 0 means 1.
	Nth int
	// Before moves the cut point back to the start of the line that holds
	// the trigger, so that no byte of that line reaches the peer: with
	// ToClient and After "APPENDUID", the server has stored the message but
	// the client never sees the tagged OK. While a Before cut waits, the
	// proxy holds back each incomplete line in that direction until its
	// LF arrives (IMAP peers always finish a line without waiting, so this
	// delays bytes but never stalls them).
	Before bool
	// AfterBytes, when After is empty, is the trigger: the cut point is
	// after this many bytes in the watched direction of one connection
	// (the first to pass them). 0 cuts at the first byte.
	AfterBytes int
	// Skip lets this many more bytes through past the cut point, e.g. to
	// land in the middle of a literal.
	Skip int
	// Reset closes with an RST (SO_LINGER 0) instead of a FIN. The peer then
	// sees ECONNRESET, and bytes still in the kernel buffers may be lost.
	// Without Reset, a side that had sent bytes the proxy had not read yet
	// (the rest of an APPEND literal) still gets an RST: Linux answers a
	// close with unread data that way.
	Reset bool
	// Bye, when set, is said to the client at the cut point as the server
	// would say it, "* BYE " + Bye + CRLF, before the close: a server that
	// shuts the session down (RELIABILITY §3 row 4). With ToClient false
	// the client→server cut point decides when, e.g. the client's next
	// command after it sat idle; aim it where the server→client stream is
	// between two responses.
	Bye string
	// Stall, instead of closing, stops forwarding in both directions at the
	// cut point and keeps both connections open: a server or network that
	// hangs without a word (row 15). What either side sends from then on
	// is read and dropped (at most a read already in hand in the other
	// direction still passes), until one side closes; then the proxy closes
	// both. Reset and Bye do not apply.
	Stall bool
}

// Proxy is a TCP proxy on 127.0.0.1 with Cut rules, for fault injection
// between a client and a real server. Dial Addr instead of the server.
type Proxy struct {
	// Addr is the 127.0.0.1:port to dial.
	Addr string

	upstream string
	ln       net.Listener
	wg       sync.WaitGroup

	mu       sync.Mutex // guards everything below and every cutState
	cuts     []*cutState
	conns    map[*proxyConn]bool
	accepted int
	fired    int
	closed   bool
}

// cutState is a Cut and its progress.
type cutState struct {
	Cut
	seen  int        // passages of After so far
	owner *proxyConn // the connection it is bound to; nil until triggered
	left  int        // bytes the owner may still pass before the cut
	fired bool
}

type proxyConn struct {
	client, server *net.TCPConn
	once           sync.Once
	stalled        atomic.Bool // a Stall cut fired: forward nothing more
}

// StartProxy listens on 127.0.0.1:0 and forwards every connection to
// upstream (host:port), applying cuts. It is closed in tb.Cleanup.
func StartProxy(tb testing.TB, upstream string, cuts ...Cut) *Proxy {
	tb.Helper()
	p, err := NewProxy(upstream, cuts...)
	if err != nil {
		tb.Fatalf("start proxy to %s: %v", upstream, err)
	}
	tb.Cleanup(p.Close)
	return p
}

// NewProxy is StartProxy for callers without a testing.TB. The caller must
// call Close.
func NewProxy(upstream string, cuts ...Cut) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), upstream: upstream, ln: ln, conns: map[*proxyConn]bool{}}
	for _, c := range cuts {
		c.After = bytes.Clone(c.After)
		p.cuts = append(p.cuts, &cutState{Cut: c})
	}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Fired returns how many cuts have fired so far.
func (p *Proxy) Fired() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fired
}

// Accepted returns how many client connections the proxy has accepted, so
// a test can see that a client reconnected after a cut.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Close stops listening, closes every open connection and waits for the
// proxy's goroutines to end.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	conns := make([]*proxyConn, 0, len(p.conns))
	for pc := range p.conns {
		conns = append(conns, pc)
	}
	p.mu.Unlock()
	p.ln.Close()
	for _, pc := range conns {
		pc.close(false)
	}
	p.wg.Wait()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Add(1)
		go p.handle(c.(*net.TCPConn))
	}
}

func (p *Proxy) handle(client *net.TCPConn) {
	defer p.wg.Done()
	s, err := net.Dial("tcp", p.upstream)
	if err != nil {
		// The client sees the connection closed, as it would see a
		// refused one.
		client.Close()
		return
	}
	pc := &proxyConn{client: client, server: s.(*net.TCPConn)}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		pc.close(false)
		return
	}
	p.accepted++
	p.conns[pc] = true
	p.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pump(pc, false, pc.client, pc.server) }()
	go func() { defer wg.Done(); p.pump(pc, true, pc.server, pc.client) }()
	wg.Wait()
	pc.close(false)
	p.mu.Lock()
	delete(p.conns, pc)
	p.mu.Unlock()
}

// close closes both sides once; with reset, each with an RST.
func (pc *proxyConn) close(reset bool) {
	pc.once.Do(func() {
		if reset {
			_ = pc.client.SetLinger(0)
			_ = pc.server.SetLinger(0)
		}
		pc.client.Close()
		pc.server.Close()
	})
}

// maxTail bounds how many already forwarded bytes are kept to find a
// trigger split across two reads.
const maxTail = 256

// pump copies one direction of pc, firing cuts.
func (p *Proxy) pump(pc *proxyConn, toClient bool, from, to *net.TCPConn) {
	buf := make([]byte, 32<<10)
	var held []byte // read but not forwarded yet: an incomplete line held for a Before cut
	var tail []byte // the last forwarded bytes
	passed := 0     // bytes forwarded
	for {
		n, rerr := from.Read(buf)
		if pc.stalled.Load() {
			if rerr != nil {
				pc.close(false)
				return
			}
			continue // dropped: the link hangs
		}
		if n > 0 {
			data := append(held, buf[:n]...)
			send, cut := p.inspect(pc, toClient, data, len(held), tail, passed)
			if send > 0 {
				if _, err := to.Write(data[:send]); err != nil {
					pc.close(false)
					return
				}
			}
			if cut != nil && cut.Stall {
				pc.stalled.Store(true)
				continue
			}
			if cut != nil {
				if cut.Bye != "" {
					_, _ = pc.client.Write([]byte("* BYE " + cut.Bye + "\r\n"))
				}
				pc.close(cut.Reset)
				return
			}
			held = append([]byte(nil), data[send:]...)
			tail = append(tail, data[:send]...)
			if len(tail) > maxTail {
				tail = append([]byte(nil), tail[len(tail)-maxTail:]...)
			}
			passed += send
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				// An orderly close: pass on what is held and the FIN, and
				// let the other direction finish.
				if len(held) > 0 {
					if _, err := to.Write(held); err != nil {
						pc.close(false)
						return
					}
				}
				_ = to.CloseWrite()
				return
			}
			pc.close(false)
			return
		}
	}
}

// inspect decides what to do with data, the unforwarded bytes of one
// direction of pc (of which data[fresh:] was just read; tail holds the bytes
// forwarded before data, passed counts them): forward data[:send], then cut
// when cut is not nil.
func (p *Proxy) inspect(pc *proxyConn, toClient bool, data []byte, fresh int, tail []byte, passed int) (send int, cut *cutState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	hold := false
	for _, c := range p.cuts {
		if c.fired || c.ToClient != toClient || (c.owner != nil && c.owner != pc) {
			continue
		}
		if c.owner == nil {
			p.trigger(c, pc, data, fresh, tail, passed)
		}
		if c.owner == nil {
			hold = hold || c.Before
			continue
		}
		if c.left <= len(data) && (cut == nil || c.left < cut.left) {
			cut = c
		}
	}
	if cut != nil {
		cut.fired = true
		p.fired++
		send = cut.left
	} else {
		send = len(data)
		if hold {
			send = bytes.LastIndexByte(data, '\n') + 1
		}
	}
	for _, c := range p.cuts {
		if c.owner == pc && c.ToClient == toClient && !c.fired {
			c.left -= send
		}
	}
	return send, cut
}

// trigger binds c to pc if its trigger is in data, setting c.left to the
// offset of the cut point in data.
func (p *Proxy) trigger(c *cutState, pc *proxyConn, data []byte, fresh int, tail []byte, passed int) {
	if len(c.After) == 0 {
		if passed+len(data) >= c.AfterBytes {
			c.owner, c.left = pc, max(c.AfterBytes-passed, 0)+c.Skip
		}
		return
	}
	nth := max(c.Nth, 1)
	window := append(append(make([]byte, 0, len(tail)+len(data)), tail...), data...)
	for from := 0; ; {
		i := bytes.Index(window[from:], c.After)
		if i < 0 {
			return
		}
		i += from
		from = i + 1
		start := i - len(tail) // in data; negative when the match began in tail
		end := start + len(c.After)
		if end <= fresh {
			continue // seen by an earlier read
		}
		c.seen++
		if c.seen < nth {
			continue
		}
		point := end
		if c.Before {
			point = bytes.LastIndexByte(data[:max(start, 0)], '\n') + 1
		}
		c.owner, c.left = pc, point+c.Skip
		return
	}
}
