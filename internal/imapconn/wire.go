package imapconn

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// writeChunk bounds each write to the socket, so that the idle watchdog sees
// progress during a large APPEND literal rather than one long write.
const writeChunk = 64 << 10

// wire is the net.Conn that go-imap talks through. It sees every byte in
// both directions, in clear text, and uses one scanner per direction to
// write the redacted transcript, enforce the read-only guard and run the
// idle watchdog.
//
// Deadlines: go-imap sets a 30 s deadline per response and 5 min per literal
// (imapclient/client.go). Those are totals, so a large literal that flows
// slowly but steadily fails after 5 min (STACK.md catch 5), while the wait
// for the first byte of a reply has no deadline at all. wire therefore
// ignores go-imap's SetDeadline calls and sets its own: a read deadline of
// IdleTimeout while the server owes a reply and a Read is waiting, renewed
// whenever a byte arrives or a chunk of ours is accepted; and a write deadline of IdleTimeout per
// writeChunk. A stalled server is cut after IdleTimeout; a slow one is not.
// A Read that is not waiting (because the caller is slow to consume a
// FETCH) is not the server's fault and never counts.
type wire struct {
	raw      net.Conn // the TCP connection: deadlines and Close go here
	conn     net.Conn // what carries IMAP: raw, or a *tls.Conn over it
	label    string
	trace    io.Writer
	readOnly bool
	idle     time.Duration

	rmu    sync.Mutex // one Read at a time; guards in, prefix and the fields below
	in     scanner
	prefix []byte // handed to the reader before any socket data; not scanned

	// Responses that may carry a mailbox name go-imap cannot decode (an
	// untagged LIST or STATUS) are held back whole and handed over through
	// ready, with the name replaced when needed; see mailboxname.go. Every
	// other response passes straight through once its first bytes show
	// what it is.
	ready      []byte // scanned bytes owed to the reader before any socket data
	hold       []byte // the response being held back, from its first byte
	holding    bool
	decided    bool  // the held response is known to be LIST or STATUS, or private
	private    bool  // the held response answers a command of ours (privateTag)
	holdDirect bool  // hold is still in the caller's buffer, right after what goes out directly
	rerr       error // a read error owed to the reader once ready is drained

	// LITERAL+ (RFC 7888) for APPEND: go-imap sends a literal over 4 KiB as
	// a synchronizing one and waits for the server's "+" even when the
	// server offers LITERAL+, which costs a round trip per message. With
	// literalPlus, wire rewrites an APPEND's "{N}" into "{N+}" and hands
	// go-imap the "+" itself (inject), at a line boundary of the server's
	// stream so that it never lands inside a response.
	literalPlus bool
	inject      []byte // continuation requests owed to go-imap; guarded by mu
	waking      bool   // a read deadline in the past was set to hand them over

	wmu sync.Mutex // one Write at a time; guards out and cmd
	out scanner
	cmd string // name of the command being written, for its continuation lines

	mu         sync.Mutex // protocol state shared by both directions, and the trace
	pending    int        // replies the server owes: the greeting, then tagged replies
	greeting   bool       // the greeting has not arrived yet
	reading    bool       // a Read is waiting on the socket
	redactTag  string     // LOGIN or AUTHENTICATE in progress: hide client data until its tagged reply
	saslTag    string     // AUTHENTICATE in progress: client lines are SASL responses, not commands
	idleTag    string     // IDLE command in progress (RFC 2177)
	idling     bool       // the server accepted IDLE: silence is expected until DONE
	cause      error      // why wire cut the connection, if it did
	bye        string     // the text of a BYE the server sent on its own, "" if none
	loggingOut bool       // LOGOUT was sent: its BYE is the expected answer

	observe func(command string, d time.Duration) // Config.Observe
	sent    map[string]sentCommand                // by tag, while observe is set

	// Commands this package sends itself (MultiAppend) have tags that
	// start with privatePrefix; their tagged replies go to the channel
	// waiting in replies, never to go-imap. Guarded by mu.
	privatePrefix string
	privateN      int
	replies       map[string]chan []byte

	nonce      string            // makes this connection's sentinel names unguessable
	sentinels  map[string]string // raw mailbox name -> sentinel wire form
	unmappable map[string]string // sentinel as go-imap decodes it -> raw mailbox name
}

// maxHold bounds a held response. Mailbox names are short; a longer LIST
// or STATUS response is handed over unchanged, for go-imap to judge.
const maxHold = 64 << 10

// sentCommand is a command waiting for its tagged reply.
type sentCommand struct {
	name string
	at   time.Time
}

