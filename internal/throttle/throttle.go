// Package throttle reads a server's NO, BAD or BYE answer for "slow down".
//
// IMAP has response codes for it (RFC 5530 section 3: LIMIT, UNAVAILABLE,
// INUSE), but the big providers mostly say it in words. Parse recognises,
// case-insensitively and whatever the punctuation:
//
//   - The RFC 5530 codes LIMIT, UNAVAILABLE and INUSE, as the response code
//     or in brackets inside the text.
//   - Office 365 / Exchange Online: "Request is throttled. Suggested Backoff
//     Time: 299961 milliseconds", sent as BAD before it closes the
//     connection (RELIABILITY.md row 13; also quoted by javax.mail users as
//     "BADRequest is throttled. Suggested Backoff Time: 201317
//     milliseconds"). The suggested time becomes Hint.Wait. Any text with
//     the word "throttled" counts.
//   - Exchange on premises: "Server Unavailable. 15" on APPEND
//     (RELIABILITY.md row 14, imapsync FAQ.Exchange). The number is an
//     Exchange error code, not seconds, so it gives no Wait.
//   - Gmail: "[ALERT] Too many simultaneous connections. (Failure)" at LOGIN
//     (RELIABILITY.md row 12); "[THROTTLED]" added to its answers
//     (MailKit issue 1396, node-imap issue 593); and "[OVERQUOTA] Account
//     exceeded command or bandwidth limits." (ha-email-sensor issue 16),
//     which is Gmail's daily IMAP bandwidth limit, not a full mailbox.
//   - The generic wording of Yahoo and other servers: "try again later",
//     "temporarily unavailable", "server busy" / "server is busy".
//
// Some answers look like throttling but are not, and must fail the login so
// that an admin looks at it rather than being retried for ever:
// AUTHENTICATIONFAILED, AUTHORIZATIONFAILED and EXPIRED (RFC 5530), the
// words "authentication failed" or "invalid credentials", and Gmail's
// "[ALERT] Web login required", which asks the user to sign in with a
// browser. OVERQUOTA alone is a full mailbox, not throttling.
package throttle

import (
	"strconv"
	"strings"
	"time"
	"unicode"
)

// MaxWait caps a server's suggested wait: a garbled or hostile number must
// not park a mailbox for days.
const MaxWait = time.Hour

// Hint is what a server's answer says about throttling.
type Hint struct {
	Throttled bool
	// Wait is how long the server asked to wait; 0 when it did not say.
	Wait time.Duration
}

// Codes that mean throttling (RFC 5530 section 3, plus Gmail's THROTTLED).
var throttleCodes = map[string]bool{"LIMIT": true, "UNAVAILABLE": true, "INUSE": true, "THROTTLED": true}

// Codes that mean the login is wrong for good (RFC 5530 section 3).
var authCodes = map[string]bool{"AUTHENTICATIONFAILED": true, "AUTHORIZATIONFAILED": true, "EXPIRED": true}

// Phrases, as normalized words (see words), that mean an auth problem; they
// win over the throttling phrases but not over a throttling code.
var authPhrases = []string{"authentication failed", "invalid credentials", "web login required"}

var throttlePhrases = []string{
	"throttled",
	"suggested backoff time",
	"too many simultaneous connections",
	"exceeded command or bandwidth limits",
	"server unavailable",
	"temporarily unavailable",
	"try again later",
	"server busy",
	"server is busy",
}

// Parse reads a server's response code and text (e.g. from go-imap's
// *imap.Error: string(Code), Text).
//
// A throttling code decides first; then an auth code or auth words make
// the answer not throttling; then the throttling words decide. Wait comes
// from Office 365's "Suggested Backoff Time", capped at MaxWait; a number
// without a unit is read as milliseconds, Office 365's unit, and a
// negative or malformed number is ignored.
func Parse(code, text string) Hint {
	codes := bracketCodes(text)
	if c := strings.ToUpper(strings.Trim(strings.TrimSpace(code), "[]")); c != "" {
		codes = append(codes, c)
	}
	ws := words(text)
	norm := " " + strings.Join(ws, " ") + " "
	has := func(phrases []string) bool {
		for _, p := range phrases {
			if strings.Contains(norm, " "+p+" ") {
				return true
			}
		}
		return false
	}

	throttled := false
	for _, c := range codes {
		throttled = throttled || throttleCodes[c]
	}
	if !throttled {
		for _, c := range codes {
			if authCodes[c] {
				return Hint{}
			}
		}
		if has(authPhrases) {
			return Hint{}
		}
		throttled = has(throttlePhrases)
	}
	if !throttled {
		return Hint{}
	}
	return Hint{Throttled: true, Wait: suggestedWait(ws)}
}

// words lowercases text and splits it into words of letters, digits and
// '-', so that "Time:-5" gives "time" and "-5", and "Unavailable.15" gives
// "unavailable" and "15". A '.' between two digits stays in the word, so
// that "34.567" is one word, and not a count of milliseconds.
func words(text string) []string {
	rs := []rune(strings.ToLower(text))
	keep := func(i int) bool {
		r := rs[i]
		if r == '.' {
			return i > 0 && i+1 < len(rs) && unicode.IsDigit(rs[i-1]) && unicode.IsDigit(rs[i+1])
		}
		return r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)
	}
	var out []string
	start := -1
	for i := range rs {
		switch {
		case keep(i) && start < 0:
			start = i
		case !keep(i) && start >= 0:
			out = append(out, string(rs[start:i]))
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, string(rs[start:]))
	}
	return out
}

// bracketCodes returns the atoms that follow a '[' in text, upper-cased:
// servers put codes mid-text ("Success [THROTTLED]"), and an answer
// relayed as plain text keeps its leading "[ALERT]".
func bracketCodes(text string) []string {
	var codes []string
	for {
		i := strings.IndexByte(text, '[')
		if i < 0 {
			return codes
		}
		text = text[i+1:]
		end := strings.IndexFunc(text, func(r rune) bool { return r == ']' || r == '[' || unicode.IsSpace(r) })
		if end < 0 {
			end = len(text)
		}
		if end > 0 {
			codes = append(codes, strings.ToUpper(text[:end]))
		}
		text = text[end:]
	}
}

// units are the words that may follow the suggested number.
var units = map[string]time.Duration{
	"ms": time.Millisecond, "millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
}

// suggestedWait finds "suggested backoff time N [unit]" in ws.
func suggestedWait(ws []string) time.Duration {
	for i := 0; i+3 < len(ws); i++ {
		if ws[i] != "suggested" || ws[i+1] != "backoff" || ws[i+2] != "time" {
			continue
		}
		num := ws[i+3]
		if strings.TrimLeft(num, "0123456789") != "" {
			return 0 // signed, decimal or not a number
		}
		unit := time.Millisecond
		if i+4 < len(ws) {
			if u, ok := units[ws[i+4]]; ok {
				unit = u
			}
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || n > uint64(MaxWait/unit) {
			return MaxWait // only digits, so err means too large
		}
		return time.Duration(n) * unit
	}
	return 0
}
