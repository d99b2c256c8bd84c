package imapconn

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Mailbox names that go-imap cannot decode (RELIABILITY.md §2 row 25).
//
// go-imap decodes every mailbox name in an untagged LIST or STATUS response
// from modified UTF-7 (RFC 3501 section 5.1.3) while it reads the response,
// and a name that does not decode (an "&" shift without its "-", bad
// base64, a control character, invalid UTF-8) fails the reader, which closes
// the connection: one badly named folder would cost the whole mailbox. The
// wire therefore looks at each such response before go-imap does and, when
// the name would not decode, replaces it with a sentinel name that does
// (see wire.fixMailbox), remembering the raw bytes so that the engine can
// report the folder as skipped. The sentinel starts with U+0001, a control
// character that no folder name the engine would copy contains (the folder
// package marks such names unmappable), and carries a random per-connection
// nonce; a real name that happens to decode to the sentinel form is treated
// as unmappable too, so a sentinel never stands for two folders.

// sentinelMark is the sentinel's first character, U+0001, in modified UTF-7.
const sentinelMark = "&AAE-"

// mailboxOK reports whether go-imap accepts name, a mailbox name as the
// server sent it (the astring's content, quotes and escapes removed), and
// returns the decoded name.
func mailboxOK(name []byte) (string, bool) {
	if strings.EqualFold(string(name), "INBOX") {
		return "INBOX", true
	}
	return decodeMUTF7(name)
}

// decodeMUTF7 decodes modified UTF-7 (RFC 3501 section 5.1.3) as go-imap
// v2's decoder does, accepting exactly what it accepts: raw UTF-8 is let
// through, but not control characters outside a base64 run; a base64 run
// must end with "-", must not use "=" padding, must decode to whole UTF-16
// units with valid surrogate pairs and no printable ASCII, and must not
// follow another run directly (a null shift, as in "&AGE-&AGE-").
// FuzzFixMailbox checks the equivalence against go-imap itself.
func decodeMUTF7(src []byte) (string, bool) {
	if !utf8.Valid(src) {
		return "", false
	}
	var sb strings.Builder
	afterRun := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c < 0x20 || c == 0x7f {
			return "", false
		}
		if c != '&' {
			sb.WriteByte(c)
			afterRun = false
			continue
		}
		end := bytes.IndexByte(src[i+1:], '-')
		if end < 0 {
			return "", false
		}
		run := src[i+1 : i+1+end]
		i += 1 + end
		if len(run) == 0 { // "&-" is "&"
			sb.WriteByte('&')
			afterRun = false
			continue
		}
		if afterRun {
			return "", false
		}
		s, ok := decodeRun(run)
		if !ok {
			return "", false
		}
		sb.WriteString(s)
		afterRun = true
	}
	return sb.String(), true
}

// decodeRun decodes the base64 of one shifted run into UTF-8.
func decodeRun(run []byte) (string, bool) {
	if len(run)%4 == 1 {
		return "", false
	}
	// Modified base64: "," stands for "/", and there is no padding. Bits
	// left over at the end are ignored, as encoding/base64 does.
	var units []uint16
	var acc uint32
	bits := 0
	var pending []byte
	for _, c := range run {
		var v byte
		switch {
		case c >= 'A' && c <= 'Z':
			v = c - 'A'
		case c >= 'a' && c <= 'z':
			v = c - 'a' + 26
		case c >= '0' && c <= '9':
			v = c - '0' + 52
		case c == '+':
			v = 62
		case c == ',':
			v = 63
		default:
			return "", false
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			pending = append(pending, byte(acc>>bits))
			acc &= 1<<bits - 1
		}
	}
	if len(pending)%2 == 1 {
		return "", false
	}
	for j := 0; j < len(pending); j += 2 {
		units = append(units, uint16(pending[j])<<8|uint16(pending[j+1]))
	}
	var sb strings.Builder
	for j := 0; j < len(units); j++ {
		r := rune(units[j])
		switch {
		case utf16.IsSurrogate(r):
			if j+1 == len(units) {
				return "", false
			}
			j++
			if r = utf16.DecodeRune(r, rune(units[j])); r == utf8.RuneError {
				return "", false
			}
		case r >= 0x20 && r <= 0x7e:
			return "", false // printable ASCII must not be shifted
		}
		sb.WriteRune(r)
	}
	return sb.String(), true
}

// astringChar reports whether go-imap reads c as part of an unquoted
// mailbox name (ASTRING-CHAR; go-imap also rejects bytes 0x80-0x9f there).
func astringChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\':
		return false
	}
	return c >= 0x20 && c != 0x7f && (c < 0x80 || c > 0x9f)
}