func newWire(raw, conn net.Conn, cfg Config) *wire {
	nonce := newNonce()
	return &wire{
		raw:      raw,
		conn:     conn,
		label:    cfg.TraceLabel,
		trace:    cfg.Trace,
		readOnly: cfg.ReadOnly,
		idle:     cfg.IdleTimeout,
		in:       scanner{server: true},
		out:      scanner{keepAll: true},
		pending:  1,
		greeting: true,
		observe:  cfg.Observe,
		sent:     map[string]sentCommand{},

		nonce:      nonce,
		sentinels:  map[string]string{},
		unmappable: map[string]string{},

		privatePrefix: "X" + nonce[:8] + ".",
		replies:       map[string]chan []byte{},
	}
}

func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// upgrade switches to conn (the TLS layer after STARTTLS) and makes the
// reader see replay first. It must be called with no Read or Write running.
func (w *wire) upgrade(conn net.Conn, replay []byte) {
	w.conn = conn
	w.prefix = replay
}

func (w *wire) Read(p []byte) (int, error) {
	w.rmu.Lock()
	defer w.rmu.Unlock()
	if len(w.prefix) > 0 {
		n := copy(p, w.prefix)
		w.prefix = w.prefix[n:]
		return n, nil
	}

	for {
		if len(w.ready) > 0 {
			n := copy(p, w.ready)
			w.ready = w.ready[n:]
			return n, nil
		}
		if err := w.rerr; err != nil {
			w.rerr = nil
			return 0, err
		}
		w.mu.Lock()
		// A held response keeps the scanner off a boundary, so an injected
		// line never lands inside one.
		if len(w.inject) > 0 && w.in.atBoundary() {
			n := copy(p, w.inject)
			w.inject = w.inject[n:]
			w.mu.Unlock()
			return n, nil
		}
		w.reading = true
		w.waking = false
		w.armLocked()
		w.mu.Unlock()

		n, err := w.conn.Read(p)

		w.mu.Lock()
		w.reading = false
		woken := w.waking && errors.Is(err, os.ErrDeadlineExceeded)
		w.mu.Unlock()

		direct := w.filter(p[:n])
		if woken {
			if direct > 0 {
				return direct, nil
			}
			continue // hand over the continuation request
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = w.kill(fmt.Errorf("%w: no data from server for %v", ErrIdleTimeout, w.idle))
			} else if cause := w.Err(); cause != nil {
				err = cause
			} else if bye := w.byeError(); bye != nil {
				err = bye
			}
			if w.holding {
				// The rest of it will not come: go-imap gets what arrived.
				w.ready = append(w.ready, w.hold...)
				w.hold, w.holding = w.hold[:0], false
			}
			if direct == 0 && len(w.ready) == 0 {
				return 0, err
			}
			w.rerr = err
		}
		if direct > 0 {
			return direct, nil
		}
	}
}

// filter scans server bytes b (read into the caller's buffer), updates the
// protocol state line by line, and holds back LIST and STATUS responses
// until they are complete. It returns how many leading bytes of b go to
// the caller as they are; the rest of b is in hold or ready.
func (w *wire) filter(b []byte) int {
	direct := 0
	passing := true // nothing of b has gone to hold or ready yet
	if w.holding {
		w.holdDirect = false // it began in an earlier buffer
	}
	release := func(resp []byte, unchanged bool) {
		if unchanged && w.holdDirect && passing {
			direct += len(resp)
		} else {
			w.ready = append(w.ready, resp...)
			passing = false
		}
		w.hold, w.holding = w.hold[:0], false
	}
	for len(b) > 0 {
		start := w.in.atBoundary()
		k, tok := w.in.scan(b)
		chunk := b[:k]
		b = b[k:]
		if tok == tokLine {
			w.serverLine()
		}
		if start && !w.holding {
			w.holding, w.decided, w.holdDirect = true, false, passing
		}
		if !w.holding {
			if passing {
				direct += k
			} else {
				w.ready = append(w.ready, chunk...)
			}
			continue
		}
		w.hold = append(w.hold, chunk...)
		ended := tok == tokLine && !w.in.hasLit
		if !w.decided {
			maybe, sure := mayHoldMailbox(w.hold, tok == tokLine)
			pmaybe, psure := hasPrefixSoFar(w.hold, w.privatePrefix, tok == tokLine)
			w.private = pmaybe && psure
			w.decided = sure && maybe || w.private
			if !maybe && !pmaybe {
				release(w.hold, true)
				continue
			}
		}
		switch {
		case w.private && (ended || len(w.hold) > maxHold):
			// The reply to a command of ours: go-imap never sees it, so
			// what follows in b can no longer stay in place.
			w.deliverPrivate(w.hold, ended)
			w.hold, w.holding, w.private = w.hold[:0], false, false
			passing = false
		case ended:
			out, changed := w.fixMailbox(w.hold)
			release(out, !changed)
		case len(w.hold) > maxHold:
			release(w.hold, true)
		}
	}
	return direct
}

