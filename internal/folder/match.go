package folder

import "strings"

// Match reports whether the display path matches pattern. The wildcards are
// those of the IMAP LIST command (RFC 9051 section 6.3.9): "*" matches any
// run of characters including "/", "%" matches any run without "/". A
// leading INBOX component matches in any case, as INBOX is case-insensitive;
// every other character must match exactly.
//
// Match runs in O(len(pattern)·len(display)) time, so hostile patterns such
// as "*a*a*a*…" cannot make it backtrack exponentially.
func Match(pattern, display string) bool {
	p, s := canonInbox(pattern), canonInbox(display)
	// prev[j] reports whether the pattern consumed so far matches s[:j].
	prev := make([]bool, len(s)+1)
	cur := make([]bool, len(s)+1)
	prev[0] = true
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '*':
			cur[0] = prev[0]
			for j := 1; j <= len(s); j++ {
				cur[j] = prev[j] || cur[j-1]
			}
		case '%':
			cur[0] = prev[0]
			for j := 1; j <= len(s); j++ {
				cur[j] = prev[j] || (cur[j-1] && s[j-1] != '/')
			}
		default:
			cur[0] = false
			for j := 1; j <= len(s); j++ {
				cur[j] = prev[j-1] && s[j-1] == c
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(s)]
}

// canonInbox spells a leading INBOX component as "INBOX".
func canonInbox(s string) string {
	head, rest, found := strings.Cut(s, "/")
	if head == "INBOX" || !strings.EqualFold(head, "INBOX") {
		return s
	}
	if found {
		return "INBOX/" + rest
	}
	return "INBOX"
}
