package imapconn

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/emersion/go-imap/v2"
)

// MULTIAPPEND (RFC 3502): several messages in one APPEND command.
//
// Dovecot commits an APPEND's messages in one mailbox transaction, so one
// APPEND per message costs it a transaction (index, uidlist, cache) per
// message: measured on the benchmark corpus, 0.74 to 1.0 ms of server CPU
// per message one by one, 0.28 to 0.32 ms in MULTIAPPENDs of 50. On this
// class of machine the destination's CPU is what bounds a full pass.
//
// go-imap v2 has no MULTIAPPEND. This package writes the command to the
// wire itself, beside go-imap's commands, with a tag of its own, and takes
// the tagged reply off the server's stream before go-imap reads it (see
// wire.filter); untagged responses (EXISTS) still go to go-imap. The
// command passes through the same wire as go-imap's: the read-only guard,
// the idle watchdog and the transcript see it.
//
// The command is atomic (RFC 3502 section 3: when the server cannot
// append one of the messages, it appends none of them), so a refusal
// costs the caller a retry of the group one message at a time, never a
// duplicate; a connection lost before the answer leaves the caller to
// reconcile, as with a lost APPEND.

// CanMultiAppend reports whether c can send MultiAppend: the server offers
// MULTIAPPEND and LITERAL+ (each literal goes without waiting for a
// continuation request, which this package could not take off the stream
// without knowing go-imap's state), and c is not read-only.
func (c *Conn) CanMultiAppend() bool {
	caps := c.Caps()
	return !c.cfg.ReadOnly && caps.Has(imap.CapMultiAppend) && caps.Has(imap.CapLiteralPlus)
}

// MultiAppend is a MULTIAPPEND command being written.
type MultiAppend struct {
	c       *Conn
	mailbox string // as written: quoted, encoded
	tag     string
	reply   chan []byte
	n       int   // messages begun
	left    int64 // literal bytes of the current message still to write
	err     error
}

// AppendedData is the answer to a MULTIAPPEND: the destination's UIDs of
// the messages in the order they were sent, when the server has UIDPLUS
// (RFC 4315 APPENDUID), else none.
type AppendedData struct {
	UIDValidity uint32
	UIDs        []imap.UID
}

// MultiAppend begins a MULTIAPPEND into mailbox. Until Close, nothing else
// may be sent on c: the command's lines and literals go out as the caller
// writes them, and a go-imap command in between would land inside it.
func (c *Conn) MultiAppend(mailbox string) (*MultiAppend, error) {
	name, err := c.mailboxArg(mailbox)
	if err != nil {
		return nil, err
	}
	tag, reply := c.wire.privateTag()
	return &MultiAppend{c: c, mailbox: name, tag: tag, reply: reply}, nil
}

// Message begins the next message, of size bytes, which the caller then
// writes with Write.
func (a *MultiAppend) Message(flags []imap.Flag, date time.Time, size int64) error {
	if a.err != nil {
		return a.err
	}
	if a.left > 0 {
		return a.fail(fmt.Errorf("multiappend: message %d is %d bytes short", a.n, a.left))
	}
	var b strings.Builder
	if a.n == 0 {
		b.WriteString(a.tag + " APPEND " + a.mailbox)
	}
	b.WriteString(" (")
	for i, f := range flags {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(f))
	}
	b.WriteString(")")
	if !date.IsZero() {
		b.WriteString(` "` + date.Format("_2-Jan-2006 15:04:05 -0700") + `"`)
	}
	b.WriteString(" {" + strconv.FormatInt(size, 10) + "+}\r\n")
	a.n++
	a.left = size
	if _, err := a.c.wire.Write([]byte(b.String())); err != nil {
		return a.fail(err)
	}
	return nil
}

// Write writes literal bytes of the current message.
func (a *MultiAppend) Write(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	if int64(len(p)) > a.left {
		return 0, a.fail(fmt.Errorf("multiappend: message %d is longer than the %d bytes announced", a.n, a.left))
	}
	n, err := a.c.wire.Write(p)
	a.left -= int64(n)
	if err != nil {
		return n, a.fail(err)
	}
	return n, nil
}

// Close ends the command. The answer is read with Wait.
func (a *MultiAppend) Close() error {
	if a.err != nil {
		return a.err
	}
	if a.n == 0 {
		return a.fail(errors.New("multiappend: no message"))
	}
	if a.left > 0 {
		return a.fail(fmt.Errorf("multiappend: message %d is %d bytes short", a.n, a.left))
	}
	if _, err := a.c.wire.Write([]byte("\r\n")); err != nil {
		return a.fail(err)
	}
	return nil
}