// fixMailbox rewrites one complete untagged server response (CRLF and any
// literals included) if it is a LIST or STATUS response whose mailbox name
// go-imap would fail to decode, or whose name decodes to something that
// starts with reserved (a sentinel's prefix). The name is replaced with the
// quoted form of sentinel(raw), where raw is the name as the server sent
// it. It returns the response unchanged, and raw nil, when there is
// nothing to fix or when the response is not one it can parse (go-imap is
// then left to judge it).
func fixMailbox(resp []byte, reserved string, sentinel func(raw []byte) string) (out, raw []byte) {
	p := respParser{b: resp}
	if !p.lit("* ") {
		return resp, nil
	}
	switch {
	case p.word("LIST"):
		// mailbox-list = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE / nil) SP mailbox
		if !p.lit("(") {
			return resp, nil
		}
		close := bytes.IndexByte(p.b[p.i:], ')')
		if close < 0 || bytes.ContainsAny(p.b[p.i:p.i+close], "\r\n") {
			return resp, nil
		}
		p.i += close + 1
		if !p.lit(" ") {
			return resp, nil
		}
		if !p.word("NIL") {
			if _, ok := p.quoted(); !ok {
				return resp, nil
			}
		}
		if !p.lit(" ") {
			return resp, nil
		}
	case p.word("STATUS"):
	default:
		return resp, nil
	}
	start := p.i
	name, clean, ok := p.astring()
	if !ok {
		return resp, nil
	}
	if decoded, ok := mailboxOK(name); ok && clean && !strings.HasPrefix(decoded, reserved) {
		return resp, nil
	}
	raw = append([]byte(nil), name...)
	out = append(out, resp[:start]...)
	out = append(out, '"')
	out = append(out, sentinel(raw)...) // quoted-safe: see sentinelName
	out = append(out, '"')
	out = append(out, resp[p.i:]...)
	return out, raw
}

// sentinelName is the wire form of the n-th sentinel of a connection: only
// letters, digits, "-" and the "&AAE-" shift, so it needs no quoting
// escapes, and it decodes to "\x01unmappable-<nonce>-<n>".
func sentinelName(nonce string, n int) string {
	return sentinelMark + "unmappable-" + nonce + "-" + strconv.Itoa(n)
}

// sentinelPrefix is what every sentinel of a connection decodes to first.
func sentinelPrefix(nonce string) string {
	return "\x01unmappable-" + nonce + "-"
}

// respParser is a cursor over one server response, for fixMailbox.
type respParser struct {
	b []byte
	i int
}

func (p *respParser) lit(s string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.i += len(s)
		return true
	}
	return false
}

// word accepts s case-insensitively, followed by a space.
func (p *respParser) word(s string) bool {
	n := len(s)
	if len(p.b)-p.i > n && strings.EqualFold(string(p.b[p.i:p.i+n]), s) && p.b[p.i+n] == ' ' {
		p.i += n + 1
		return true
	}
	return false
}

// quoted reads a quoted string the way go-imap does: a backslash escapes
// the next byte, whatever it is.
func (p *respParser) quoted() ([]byte, bool) {
	if !p.lit(`"`) {
		return nil, false
	}
	var s []byte
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch c {
		case '"':
			return s, true
		case '\n':
			return nil, false // the line has ended: not a response we know
		case '\\':
			if p.i == len(p.b) {
				return nil, false
			}
			c = p.b[p.i]
			p.i++
		}
		s = append(s, c)
	}
	return nil, false
}

// astring reads a quoted string, a literal "{N}" CRLF and N bytes, or an
// unquoted name, which runs to the next space or the end of the line.
// clean is false for an unquoted name with a byte that go-imap would not
// read as part of it: go-imap stops there and fails on what follows, so
// fixMailbox replaces all of it.
func (p *respParser) astring() (name []byte, clean, ok bool) {
	if p.i == len(p.b) {
		return nil, false, false
	}
	switch p.b[p.i] {
	case '"':
		s, ok := p.quoted()
		return s, ok, ok
	case '{':
		end := bytes.Index(p.b[p.i:], []byte("}\r\n"))
		if end < 2 || end > 10 {
			return nil, false, false
		}
		n := 0
		for _, c := range p.b[p.i+1 : p.i+end] {
			if c < '0' || c > '9' {
				return nil, false, false
			}
			n = n*10 + int(c-'0')
		}
		if n > len(p.b)-(p.i+end+3) {
			return nil, false, false
		}
		p.i += end + 3
		s := p.b[p.i : p.i+n]
		p.i += n
		return s, true, true
	}
	start := p.i
	for p.i < len(p.b) && p.b[p.i] != ' ' && p.b[p.i] != '\r' && p.b[p.i] != '\n' {
		p.i++
	}
	s := p.b[start:p.i]
	if len(s) == 0 {
		return nil, false, false
	}
	clean = true
	for _, c := range s {
		if !astringChar(c) {
			clean = false
		}
	}
	return s, clean, true
}
