// Package fingerprint identifies a message by its content, so that a
// migration can recognise a message already at the destination when its own
// state is lost (a deleted state file, a SIGKILL between APPEND and the state
// commit, a UIDVALIDITY change at the source).
//
// The identity is the message size plus a SHA-256 over the header section,
// with line endings, folding and field-name case normalised and with the
// fields that servers and other tools add on delivery left out (see
// ignoredFields). The header carries Message-ID, Date, From, Subject and the
// Received chain, which tell apart distinct messages that share a
// Message-ID; messages without a Message-ID still differ in the rest. Two
// byte-identical messages have the same fingerprint: callers match
// fingerprints as a multiset (two at the source means two at the
// destination).
//
// The hash never reads past the header, so the fingerprint of a message can
// be taken from BODY.PEEK[HEADER] plus RFC822.SIZE without fetching the body,
// or on the fly while the whole message streams from source to destination.
package fingerprint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxField bounds the bytes buffered for one (unfolded) header field. A
// longer field is hashed as far as this limit: the limit is the same on every
// path, so fingerprints still agree.
const maxField = 64 << 10

// ignoredFields are header fields that servers or migration tools add or
// rewrite when a message is stored, so they must not take part in the
// identity. Lower case; an entry ending in "-" is a prefix.
var ignoredFields = []string{
	"x-ms-exchange-", "x-gm-", "x-microsoft-",
	"status", "x-status", "x-keywords", "x-uid", "x-imapbase", "content-length", "lines",
	"x-tuid", "x-offlineimap", "x-imapsync", "x-imapmigrate-",
}

// Hasher computes a fingerprint from the leading bytes of a message. Feed it
// the message (or just its header section) with Write; it stops consuming at
// the end of the header. The zero value is not usable: call New.
type Hasher struct {
	h         hash.Hash
	line      []byte // the current physical line, without its line ending
	field     []byte // the current logical (unfolded) field
	out       []byte // what flushField hashes, reused for every field
	done      bool
	messageID string
}

// New returns a Hasher ready for Write.
func New() *Hasher {
	return &Hasher{h: sha256.New()}
}

// Write feeds message bytes. It never fails and always reports all of p as
// consumed, so it can sit in an io.MultiWriter beside the real destination.
func (x *Hasher) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && !x.done {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			x.line = appendCapped(x.line, p)
			break
		}
		x.line = appendCapped(x.line, p[:i])
		p = p[i+1:]
		x.endLine()
	}
	return n, nil
}

func appendCapped(dst, src []byte) []byte {
	if room := maxField - len(dst); room < len(src) {
		src = src[:max(room, 0)]
	}
	return append(dst, src...)
}

// endLine handles one physical header line (x.line, CR already possibly at
// its end).
func (x *Hasher) endLine() {
	line := bytes.TrimSuffix(x.line, []byte("\r"))
	x.line = x.line[:0]
	if len(line) == 0 {
		x.flushField()
		x.done = true
		return
	}
	if (line[0] == ' ' || line[0] == '\t') && len(x.field) > 0 {
		// Folded continuation: unfold into one space (RFC 5322 section 2.2.3).
		x.field = appendCapped(x.field, []byte(" "))
		x.field = appendCapped(x.field, bytes.TrimLeft(line, " \t"))
		return
	}
	x.flushField()
	x.field = appendCapped(x.field[:0], line)
}

func (x *Hasher) flushField() {
	if len(x.field) == 0 {
		return
	}
	name, value, ok := bytes.Cut(x.field, []byte(":"))
	x.field = x.field[:0]
	if !ok {
		// Not a field (broken header): hash the raw line so that broken
		// messages still get distinct, stable identities.
		x.h.Write(bytes.TrimSpace(name))
		x.h.Write([]byte{'\n'})
		return
	}
	key := strings.ToLower(string(bytes.TrimSpace(name)))
	if ignored(key) {
		return
	}
	x.out = append(append(x.out[:0], key...), ':')
	x.out = appendCollapsed(x.out, value)
	if key == "message-id" && x.messageID == "" {
		x.messageID = string(x.out[len(key)+1:])
	}
	x.h.Write(append(x.out, '\n'))
}

func ignored(key string) bool {
	for _, f := range ignoredFields {
		if key == f || (strings.HasSuffix(f, "-") && strings.HasPrefix(key, f)) {
			return true
		}
	}
	return false
}

// appendCollapsed appends b to dst trimmed and with each run of white
// space folded into one space, as servers are free to change them when
// they store a message. It is strings.Join(strings.Fields(b), " ") (white
// space as unicode.IsSpace has it, invalid UTF-8 kept as it is) without
// allocating: it runs on every header field of every message copied.
func appendCollapsed(dst, b []byte) []byte {
	start := len(dst)
	space := false
	for len(b) > 0 {
		r, n := rune(b[0]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRune(b)
		}
		if unicode.IsSpace(r) {
			space = true
		} else {
			if space && len(dst) > start {
				dst = append(dst, ' ')
			}
			space = false
			dst = append(dst, b[:n]...)
		}
		b = b[n:]
	}
	return dst
}

// Sum returns the fingerprint of a message of the given RFC822.SIZE whose
// leading bytes were written. A message with no blank line (header only) is
// complete when all its bytes were written.
func (x *Hasher) Sum(size int64) string {
	sum := sha256.New()
	sum.Write(x.header())
	sum.Write([]byte(strconv.FormatInt(size, 10)))
	return hex.EncodeToString(sum.Sum(nil))[:40]
}

// HeaderSum returns the hash of the normalised header alone, without the
// size. Two messages with equal HeaderSums and different Sums have the same
// header and different bodies, or come from servers that report the size
// differently: verification fetches their bodies to tell which.
func (x *Hasher) HeaderSum() string {
	return hex.EncodeToString(x.header())[:40]
}

// header finishes the header (a message with no blank line is all header)
// and returns its hash.
func (x *Hasher) header() []byte {
	if !x.done {
		if len(x.line) > 0 {
			x.endLine()
		}
		x.flushField()
	}
	return x.h.Sum(nil)
}

// MessageID returns the first Message-ID field seen, "" when none.
func (x *Hasher) MessageID() string { return x.messageID }

// Of returns the fingerprint of a message from its size and its header
// section (or the whole message).
func Of(size int64, header []byte) string {
	h := New()
	h.Write(header)
	return h.Sum(size)
}
