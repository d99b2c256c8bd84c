package batch

import (
	"net/mail"
	"strings"
	"unicode"
)

// checkAddress says what is wrong with an EmailAddress, or returns "". Only a
// bare local@domain is accepted: it names the destination mailbox and is the
// user's key in the batch, so display names, angle brackets and the quoted
// or commented forms RFC 5322 allows would only hide typos.
func checkAddress(s string) string {
	switch {
	case strings.ContainsAny(s, "<>"):
		return "has angle brackets; write the bare address, without a name"
	case strings.IndexFunc(s, unicode.IsSpace) >= 0:
		return "has spaces"
	}
	switch strings.Count(s, "@") {
	case 0:
		return "missing @ and domain"
	case 1:
	default:
		return "has more than one @"
	}
	local, domain, _ := strings.Cut(s, "@")
	switch {
	case local == "":
		return "missing the part before @"
	case strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, ".."):
		return "has a misplaced dot before @"
	case domain == "":
		return "missing domain"
	case strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, ".."):
		return "has a misplaced dot in the domain"
	}
	// net/mail's own errors ("missing '@' or angle-addr") describe its
	// grammar rather than the address, so they are not passed on.
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "is not a valid address"
	}
	if a.Name != "" || a.Address != s {
		return "is not a bare address"
	}
	return ""
}
