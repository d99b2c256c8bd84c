package folder_test

import (
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/folder"
)

// tree lists n folders the way a large Courier mailbox does: INBOX.
// prefix, '.' delimiter, special folders, and nested project and archive
// folders with non-ASCII names; the destination is Dovecot with the same
// folders already there (a re-run).
func tree(n int) (src, dst []folder.Listed) {
	src = []folder.Listed{
		l("INBOX", '.'), l("INBOX.Sent", '.', imap.MailboxAttrSent), l("INBOX.Drafts", '.', imap.MailboxAttrDrafts),
		l("INBOX.Trash", '.', imap.MailboxAttrTrash), l("INBOX.Junk", '.', imap.MailboxAttrJunk),
	}
	dst = []folder.Listed{
		l("INBOX", '/'), l("Sent", '/', imap.MailboxAttrSent), l("Drafts", '/', imap.MailboxAttrDrafts),
		l("Trash", '/', imap.MailboxAttrTrash), l("Junk", '/', imap.MailboxAttrJunk),
	}
	for i := 0; len(src) < n; i++ {
		var path []string
		switch i % 3 {
		case 0:
			path = []string{"Archive", fmt.Sprint(2000 + i%25), fmt.Sprintf("Kunde Müller %d", i)}
		case 1:
			path = []string{"Projekte", fmt.Sprintf("Équipe %d", i/3)}
		default:
			path = []string{fmt.Sprintf("Liste-%d", i)}
		}
		name, dname := "INBOX", ""
		for j, c := range path {
			name += "." + c
			if j > 0 {
				dname += "/"
			}
			dname += c
		}
		src = append(src, l(name, '.'))
		dst = append(dst, l(dname, '/'))
	}
	return src, dst
}

// BenchmarkPlan maps a folder tree, once per mailbox and pass. The rules
// carry an include and two exclude patterns, as batch options often do.
func BenchmarkPlan(b *testing.B) {
	rules := folder.Rules{Include: []string{"*"}, Exclude: []string{"Junk", "Archive/2001/*"}}
	for _, n := range []int{16, 1000} {
		src, dst := tree(n)
		b.Run(fmt.Sprintf("Folders%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				plan := folder.Plan(src, courier, dst, dovecot, rules)
				if len(plan) != len(src) {
					b.Fatalf("Plan gave %d mappings for %d folders", len(plan), len(src))
				}
			}
		})
	}
}

// BenchmarkMatch is one include or exclude pattern against one folder path.
func BenchmarkMatch(b *testing.B) {
	for _, tc := range []struct{ name, pattern, path string }{
		{"Literal", "Archive/2019", "Archive/2019"},
		{"Star", "Archive/*", "Archive/2019/Kunde Müller/Rechnungen"},
		{"Percent", "Projekte/%", "Projekte/Équipe 12/Protokolle"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				folder.Match(tc.pattern, tc.path)
			}
		})
	}
}
