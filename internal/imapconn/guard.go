package imapconn

import (
	"bytes"
	"fmt"
	"strings"
)

// readOnlyCommands are the commands a read-only connection may send. The
// list is an allowlist on purpose: a command added to go-imap later is
// refused until someone has checked that it cannot change the mailbox.
//
// SELECT is missing because only EXAMINE guarantees that the server does not
// clear \Recent or set \Seen as a side effect (RFC 9051 section 6.3.3);
// CLOSE is missing because it expunges a SELECTed mailbox (section 6.4.1),
// and UNSELECT does the same job without that.
var readOnlyCommands = map[string]bool{
	"CAPABILITY": true, "NOOP": true, "LOGOUT": true,
	"LOGIN": true, "AUTHENTICATE": true, "STARTTLS": true,
	"ID": true, "ENABLE": true, "NAMESPACE": true,
	"LIST": true, "LSUB": true, "STATUS": true,
	"EXAMINE": true, "UNSELECT": true, "CHECK": true,
	"FETCH": true, "SEARCH": true, "UID FETCH": true, "UID SEARCH": true,
	"GETQUOTAROOT": true, "GETQUOTA": true,
	"IDLE": true, "COMPRESS": true,
}

// commandName returns the tag and the upper-case name of a command line;
// for UID commands the name is "UID " and the subcommand.
func commandName(line []byte) (tag, name string) {
	f := bytes.Fields(line)
	if len(f) == 0 {
		return "", ""
	}
	tag = string(f[0])
	if len(f) < 2 {
		return tag, ""
	}
	name = strings.ToUpper(string(f[1]))
	if name == "UID" && len(f) > 2 {
		name += " " + strings.ToUpper(string(f[2]))
	}
	return tag, name
}

// checkReadOnly returns an error wrapping ErrReadOnly unless the command line
// (first line of a command, with tag) is allowed on a read-only connection.
func checkReadOnly(line []byte) error {
	_, name := commandName(line)
	if !readOnlyCommands[name] {
		if name == "" {
			name = fmt.Sprintf("%q", line)
		}
		return fmt.Errorf("send %s: %w", name, ErrReadOnly)
	}
	if name == "FETCH" || name == "UID FETCH" {
		// Skip tag and name so that only the arguments are looked at.
		return checkFetchItems(name, afterFields(line, 1+strings.Count(name, " ")+1))
	}
	return nil
}

// afterFields returns line without its first n space-separated fields.
func afterFields(line []byte, n int) []byte {
	for ; n > 0; n-- {
		line = bytes.TrimLeft(line, " ")
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			return nil
		}
		line = line[i:]
	}
	return line
}

// checkFetchItems refuses FETCH items that set \Seen (RFC 9051 section
// 6.4.5, RFC 3516 section 4.1): BODY[…] and BINARY[…] without .PEEK, and
// the RFC 3501 forms RFC822 and RFC822.TEXT. It is also applied to the
// continuation of a FETCH line after a literal.
func checkFetchItems(name string, line []byte) error {
	if item := seenItem(string(line)); item != "" {
		return fmt.Errorf("send %s %s: %w", name, item, ErrReadOnly)
	}
	return nil
}

// seenItem returns the first fetch item in s that sets \Seen, or "". It
// looks at atoms outside brackets and quoted strings, so a header name such
// as BODY.PEEK[HEADER.FIELDS ("RFC822")] is not mistaken for an item.
func seenItem(s string) string {
	s = strings.ToUpper(s)
	start, depth, quoted := -1, 0, false
	for i := 0; i <= len(s); i++ {
		var c byte
		if i < len(s) {
			c = s[i]
		}
		if quoted {
			switch c {
			case '\\':
				i++
			case '"':
				quoted = false
			}
			continue
		}
		if i < len(s) && (c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.') {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && depth == 0 {
			atom := s[start:i]
			switch {
			case c == '[' && (atom == "BODY" || atom == "BINARY"):
				end := strings.IndexByte(s[i:], ']')
				if end < 0 {
					return atom + "["
				}
				return s[start : i+end+1]
			case c != '[' && (atom == "RFC822" || atom == "RFC822.TEXT"):
				return atom
			}
		}
		start = -1
		switch c {
		case '"':
			quoted = true
		case '[':
			depth++
		case ']':
			if depth > 0 {
				depth--
			}
		}
	}
	return ""
}