// mayHoldMailbox reports whether a server response that starts with b may
// be an untagged LIST or STATUS response, and whether b is enough to tell.
func mayHoldMailbox(b []byte, lineEnded bool) (maybe, sure bool) {
	for _, want := range []string{"* LIST ", "* STATUS "} {
		n := min(len(b), len(want))
		if !strings.EqualFold(string(b[:n]), want[:n]) {
			continue
		}
		if n == len(want) {
			return true, true
		}
		if !lineEnded {
			return true, false
		}
	}
	return false, true
}

// hasPrefixSoFar reports whether b may start with prefix, and whether b
// is enough to tell.
func hasPrefixSoFar(b []byte, prefix string, lineEnded bool) (maybe, sure bool) {
	n := min(len(b), len(prefix))
	if string(b[:n]) != prefix[:n] {
		return false, true
	}
	return true, n == len(prefix) || lineEnded
}

// privateTag returns a new tag for a command this package sends itself,
// and the channel its tagged reply will come on.
func (w *wire) privateTag() (string, chan []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.privateN++
	tag := w.privatePrefix + strconv.Itoa(w.privateN)
	ch := make(chan []byte, 1)
	w.replies[tag] = ch
	return tag, ch
}

// forgetPrivate drops the channel of a command that will get no reply.
func (w *wire) forgetPrivate(tag string) {
	w.mu.Lock()
	delete(w.replies, tag)
	w.mu.Unlock()
}

// deliverPrivate hands a reply with a private tag to whoever waits for it.
// A reply that is not a complete line (a hostile or broken server sent a
// literal in it) breaks the connection rather than reach go-imap.
func (w *wire) deliverPrivate(resp []byte, ended bool) {
	if !ended {
		w.kill(errors.New("the server's answer to MULTIAPPEND is not one line"))
		return
	}
	tag, _, _ := bytes.Cut(resp, []byte(" "))
	w.mu.Lock()
	ch := w.replies[string(tag)]
	delete(w.replies, string(tag))
	w.mu.Unlock()
	if ch != nil {
		ch <- bytes.Clone(resp)
	}
}

// fixMailbox replaces, in one complete LIST or STATUS response, a mailbox
// name that go-imap cannot decode with this connection's sentinel for it.
// It returns resp itself, and changed false, when there is nothing to
// replace.
func (w *wire) fixMailbox(resp []byte) (out []byte, changed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var name string
	out, raw := fixMailbox(resp, sentinelPrefix(w.nonce), func(raw []byte) string {
		s, ok := w.sentinels[string(raw)]
		if !ok {
			s = sentinelName(w.nonce, len(w.sentinels)+1)
			w.sentinels[string(raw)] = s
			decoded, _ := decodeMUTF7([]byte(s))
			w.unmappable[decoded] = string(raw)
		}
		name = s
		return s
	})
	if raw == nil {
		return resp, false
	}
	note := fmt.Sprintf("mailbox name %q is not valid modified UTF-7; passed on as %q", raw, name)
	w.traceLocked("-- ", note, len(note))
	return out, true
}

// unmappableName reports the raw mailbox name behind a sentinel that
// go-imap returned, as the server sent it.
func (w *wire) unmappableName(name string) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	raw, ok := w.unmappable[name]
	return raw, ok
}

// enableLiteralPlus turns the APPEND rewrite on; see wire.literalPlus.
func (w *wire) enableLiteralPlus() {
	w.wmu.Lock()
	w.literalPlus = true
	w.wmu.Unlock()
}

// plusLiteral rewrites the synchronizing literal that ends line (an APPEND
// command line, CRLF included) into a non-synchronizing one, and owes
// go-imap the continuation request it is waiting for. It returns line
// unchanged when it does not apply.
func (w *wire) plusLiteral(line []byte) []byte {
	if !w.literalPlus || w.cmd != "APPEND" || !w.out.hasLit {
		return line
	}
	body, ok := bytes.CutSuffix(line, []byte("}\r\n"))
	if !ok || bytes.HasSuffix(body, []byte("+")) {
		return line
	}
	out := append(append([]byte(nil), body...), "+}\r\n"...)
	w.mu.Lock()
	w.inject = append(w.inject, "+ go ahead (LITERAL+)\r\n"...)
	if w.reading && w.in.atBoundary() {
		// The reader is blocked on the socket: wake it.
		w.waking = true
		_ = w.raw.SetReadDeadline(time.Unix(1, 0))
	}
	w.mu.Unlock()
	return out
}

