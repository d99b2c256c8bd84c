package testserver

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// LoginCounter is a TCP proxy in front of a plain IMAP server that records
// who logs in and for how long, so a test can prove a concurrency limit
// ("at most N mailboxes of an endpoint at once") from what the server saw.
//
// It reads both directions of every connection without changing a byte.
// From the client it picks up LOGIN (the user as an atom, a quoted string
// or a literal, {n} or {n+}) and AUTHENTICATE PLAIN (with an initial
// response, RFC 4959, or on the continuation line), where the user is the
// authorization identity if there is one, else the authentication identity
// (RFC 4616). From the server it picks up the tagged answer. A connection
// counts as logged in from the moment the proxy reads the tagged OK to its
// login, before passing it on, until the moment it reads the end of either
// direction. So the counter never sees a new session before the client
// could, nor a closed one after.
//
// Only plain IMAP can be read: after STARTTLS or COMPRESS the counter sees
// no more logins on that connection. The user is recorded as sent, so a
// master-user login is counted under "user*master".
type LoginCounter struct {
	addr   string
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu         sync.Mutex // guards everything below and every loginConn's state
	conns      map[*loginConn]bool
	closed     bool
	open       map[string]int // logged-in connections open now, per user
	users      int            // users with open[user] > 0
	maxUsers   int
	maxPerUser map[string]int
	logins     map[string]int
}

// loginConn is one proxied connection. The fields after once are guarded by
// LoginCounter.mu.
type loginConn struct {
	client, server *net.TCPConn
	once           sync.Once

	pending  map[string]string // tag → user of a login awaiting its tagged answer
	saslTag  string            // tag of an AUTHENTICATE PLAIN awaiting its response line
	user     string            // the logged-in user; "" before the login
	loggedIn bool
	ended    bool
}

// StartLoginCounter listens on 127.0.0.1:0 and forwards every connection to
// target (host:port). It is closed in tb.Cleanup, which closes the
// connections still open.
func StartLoginCounter(tb testing.TB, target string) *LoginCounter {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("start login counter for %s: %v", target, err)
	}
	c := &LoginCounter{
		addr:       ln.Addr().String(),
		target:     target,
		ln:         ln,
		conns:      map[*loginConn]bool{},
		open:       map[string]int{},
		maxPerUser: map[string]int{},
		logins:     map[string]int{},
	}
	c.wg.Add(1)
	go c.serve()
	tb.Cleanup(c.close)
	return c
}

// Addr is the host:port to connect to instead of the server.
func (c *LoginCounter) Addr() string { return c.addr }

// MaxConcurrentUsers is the largest number of distinct users that had at
// least one logged-in connection open at the same moment, over the whole
// life of the counter.
func (c *LoginCounter) MaxConcurrentUsers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxUsers
}

// MaxConcurrentPerUser is, for each user that logged in, the largest number
// of logged-in connections it had open at the same moment.
func (c *LoginCounter) MaxConcurrentPerUser() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.maxPerUser)
}

// Logins is the number of logins the server answered with OK, per user.
func (c *LoginCounter) Logins() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.logins)
}

// LoggedIn is the number of logged-in connections open now, so a test can
// wait for a client to be gone or check that none was left behind.
func (c *LoginCounter) LoggedIn() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, open := range c.open {
		n += open
	}
	return n
}

func (c *LoginCounter) close() {
	c.mu.Lock()
	c.closed = true
	conns := make([]*loginConn, 0, len(c.conns))
	for lc := range c.conns {
		conns = append(conns, lc)
	}
	c.mu.Unlock()
	c.ln.Close()
	for _, lc := range conns {
		lc.close()
	}
	c.wg.Wait()
}

func (c *LoginCounter) serve() {
	defer c.wg.Done()
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return // closed
		}
		c.wg.Add(1)
		go c.handle(conn.(*net.TCPConn))
	}
}

func (c *LoginCounter) handle(client *net.TCPConn) {
	defer c.wg.Done()
	s, err := net.Dial("tcp", c.target)
	if err != nil {
		// The client sees the connection closed, as it would see a
		// refused one.
		client.Close()
		return
	}
	lc := &loginConn{client: client, server: s.(*net.TCPConn), pending: map[string]string{}}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		lc.close()
		return
	}
	c.conns[lc] = true
	c.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.pump(lc, lc.client, lc.server, func(line []lineItem) { c.clientLine(lc, line) })
	}()
	go func() {
		defer wg.Done()
		c.pump(lc, lc.server, lc.client, func(line []lineItem) { c.serverLine(lc, line) })
	}()
	wg.Wait()
	lc.close()
	c.mu.Lock()
	delete(c.conns, lc)
	c.mu.Unlock()
}

