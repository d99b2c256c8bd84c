package folder_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/folder"
)

var fuzzAttrs = []imap.MailboxAttr{
	"", imap.MailboxAttrNoSelect, imap.MailboxAttrNonExistent, imap.MailboxAttrSent,
	imap.MailboxAttrDrafts, imap.MailboxAttrTrash, imap.MailboxAttrJunk, imap.MailboxAttrArchive,
	imap.MailboxAttrAll, imap.MailboxAttrFlagged, imap.MailboxAttrImportant, imap.MailboxAttrHasChildren,
}

// fuzzListing turns newline-separated names into a listing; each byte of
// attrs picks up to two attributes for the name at the same position.
func fuzzListing(names string, delim rune, attrs []byte) []folder.Listed {
	var ls []folder.Listed
	for i, n := range strings.Split(names, "\n") {
		lst := folder.Listed{Name: n, Delim: delim}
		if i < len(attrs) {
			b := int(attrs[i])
			for _, a := range []imap.MailboxAttr{fuzzAttrs[b%len(fuzzAttrs)], fuzzAttrs[b/len(fuzzAttrs)%len(fuzzAttrs)]} {
				if a != "" {
					lst.Attrs = append(lst.Attrs, a)
				}
			}
			lst.Subscribed = b&1 == 1
		}
		ls = append(ls, lst)
	}
	return ls
}

func FuzzPlan(f *testing.F) {
	f.Add("INBOX\nSent\nArchive/2019\n[Gmail]/All Mail", rune('/'), "", []byte{0, 3, 7, 8},
		"INBOX\nSent Items\nDeleted Items", '/', "", "*", "Calendar*")
	f.Add("INBOX\nINBOX.Sent\nINBOX.a/b\nINBOX.a_b\nINBOX.INBOX", rune('.'), "INBOX.", []byte{},
		"INBOX\nINBOX.Sent", '.', "INBOX.", "", "")
	f.Add("a//b\na/b\nA/B\n/x\nx/\n#shared/x", rune('/'), "", []byte{1, 2, 3},
		"", '_', "Mail", "%", "")
	f.Add("INBOX\nEntwürfe\nКорзина\n日本語/子\nCalendar/x", rune('/'), "", []byte{}, "Drafts\nTrash", '/', "", "", "")
	f.Add("INBOX\ninbox.Sent\nINBOX.x", rune('.'), "inbox.", []byte{0, 3},
		"inbox.Sent\nINBOX.Trash", '.', "INBOX.", "", "")
	f.Add("Sent\nSent Items\nsent", rune(0), "", []byte{3, 0, 3}, "Sent", rune(0), "", "", "")
	f.Fuzz(func(t *testing.T, srcNames string, srcDelim rune, srcPrefix string, attrs []byte,
		dstNames string, dstDelim rune, dstPrefix string, include, exclude string) {
		src := fuzzListing(srcNames, srcDelim, attrs)
		dst := fuzzListing(dstNames, dstDelim, attrs)
		srcNS := folder.Namespace{Prefix: srcPrefix, Delim: srcDelim}
		dstNS := folder.Namespace{Prefix: dstPrefix, Delim: dstDelim}
		rules := folder.Rules{KeepVirtual: len(attrs)%2 == 1, KeepNonMail: len(attrs)%3 == 1}
		if include != "" {
			rules.Include = strings.Split(include, "\n")
		}
		if exclude != "" {
			rules.Exclude = strings.Split(exclude, "\n")
		}

		got := folder.Plan(src, srcNS, dst, dstNS, rules)
		if len(got) != len(src) {
			t.Fatalf("Plan() returned %d mappings for %d folders", len(got), len(src))
		}
		if again := folder.Plan(src, srcNS, dst, dstNS, rules); !reflect.DeepEqual(got, again) {
			t.Fatalf("Plan() is not deterministic")
		}
		dstSep := "/"
		if dstDelim != 0 {
			dstSep = string(dstDelim)
		}
		seen := map[string]string{}
		sawOther := false
		for _, m := range got {
			if m.Role == folder.RoleInbox {
				if sawOther {
					t.Errorf("Plan(%q) is not listed first", m.Source)
				}
			} else {
				sawOther = true
			}
			if m.Skip == folder.SkipNone || m.Skip == folder.SkipNoSelect {
				if m.Dest == "" {
					t.Errorf("Plan(%q) Dest is empty; Skip = %q", m.Source, m.Skip)
				}
				if prev, ok := seen[strings.ToLower(m.Dest)]; ok {
					t.Errorf("Plan(%q) and Plan(%q) share Dest %q", prev, m.Source, m.Dest)
				}
				seen[strings.ToLower(m.Dest)] = m.Source
				if m.Dest != "INBOX" && !hasPrefixFoldInbox(m.Dest, dstPrefix) && !strings.HasPrefix(m.Dest, "INBOX"+dstSep) &&
					!strings.HasPrefix(m.Dest, "INBOX (") {
					t.Errorf("Plan(%q) Dest = %q; want prefix %q", m.Source, m.Dest, dstPrefix)
				}
			}
			if m.Role == folder.RoleInbox && m.Dest != "INBOX" && m.Skip != folder.SkipExcluded {
				t.Errorf("Plan(%q) Dest = %q; want INBOX", m.Source, m.Dest)
			}
		}
	})
}

// hasPrefixFoldInbox is strings.HasPrefix with a leading INBOX in any case,
// as IMAP compares it.
func hasPrefixFoldInbox(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	if len(prefix) >= 5 && strings.EqualFold(prefix[:5], "INBOX") {
		return strings.EqualFold(s[:5], "INBOX") && s[5:len(prefix)] == prefix[5:]
	}
	return strings.HasPrefix(s, prefix)
}

func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"*", "a/b"}, {"%", "a/b"}, {"inbox/*", "INBOX/x"}, {"a*b%c", "aXb/c"},
		{"*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 200)}, {"Entw%rfe", "Entwürfe"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, display string) {
		folder.Match(pattern, display)
		if !folder.Match("*", display) {
			t.Errorf("Match(%q, %q) = false; want true", "*", display)
		}
		if !strings.ContainsAny(display, "*%") && !folder.Match(display, display) {
			t.Errorf("Match(%q, %q) = false; want true", display, display)
		}
	})
}