// Write forwards client bytes line by line: a line is held back until its
// end is known, so that the read-only guard can refuse it before any byte of
// it reaches the server. go-imap ends every flush with CRLF or inside literal
// data, so holding back a partial line never stalls it. Literal data streams
// through unparsed.
func (w *wire) Write(p []byte) (int, error) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if err := w.Err(); err != nil {
		return 0, err
	}
	done := 0
	for done < len(p) {
		n, tok := w.out.scan(p[done:])
		switch tok {
		case tokLiteral:
			if err := w.send(p[done : done+n]); err != nil {
				return done, err
			}
		case tokLine:
			if err := w.clientLine(); err != nil {
				return done, err
			}
			if err := w.send(w.plusLiteral(w.out.line)); err != nil {
				return done, err
			}
		}
		done += n
	}
	return done, nil
}

// send writes b to the socket in chunks, each under its own deadline.
func (w *wire) send(b []byte) error {
	for len(b) > 0 {
		n := min(len(b), writeChunk)
		_ = w.raw.SetWriteDeadline(time.Now().Add(w.idle))
		if _, err := w.conn.Write(b[:n]); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return w.kill(fmt.Errorf("%w: server accepted no data for %v", ErrIdleTimeout, w.idle))
			}
			if cause := w.Err(); cause != nil {
				return cause
			}
			if bye := w.byeError(); bye != nil {
				return bye
			}
			return err
		}
		b = b[n:]
		// Bytes accepted by the server are progress too: a large literal
		// going out slowly must not count as a server that owes a reply
		// and says nothing.
		w.mu.Lock()
		w.armLocked()
		w.mu.Unlock()
	}
	return nil
}

// clientLine handles a complete client line before it is sent: guard,
// protocol state, transcript.
func (w *wire) clientLine() error {
	line := w.out.text()
	w.mu.Lock()
	defer w.mu.Unlock()

	shown, size := string(line), w.out.textLen()
	switch {
	case w.out.cont:
		if w.readOnly && (w.cmd == "FETCH" || w.cmd == "UID FETCH") {
			if err := checkFetchItems(w.cmd, line); err != nil {
				return w.refuseLocked(line, err)
			}
		}
		if w.redactTag != "" {
			shown = "***"
		}
	case w.saslTag != "":
		shown = "***"
	case w.idling && strings.EqualFold(string(line), "DONE"):
		w.idling = false
		w.armLocked()
	default:
		tag, name := commandName(line)
		if w.readOnly {
			if err := checkReadOnly(line); err != nil {
				return w.refuseLocked(line, err)
			}
		}
		w.cmd = name
		w.pending++
		w.armLocked()
		if w.observe != nil {
			w.sent[tag] = sentCommand{name: name, at: time.Now()}
		}
		switch name {
		case "LOGIN":
			w.redactTag = tag
			shown = tag + " LOGIN ***"
		case "AUTHENTICATE":
			w.redactTag, w.saslTag = tag, tag
			mech := ""
			if f := strings.Fields(shown); len(f) > 2 {
				mech = " " + f[2]
			}
			shown = tag + " AUTHENTICATE" + mech + " ***"
		case "IDLE":
			w.idleTag = tag
		case "LOGOUT":
			w.loggingOut = true
		}
	}
	if shown != string(line) {
		size = len(shown) // a redacted line must not even reveal its length
	}
	if shown != "" {
		w.traceLocked("C: ", shown, size)
	}
	if w.out.hasLit {
		if w.redactTag != "" {
			w.traceLocked("C: ", "***", 0)
		} else {
			w.traceLocked("C: ", fmt.Sprintf("<literal %d bytes>", w.out.lit), 0)
		}
	}
	return nil
}

// refuseLocked records a command refused by the read-only guard and cuts the
// connection: go-imap cannot take back a command it believes sent, so the
// connection is of no further use.
func (w *wire) refuseLocked(line []byte, err error) error {
	w.traceLocked("C: ", "refused, not sent (read-only): "+string(line), len(line))
	return w.killLocked(err)
}