func (lc *loginConn) close() {
	lc.once.Do(func() {
		lc.client.Close()
		lc.server.Close()
	})
}

// pump copies one direction, handing each complete line to onLine before
// the bytes that complete it are passed on: the server's OK must be
// counted before the client can act on it, and a login must be pending
// before the server can answer it.
func (c *LoginCounter) pump(lc *loginConn, from, to *net.TCPConn, onLine func([]lineItem)) {
	defer c.end(lc)
	sp := lineSplitter{onLine: onLine}
	buf := make([]byte, 32<<10)
	for {
		n, rerr := from.Read(buf)
		if n > 0 {
			sp.feed(buf[:n])
			if _, err := to.Write(buf[:n]); err != nil {
				lc.close()
				return
			}
		}
		if rerr != nil {
			// The session is over as soon as one side is done; the logout
			// is counted now (deferred), before the other side finishes.
			if errors.Is(rerr, io.EOF) {
				_ = to.CloseWrite()
				return
			}
			lc.close()
			return
		}
	}
}

// clientLine looks for a login in a command from the client.
func (c *LoginCounter) clientLine(lc *loginConn, line []lineItem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if lc.saslTag != "" {
		// The response to AUTHENTICATE PLAIN, or "*" to cancel it.
		tag := lc.saslTag
		lc.saslTag = ""
		if user, ok := plainUser(string(bytes.TrimSpace(line[0].data))); ok {
			lc.pending[tag] = user
		}
		return
	}
	toks := tokens(line, 4)
	if len(toks) < 3 {
		return
	}
	tag := toks[0]
	switch strings.ToUpper(toks[1]) {
	case "LOGIN":
		lc.pending[tag] = toks[2]
	case "AUTHENTICATE":
		if !strings.EqualFold(toks[2], "PLAIN") {
			return
		}
		if len(toks) == 4 {
			if user, ok := plainUser(toks[3]); ok {
				lc.pending[tag] = user
			}
			return
		}
		lc.saslTag = tag
	}
}

// serverLine looks for the tagged answer to a pending login.
func (c *LoginCounter) serverLine(lc *loginConn, line []lineItem) {
	toks := tokens(line, 2)
	if len(toks) < 2 || toks[0] == "*" || toks[0] == "+" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tag := toks[0]
	if lc.saslTag == tag {
		// Refused before the client sent its response (an unknown
		// mechanism, say): the next client line is a command again.
		lc.saslTag = ""
	}
	user, ok := lc.pending[tag]
	if !ok {
		return
	}
	delete(lc.pending, tag)
	if !strings.EqualFold(toks[1], "OK") {
		return
	}
	c.logins[user]++
	if lc.loggedIn || lc.ended {
		return
	}
	lc.user, lc.loggedIn = user, true
	c.open[user]++
	if c.open[user] == 1 {
		c.users++
		c.maxUsers = max(c.maxUsers, c.users)
	}
	c.maxPerUser[user] = max(c.maxPerUser[user], c.open[user])
}

// end records that the connection is over; the second call does nothing.
func (c *LoginCounter) end(lc *loginConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if lc.ended {
		return
	}
	lc.ended = true
	if !lc.loggedIn {
		return
	}
	c.open[lc.user]--
	if c.open[lc.user] == 0 {
		c.users--
	}
}

// plainUser decodes a SASL PLAIN message, base64 of
// authzid NUL authcid NUL passwd, and returns authzid, or authcid when
// authzid is empty (RFC 4616 section 2).
func plainUser(b64 string) (string, bool) {
	msg, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", false
	}
	fields := strings.Split(string(msg), "\x00")
	if len(fields) != 3 {
		return "", false
	}
	if fields[0] != "" {
		return fields[0], true
	}
	return fields[1], fields[1] != ""
}

// lineItem is a piece of a logical IMAP line: the text up to a CRLF, or a
// literal's data.
type lineItem struct {
	data    []byte
	literal bool
	big     bool // a literal longer than maxLiteralKept: data is empty
}

const (
	maxLineKept    = 16 << 10 // text kept per line; the rest is passed on unread
	maxLiteralKept = 1 << 10  // user names are short; message literals are skipped
)

