package imapconn

import (
	"bytes"
	"strings"
)

const (
	// maxTraceLine is where a transcript line is cut.
	maxTraceLine = 300
	// tailLen is enough for the longest literal marker, "~{" + 19 digits +
	// "+}" + CRLF.
	tailLen = 32
)

// token is what scanner.scan consumed.
type token int

const (
	tokPartial token = iota // all of p went into a line that has not ended
	tokLine                 // a line ended (see scanner.text and friends)
	tokLiteral              // literal data, to be passed on unparsed
)

// scanner splits one direction of an IMAP stream into lines and literal
// data. A line that ends in a literal marker, "{N}", "{N+}" (RFC 7888) or
// "~{N}" (literal8, RFC 3516), is followed by N bytes of data and then by the
// rest of the same command or response, which scanner reports as a line with
// cont set. The state lives in the struct, so the split does not depend on
// how Read and Write chunk the stream (FuzzScanner checks this).
type scanner struct {
	server  bool // server-to-client: status responses carry text, never literals
	keepAll bool // keep the whole line (the client side forwards whole lines)

	line []byte // the current line with its EOL; only the head unless keepAll
	tail []byte // the last tailLen bytes of the current line
	size int    // bytes in the current line so far, EOL included

	cont   bool  // the current line continues a command or response after a literal
	ended  bool  // the current line is complete
	hasLit bool  // the line that ended announced a literal...
	lit    int64 // ...of this many bytes
	left   int64 // literal bytes still to come
}

// scan consumes a prefix of p, at most up to the end of a line or of a
// literal, and says what it was.
func (s *scanner) scan(p []byte) (int, token) {
	if s.left > 0 {
		n := int(min(int64(len(p)), s.left))
		s.left -= int64(n)
		return n, tokLiteral
	}
	if s.ended {
		s.cont = s.hasLit
		s.line, s.tail, s.size = s.line[:0], s.tail[:0], 0
		s.ended, s.hasLit, s.lit = false, false, 0
	}
	chunk := p
	eol := bytes.IndexByte(p, '\n')
	if eol >= 0 {
		chunk = p[:eol+1]
	}
	s.size += len(chunk)
	if s.keepAll {
		s.line = append(s.line, chunk...)
	} else if room := maxTraceLine + 1 - len(s.line); room > 0 {
		s.line = append(s.line, chunk[:min(room, len(chunk))]...)
	}
	if len(chunk) >= tailLen {
		s.tail = append(s.tail[:0], chunk[len(chunk)-tailLen:]...)
	} else {
		s.tail = append(s.tail, chunk...)
		if extra := len(s.tail) - tailLen; extra > 0 {
			s.tail = s.tail[:copy(s.tail, s.tail[extra:])]
		}
	}
	if eol < 0 {
		return len(chunk), tokPartial
	}
	s.ended = true
	if !s.server || s.cont || !isStatus(s.text()) {
		s.lit, s.hasLit = literalMarker(s.tail[:len(s.tail)-eolLen(s.tail)])
		s.left = s.lit
	}
	return len(chunk), tokLine
}

// atBoundary reports whether the stream is between two lines: not inside
// a line, not inside a literal, and not before the continuation of a line
// that announced a literal.
func (s *scanner) atBoundary() bool {
	if s.left > 0 {
		return false
	}
	if s.ended {
		return !s.hasLit
	}
	return s.size == 0 && !s.cont
}

// text returns the current line without its EOL, cut after maxTraceLine+1
// bytes unless keepAll.
func (s *scanner) text() []byte {
	n := s.size - eolLen(s.tail)
	return s.line[:min(n, len(s.line))]
}

// textLen is the full length of the current line without its EOL.
func (s *scanner) textLen() int { return s.size - eolLen(s.tail) }

// eolLen is the length of the CRLF or bare LF that b ends with.
func eolLen(b []byte) int {
	switch {
	case bytes.HasSuffix(b, []byte("\r\n")):
		return 2
	case bytes.HasSuffix(b, []byte("\n")):
		return 1
	}
	return 0
}

// literalMarker parses "{N}", "{N+}" or "~{N}" at the end of b.
func literalMarker(b []byte) (int64, bool) {
	b, ok := bytes.CutSuffix(b, []byte("}"))
	if !ok {
		return 0, false
	}
	b = bytes.TrimSuffix(b, []byte("+"))
	i := bytes.LastIndexByte(b, '{')
	if i < 0 || len(b)-i-1 < 1 || len(b)-i-1 > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b[i+1:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// isStatus reports whether a server line is a continuation request or a
// status response (OK, NO, BAD, BYE, PREAUTH), whose free text may end in
// something that looks like a literal marker but is not one.
func isStatus(line []byte) bool {
	f := bytes.SplitN(line, []byte(" "), 3)
	if string(f[0]) == "+" {
		return true
	}
	if len(f) < 2 {
		return false
	}
	switch strings.ToUpper(string(f[1])) {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
		return true
	}
	return false
}