// serverLine updates the protocol state from a complete server line and
// writes it to the transcript.
func (w *wire) serverLine() {
	line := w.in.text()
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.in.cont {
		tag, _, _ := bytes.Cut(line, []byte(" "))
		switch string(tag) {
		case "*":
			if w.greeting {
				w.greeting = false
				w.pending--
			} else if text, ok := cutPrefixFold(string(line), "* BYE"); ok && (text == "" || text[0] == ' ') && !w.loggingOut && w.bye == "" {
				w.bye = printable(strings.TrimSpace(text), maxByeText)
				if w.bye == "" {
					w.bye = "(no text)"
				}
			}
		case "+":
			if w.idleTag != "" {
				w.idling = true
			}
		default:
			w.pending = max(w.pending-1, 0)
			if c, ok := w.sent[string(tag)]; ok {
				delete(w.sent, string(tag))
				w.observe(c.name, time.Since(c.at))
			}
			switch string(tag) {
			case w.redactTag:
				w.redactTag, w.saslTag = "", ""
			case w.idleTag:
				w.idleTag, w.idling = "", false
			}
		}
	}
	if w.trace != nil && len(line) > 0 {
		w.traceLocked("S: ", string(line), w.in.textLen())
	}
	if w.in.hasLit {
		w.traceLocked("S: ", fmt.Sprintf("<literal %d bytes>", w.in.lit), 0)
	}
}

// armLocked sets the read deadline for a waiting Read: IdleTimeout from now
// while the server owes a reply, none otherwise.
func (w *wire) armLocked() {
	if !w.reading || w.waking {
		return // the next Read arms itself; a wake-up must not be undone
	}
	var deadline time.Time
	if w.pending > 0 && !w.idling {
		deadline = time.Now().Add(w.idle)
	}
	_ = w.raw.SetReadDeadline(deadline)
}

// traceLocked writes one transcript line, cut at maxTraceLine bytes, with
// control characters replaced so that a hostile server cannot forge lines or
// drive a terminal. size is the line's full length. Errors from the trace
// writer are ignored: the transcript is a diagnostic and must not break the
// migration.
func (w *wire) traceLocked(dir, line string, size int) {
	if w.trace == nil {
		return
	}
	var b strings.Builder
	if w.label != "" {
		b.WriteString(w.label)
		b.WriteByte(' ')
	}
	b.WriteString(dir)
	if len(line) > maxTraceLine {
		line = line[:maxTraceLine]
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c < 0x20 && c != '\t' || c == 0x7f {
			c = '.'
		}
		b.WriteByte(c)
	}
	if size > maxTraceLine {
		fmt.Fprintf(&b, " ...[%d bytes]", size)
	}
	b.WriteByte('\n')
	_, _ = io.WriteString(w.trace, b.String())
}

// traceNote writes a line about the connection itself, not the protocol.
func (w *wire) traceNote(note string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.traceLocked("-- ", note, len(note))
}

// kill cuts the connection and remembers why; the first cause wins.
func (w *wire) kill(cause error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.killLocked(cause)
}

func (w *wire) killLocked(cause error) error {
	if w.cause == nil {
		w.cause = cause
	}
	_ = w.raw.Close()
	return w.cause
}

// maxByeText bounds the server's BYE text kept for errors.
const maxByeText = 200

// byeError is what reads and writes return once the server has said BYE on
// its own (RFC 9051 section 7.1.5: it is closing the connection, e.g.
// "Server shutting down." or "Disconnected for inactivity.") and then
// closed it. go-imap ignores an untagged BYE and would report a plain
// unexpected EOF; this puts the server's words into the error of every
// command that was pending or comes later, and so into the engine's logs
// and reports.
type byeError struct{ text string }

func (e *byeError) Error() string { return "server closed the session: BYE " + e.text }

// byeError returns the error for a server that said BYE on its own, or nil.
func (w *wire) byeError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bye == "" {
		return nil
	}
	return &byeError{w.bye}
}

// printable replaces control characters in s, which a server sent, and
// cuts it at n bytes, so that it can go into errors and logs.
func printable(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '.'
		}
		return r
	}, s)
}

// Err returns why wire cut the connection, or nil.
func (w *wire) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cause
}

// Close closes the socket without a TLS close_notify, which could block on
// a stalled server.
func (w *wire) Close() error         { return w.raw.Close() }
func (w *wire) LocalAddr() net.Addr  { return w.raw.LocalAddr() }
func (w *wire) RemoteAddr() net.Addr { return w.raw.RemoteAddr() }

// SetDeadline, SetReadDeadline and SetWriteDeadline ignore go-imap's
// deadlines; see the wire type for why.
func (w *wire) SetDeadline(time.Time) error      { return nil }
func (w *wire) SetReadDeadline(time.Time) error  { return nil }
func (w *wire) SetWriteDeadline(time.Time) error { return nil }