// lineSplitter cuts one direction of an IMAP connection into logical lines
// (RFC 9051 section 2.2): text up to CRLF, except that a line ending in a
// literal marker, {n}, {n+} or ~{n}, goes on after the n bytes of the
// literal, which are never scanned for line ends. So the body of a message
// in an APPEND or a FETCH cannot pass for a command or a tagged answer.
//
// A server that refuses a synchronizing literal leaves the splitter waiting
// for bytes that never come, which only makes it miss logins: tests do not
// send such literals to the login counter.
type lineSplitter struct {
	onLine  func([]lineItem)
	items   []lineItem
	text    []byte // the current text, at most maxLineKept bytes
	end     []byte // the last 32 bytes of the current text, where a literal marker would be
	literal int64  // literal bytes still to come
	lit     []byte
	big     bool
}

func (s *lineSplitter) feed(data []byte) {
	for len(data) > 0 {
		if s.literal > 0 {
			n := int(min(int64(len(data)), s.literal))
			if !s.big {
				if len(s.lit)+n > maxLiteralKept {
					s.big, s.lit = true, nil
				} else {
					s.lit = append(s.lit, data[:n]...)
				}
			}
			data = data[n:]
			s.literal -= int64(n)
			if s.literal == 0 {
				s.items = append(s.items, lineItem{data: s.lit, literal: true, big: s.big})
				s.lit, s.big = nil, false
			}
			continue
		}
		chunk := data
		i := bytes.IndexByte(data, '\n')
		if i >= 0 {
			chunk = data[:i+1]
		}
		data = data[len(chunk):]
		if room := maxLineKept - len(s.text); room > 0 {
			s.text = append(s.text, chunk[:min(room, len(chunk))]...)
		}
		// A marker is at most 24 bytes: {, 19 digits, +, }, CR, LF.
		s.end = append(s.end, chunk[max(0, len(chunk)-32):]...)
		if len(s.end) > 32 {
			s.end = append(s.end[:0], s.end[len(s.end)-32:]...)
		}
		if i >= 0 {
			s.endOfText()
		}
	}
}

// endOfText handles a CRLF: either a literal follows or the line is done.
func (s *lineSplitter) endOfText() {
	text := bytes.TrimRight(s.text, "\r\n")
	n, ok := literalSize(bytes.TrimRight(s.end, "\r\n"))
	s.items = append(s.items, lineItem{data: bytes.Clone(text)})
	s.text, s.end = s.text[:0], s.end[:0]
	if ok {
		if n > 0 {
			s.literal = n
			return
		}
		s.items = append(s.items, lineItem{literal: true})
		return
	}
	s.onLine(s.items)
	s.items = nil
}

// literalSize parses the literal marker at the end of a line: {n}, {n+}
// (LITERAL+), or either after "~" (BINARY).
func literalSize(line []byte) (int64, bool) {
	if !bytes.HasSuffix(line, []byte("}")) {
		return 0, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	num := strings.TrimSuffix(string(line[i+1:len(line)-1]), "+")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || num == "" || num[0] == '+' {
		return 0, false
	}
	return n, true
}

// tokens returns up to n leading tokens of a logical line: atoms, quoted
// strings (unescaped) and literals (their data). Anything past maxLineKept,
// or a literal too big to keep, ends the list.
func tokens(line []lineItem, n int) []string {
	var toks []string
	for _, item := range line {
		if item.literal {
			if item.big {
				return toks
			}
			toks = append(toks, string(item.data))
			if len(toks) == n {
				return toks
			}
			continue
		}
		s := string(item.data)
		for len(toks) < n {
			s = strings.TrimLeft(s, " ")
			if s == "" {
				break
			}
			if s[0] == '{' || strings.HasPrefix(s, "~{") {
				break // the marker of the literal that follows
			}
			if s[0] == '"' {
				tok, rest, ok := unquote(s)
				if !ok {
					return toks
				}
				toks = append(toks, tok)
				s = rest
				continue
			}
			i := strings.IndexByte(s, ' ')
			if i < 0 {
				i = len(s)
			}
			toks = append(toks, s[:i])
			s = s[i:]
		}
		if len(toks) == n {
			return toks
		}
	}
	return toks
}

// unquote reads the quoted string at the start of s, which begins with '"'.
func unquote(s string) (tok, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", false
}