// Wait waits for the answer of a closed command. A NO or BAD is an
// *imap.Error, with its response code, as go-imap returns them; any other
// error means the connection is gone and the answer with it.
func (a *MultiAppend) Wait() (*AppendedData, error) {
	if a.err != nil {
		return nil, a.err
	}
	var line []byte
	select {
	case line = <-a.reply:
	case <-a.c.Closed():
		select {
		case line = <-a.reply:
		default:
			return nil, a.c.lostErr()
		}
	}
	return parseAppendReply(line)
}

// fail records the first error: the command is then broken and so is the
// connection (the server holds a partial command), which is dropped.
func (a *MultiAppend) fail(err error) error {
	if a.err == nil {
		a.err = err
		a.c.wire.forgetPrivate(a.tag)
		a.c.Abort()
	}
	return a.err
}

// lostErr says why the connection is gone, in the wire's words when it has
// some (a BYE, the idle watchdog).
func (c *Conn) lostErr() error {
	if err := c.wire.Err(); err != nil {
		return err
	}
	if err := c.wire.byeError(); err != nil {
		return err
	}
	return errors.New("connection closed before the server answered")
}

// parseAppendReply reads a tagged reply: "tag OK [APPENDUID v uid-set] text".
func parseAppendReply(line []byte) (*AppendedData, error) {
	s := strings.TrimRight(string(line), "\r\n")
	_, rest, _ := strings.Cut(s, " ")
	status, text, _ := strings.Cut(rest, " ")
	var code, arg string
	if strings.HasPrefix(text, "[") {
		if end := strings.IndexByte(text, ']'); end > 0 {
			code, arg, _ = strings.Cut(text[1:end], " ")
			text = strings.TrimPrefix(text[end+1:], " ")
		}
	}
	switch strings.ToUpper(status) {
	case "OK":
	case "NO", "BAD":
		return nil, &imap.Error{Type: imap.StatusResponseType(strings.ToUpper(status)), Code: imap.ResponseCode(strings.ToUpper(code)), Text: text}
	default:
		return nil, fmt.Errorf("multiappend: unexpected reply %q", printable(s, maxByeText))
	}
	data := &AppendedData{}
	if !strings.EqualFold(code, "APPENDUID") {
		return data, nil
	}
	v, set, _ := strings.Cut(arg, " ")
	validity, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return data, nil // no usable UIDs: the copies are recognised by content
	}
	uids, ok := uidsInOrder(set)
	if !ok {
		return data, nil
	}
	data.UIDValidity, data.UIDs = uint32(validity), uids
	return data, nil
}

// uidsInOrder expands an APPENDUID uid-set ("5:9", "5,7:8") in its order,
// which is the order of the messages (RFC 4315 section 3).
func uidsInOrder(set string) ([]imap.UID, bool) {
	var out []imap.UID
	for _, part := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil || a == 0 {
			return nil, false
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil || b == 0 {
				return nil, false
			}
		}
		if a > b {
			a, b = b, a
		}
		if b-a > 1<<20 {
			return nil, false
		}
		for u := a; u <= b; u++ {
			out = append(out, imap.UID(u))
		}
	}
	return out, true
}

// mailboxArg is a mailbox name as a command argument: modified UTF-7
// (RFC 3501 section 5.1.3) in a quoted string, or the raw bytes the
// server listed for a name go-imap could not decode (see Unmappable).
func (c *Conn) mailboxArg(name string) (string, error) {
	enc := encodeMUTF7(name)
	if strings.EqualFold(name, "INBOX") {
		enc = "INBOX"
	} else if raw, ok := c.Unmappable(name); ok {
		enc = raw
	}
	for i := 0; i < len(enc); i++ {
		if enc[i] < 0x20 || enc[i] > 0x7e {
			return "", fmt.Errorf("mailbox name %q cannot be sent as a quoted string", name)
		}
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(enc) + `"`, nil
}

// mutf7 is modified BASE64: "," for "/", no padding.
var mutf7 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// encodeMUTF7 encodes name in modified UTF-7: printable ASCII as itself
// ("&" as "&-"), every run of other characters as UTF-16 in modified
// BASE64 between "&" and "-".
func encodeMUTF7(name string) string {
	var b strings.Builder
	var run []uint16
	flush := func() {
		if len(run) == 0 {
			return
		}
		buf := make([]byte, 0, 2*len(run))
		for _, u := range run {
			buf = append(buf, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(mutf7.EncodeToString(buf))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range name {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				b.WriteString("&-")
			} else {
				b.WriteRune(r)
			}
			continue
		}
		run = utf16.AppendRune(run, r)
	}
	flush()
	return b.String()
}
