package testserver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// CommandRecorder is a TCP proxy in front of a plain IMAP server that
// records every command a client sends, so that a test can prove from the
// wire what a client did to a mailbox, without trusting the client's own
// guards: the source of a migration must only ever be read (RELIABILITY
// §2.1, §5). Bytes pass unchanged in both directions.
//
// Commands are cut with the login counter's lineSplitter, so literal data
// (a message in an APPEND) can never pass for a command. Only plain IMAP
// can be read: after STARTTLS or COMPRESS the recorder sees noise.
type CommandRecorder struct {
	addr   string
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu       sync.Mutex
	conns    map[net.Conn]bool
	closed   bool
	commands []Command
	nconns   int
	before   func(Command)
}

// Command is one command as the client sent it.
type Command struct {
	Tag string
	// Name is the command in upper case; for UID commands "UID " and the
	// subcommand, e.g. "UID FETCH".
	Name string
	// Text is the whole command with each literal's data replaced by
	// "{N bytes}", e.g. `T9 UID FETCH 1:3 (UID BODY.PEEK[])`. Credentials
	// (LOGIN, AUTHENTICATE and its responses) are replaced by "***".
	Text string
	// Conn numbers the client connections in the order they came, from 0.
	Conn int
	// Outstanding is how many commands sent before it on the connection
	// the server had not answered (tagged) when it came: more than 0
	// proves that the client did not wait for those answers (pipelining),
	// since the recorder passes an answer on only after it counted it.
	Outstanding int
}

// StartCommandRecorder listens on 127.0.0.1:0 and forwards every
// connection to target (host:port). It is closed in tb.Cleanup.
func StartCommandRecorder(tb testing.TB, target string) *CommandRecorder {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("start command recorder for %s: %v", target, err)
	}
	r := &CommandRecorder{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	r.wg.Add(1)
	go r.serve()
	tb.Cleanup(r.close)
	return r
}

// Addr is the host:port to connect to instead of the server.
func (r *CommandRecorder) Addr() string { return r.addr }

// Before has fn called with each command before the server gets it (and
// before the commands sent with it): a test can change the mailbox at the
// server just before a command of the client is run, to stage a race.
func (r *CommandRecorder) Before(fn func(Command)) {
	r.mu.Lock()
	r.before = fn
	r.mu.Unlock()
}

// Commands returns the commands recorded so far, in the order they were
// sent (interleaved across connections).
func (r *CommandRecorder) Commands() []Command {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Command(nil), r.commands...)
}

// mutatingCommands can change a mailbox or the folder list. SELECT is one:
// unlike EXAMINE, it lets the server clear \Recent (RFC 9051 section
// 6.3.2), and it opens the mailbox read-write for what follows.
var mutatingCommands = map[string]bool{
	"STORE": true, "UID STORE": true, "EXPUNGE": true, "UID EXPUNGE": true,
	"APPEND": true, "CREATE": true, "DELETE": true, "RENAME": true,
	"MOVE": true, "UID MOVE": true, "COPY": true, "UID COPY": true,
	"SUBSCRIBE": true, "UNSUBSCRIBE": true, "SELECT": true,
}

// seenFetchItem matches the FETCH items that set \Seen (RFC 9051 section
// 6.4.5, RFC 3516, RFC 3501's RFC822 and RFC822.TEXT): a body section
// without .PEEK. BODY.PEEK[ does not match, since "PEEK[" is what precedes
// the bracket there.
var seenFetchItem = regexp.MustCompile(`(?i)(^|[^A-Z0-9.])(BODY|BINARY)\[|(^|[\s(])RFC822(\.TEXT)?([\s)]|$)`)

// Mutating returns the recorded commands that could change the mailbox:
// the commands in mutatingCommands, and FETCH or UID FETCH with an item
// that sets \Seen. A client that only reads has none.
func (r *CommandRecorder) Mutating() []Command {
	var out []Command
	for _, c := range r.Commands() {
		fetch := c.Name == "FETCH" || c.Name == "UID FETCH"
		if mutatingCommands[c.Name] || fetch && seenFetchItem.MatchString(fetchItems(c)) {
			out = append(out, c)
		}
	}
	return out
}

// fetchItems is the part of a FETCH command after its sequence set.
func fetchItems(c Command) string {
	f := strings.SplitN(c.Text, " ", len(strings.Fields(c.Name))+3)
	return f[len(f)-1]
}

func (r *CommandRecorder) close() {
	r.mu.Lock()
	r.closed = true
	conns := make([]net.Conn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	r.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	r.wg.Wait()
}

func (r *CommandRecorder) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return // closed
		}
		r.wg.Add(1)
		go r.handle(c)
	}
}

// handle proxies one connection; the client's bytes go through a
// lineSplitter on their way.
func (r *CommandRecorder) handle(client net.Conn) {
	defer r.wg.Done()
	server, err := net.Dial("tcp", r.target)
	if err != nil {
		client.Close()
		return
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	r.conns[client], r.conns[server] = true, true
	id := r.nconns
	r.nconns++
	r.mu.Unlock()

	sent, answered := 0, 0 // commands on this connection; guarded by r.mu
	sasl := false          // the next client line answers an AUTHENTICATE challenge
	sp := lineSplitter{onLine: func(line []lineItem) {
		if sasl {
			sasl = false
			return
		}
		c := parseCommand(line)
		c.Conn = id
		if c.Name == "AUTHENTICATE" && len(tokens(line, 4)) == 3 {
			sasl = true
		}
		r.mu.Lock()
		c.Outstanding = sent - answered
		sent++
		r.commands = append(r.commands, c)
		before := r.before
		r.mu.Unlock()
		if before != nil {
			before(c)
		}
	}}
	replies := lineSplitter{onLine: func(line []lineItem) {
		if tag := tokens(line, 1); len(tag) == 1 && tag[0] != "*" && tag[0] != "+" {
			r.mu.Lock()
			answered++
			r.mu.Unlock()
		}
	}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pump(client, server, replies.feed)
		client.Close()
	}()
	if err := pump(server, client, sp.feed); err != nil && !errors.Is(err, io.EOF) {
		client.Close()
	}
	server.Close()
	<-done
	r.mu.Lock()
	delete(r.conns, client)
	delete(r.conns, server)
	r.mu.Unlock()
}

// pump forwards what it reads on one side (from) to the other (to), each
// chunk shown to feed before it goes on, until either side fails. It
// returns the read error, if the reading side failed.
func pump(to, from net.Conn, feed func([]byte)) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			feed(buf[:n])
			if _, werr := to.Write(buf[:n]); werr != nil {
				return nil
			}
		}
		if err != nil {
			return err
		}
	}
}

// parseCommand names a logical client line.
func parseCommand(line []lineItem) Command {
	toks := tokens(line, 3)
	var c Command
	if len(toks) > 0 {
		c.Tag = toks[0]
	}
	if len(toks) > 1 {
		c.Name = strings.ToUpper(toks[1])
		if c.Name == "UID" && len(toks) > 2 {
			c.Name += " " + strings.ToUpper(toks[2])
		}
	}
	if c.Name == "LOGIN" || c.Name == "AUTHENTICATE" {
		c.Text = c.Tag + " " + c.Name + " ***"
		return c
	}
	var b strings.Builder
	for _, item := range line {
		if item.literal {
			if item.big {
				b.WriteString("{large literal}")
			} else {
				fmt.Fprintf(&b, "{%d bytes}", len(item.data))
			}
			continue
		}
		b.Write(item.data)
	}
	c.Text = b.String()
	return c
}
