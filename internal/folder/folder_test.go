package folder_test

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/folder"
)

func l(name string, delim rune, attrs ...imap.MailboxAttr) folder.Listed {
	return folder.Listed{Name: name, Delim: delim, Attrs: attrs}
}

var (
	dovecot = folder.Namespace{Prefix: "", Delim: '/'}
	courier = folder.Namespace{Prefix: "INBOX.", Delim: '.'}
	flatDot = folder.Namespace{Prefix: "", Delim: '.'}
)

// want is the expected mapping of one source folder. Note, when set, must
// occur in the mapping's Note; Exists, when set, is compared with DestExists.
type want struct {
	source  string
	display string
	dest    string
	role    folder.Role
	skip    folder.SkipReason
	note    string
	exists  *bool
}

var yes, no = ptr(true), ptr(false)

func ptr(b bool) *bool { return &b }

func TestPlan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		src   []folder.Listed
		srcNS folder.Namespace
		dst   []folder.Listed
		dstNS folder.Namespace
		rules folder.Rules
		want  []want
	}{
		{
			name: "DovecotToDovecot",
			src: []folder.Listed{
				l("INBOX", '/'), l("Sent", '/', imap.MailboxAttrSent), l("Drafts", '/', imap.MailboxAttrDrafts),
				l("Trash", '/', imap.MailboxAttrTrash), l("Junk", '/', imap.MailboxAttrJunk),
				l("Archive", '/', imap.MailboxAttrArchive), l("Archive/2019", '/'),
				l("Work", '/'), l("Work/Projects", '/'),
			},
			srcNS: dovecot,
			dst: []folder.Listed{
				l("INBOX", '/'), l("Sent", '/', imap.MailboxAttrSent), l("Drafts", '/', imap.MailboxAttrDrafts),
				l("Trash", '/', imap.MailboxAttrTrash), l("Junk", '/', imap.MailboxAttrJunk),
			},
			dstNS: dovecot,
			want: []want{
				{source: "INBOX", display: "INBOX", dest: "INBOX", role: folder.RoleInbox, exists: yes},
				{source: "Archive", display: "Archive", dest: "Archive", role: folder.RoleArchive, exists: no},
				{source: "Archive/2019", display: "Archive/2019", dest: "Archive/2019", exists: no},
				{source: "Drafts", display: "Drafts", dest: "Drafts", role: folder.RoleDrafts, exists: yes},
				{source: "Junk", display: "Junk", dest: "Junk", role: folder.RoleJunk, exists: yes},
				{source: "Sent", display: "Sent", dest: "Sent", role: folder.RoleSent, exists: yes},
				{source: "Trash", display: "Trash", dest: "Trash", role: folder.RoleTrash, exists: yes},
				{source: "Work", display: "Work", dest: "Work"},
				{source: "Work/Projects", display: "Work/Projects", dest: "Work/Projects"},
			},
		},
		{
			name: "CourierToDovecot",
			src: []folder.Listed{
				l("INBOX", '.'), l("INBOX.Sent", '.'), l("INBOX.Drafts", '.'), l("INBOX.Trash", '.'),
				l("INBOX.a", '.'), l("INBOX.a.b", '.'), l("INBOX.Sent.2019", '.'),
			},
			srcNS: courier,
			dst:   []folder.Listed{l("INBOX", '/'), l("Sent Items", '/', imap.MailboxAttrSent)},
			dstNS: dovecot,
			want: []want{
				{source: "INBOX", display: "INBOX", dest: "INBOX", role: folder.RoleInbox},
				{source: "INBOX.Drafts", display: "Drafts", dest: "Drafts", role: folder.RoleDrafts, exists: no},
				{source: "INBOX.Sent", display: "Sent", dest: "Sent Items", role: folder.RoleSent, exists: yes,
					note: `mapped onto the destination's own Sent folder "Sent Items"`},
				{source: "INBOX.Sent.2019", display: "Sent/2019", dest: "Sent Items/2019"},
				{source: "INBOX.Trash", display: "Trash", dest: "Trash", role: folder.RoleTrash},
				{source: "INBOX.a", display: "a", dest: "a"},
				{source: "INBOX.a.b", display: "a/b", dest: "a/b"},
			},
		},
		{
			name: "DovecotToCourier",
			src: []folder.Listed{
				l("INBOX", '/'), l("INBOX/Lists", '/'), l("Lists", '/'), l("Sent", '/'),
				l("Archive", '/'), l("Archive/2019", '/'), l("a.b", '/'),
			},
			srcNS: dovecot,
			dst: []folder.Listed{
				l("INBOX", '.'), l("INBOX.Sent", '.', imap.MailboxAttrSent), l("INBOX.Lists", '.'),
			},
			dstNS: courier,
			want: []want{
				{source: "INBOX", dest: "INBOX", exists: yes},
				// On Courier "INBOX.Lists" is the top-level Lists, so the source's
				// top-level Lists keeps it.
				{source: "INBOX/Lists", display: "INBOX/Lists", dest: "INBOX.Lists (2)", exists: no,
					note: `"Lists" also maps to "INBOX.Lists" at the destination, so this folder becomes "INBOX.Lists (2)"`},
				{source: "Archive", dest: "INBOX.Archive", role: folder.RoleArchive, exists: no},
				{source: "Archive/2019", dest: "INBOX.Archive.2019"},
				{source: "Lists", dest: "INBOX.Lists", exists: yes},
				{source: "Sent", dest: "INBOX.Sent", role: folder.RoleSent, exists: yes},
				{source: "a.b", display: "a.b", dest: "INBOX.a_b",
					note: `"." in a name replaced by "_" for the destination`},
			},
		},
		{
			name: "GmailToExchange",
			src: []folder.Listed{
				l("INBOX", '/'), l("[Gmail]", '/', imap.MailboxAttrNoSelect),
				l("[Gmail]/All Mail", '/', imap.MailboxAttrAll), l("[Gmail]/Drafts", '/', imap.MailboxAttrDrafts),
				l("[Gmail]/Important", '/', imap.MailboxAttrImportant), l("[Gmail]/Sent Mail", '/', imap.MailboxAttrSent),
				l("[Gmail]/Spam", '/', imap.MailboxAttrJunk), l("[Gmail]/Starred", '/', imap.MailboxAttrFlagged),
				l("[Gmail]/Trash", '/', imap.MailboxAttrTrash), l("Receipts", '/'),
			},
			srcNS: dovecot,
			dst: []folder.Listed{
				l("INBOX", '/'), l("Calendar", '/'), l("Deleted Items", '/', imap.MailboxAttrTrash),
				l("Drafts", '/', imap.MailboxAttrDrafts), l("Junk Email", '/', imap.MailboxAttrJunk),
				l("Sent Items", '/', imap.MailboxAttrSent),
			},
			dstNS: dovecot,
			want: []want{
				{source: "INBOX", dest: "INBOX"},
				{source: "Receipts", dest: "Receipts", exists: no},
				{source: "[Gmail]", dest: "[Gmail]", skip: folder.SkipNoSelect, note: "nothing to create"},
				{source: "[Gmail]/All Mail", role: folder.RoleAll, skip: folder.SkipVirtual},
				{source: "[Gmail]/Drafts", dest: "Drafts", role: folder.RoleDrafts, exists: yes},
				{source: "[Gmail]/Important", role: folder.RoleImportant, skip: folder.SkipVirtual, note: "Important"},
				{source: "[Gmail]/Sent Mail", display: "[Gmail]/Sent Mail", dest: "Sent Items", role: folder.RoleSent, exists: yes},
				{source: "[Gmail]/Spam", dest: "Junk Email", role: folder.RoleJunk},
				{source: "[Gmail]/Starred", role: folder.RoleFlagged, skip: folder.SkipVirtual},
				{source: "[Gmail]/Trash", dest: "Deleted Items", role: folder.RoleTrash},
			},
		},
		{
			name: "GmailKeepVirtual",
			src: []folder.Listed{
				l("INBOX", '/'), l("[Gmail]", '/', imap.MailboxAttrNoSelect),
				l("[Gmail]/All Mail", '/', imap.MailboxAttrAll),
			},
			srcNS: dovecot,
			dstNS: dovecot,
			rules: folder.Rules{KeepVirtual: true},
			want: []want{
				{source: "[Gmail]", skip: folder.SkipNoSelect, note: "as the parent of the folders kept below it"},
				{source: "[Gmail]/All Mail", dest: "[Gmail]/All Mail", role: folder.RoleAll},
			},
		},
		{
			name: "ExchangeSource",
			src: []folder.Listed{
				l("INBOX", '/'), l("Calendar", '/'), l("Calendar/Birthdays", '/'), l("Contacts", '/'),
				l("Sync Issues", '/'), l("Sync Issues/Conflicts", '/'), l("Sync Issues/Local Failures", '/'),
				l("Sent Items", '/'), l("Deleted Items", '/'), l("Junk E-mail", '/'), l("Outbox", '/'),
				l("Kalender", '/'), l("Projects", '/'),
			},
			srcNS: dovecot,
			dst: []folder.Listed{
				l("INBOX", '.'), l("INBOX.Sent", '.', imap.MailboxAttrSent), l("INBOX.Trash", '.', imap.MailboxAttrTrash),
				l("INBOX.Spam", '.'),
			},
			dstNS: courier,
			want: []want{
				{source: "Calendar", skip: folder.SkipNonMail, dest: "INBOX.Calendar"},
				{source: "Calendar/Birthdays", skip: folder.SkipNonMail},
				{source: "Contacts", skip: folder.SkipNonMail},
				{source: "Sync Issues", skip: folder.SkipNonMail},
				{source: "Sync Issues/Conflicts", skip: folder.SkipNonMail},
				{source: "Sync Issues/Local Failures", skip: folder.SkipNonMail},
				{source: "Outbox", skip: folder.SkipNonMail},
				{source: "Kalender", skip: folder.SkipNonMail},
				{source: "Sent Items", dest: "INBOX.Sent", role: folder.RoleSent, exists: yes},
				{source: "Deleted Items", dest: "INBOX.Trash", role: folder.RoleTrash, exists: yes},
				{source: "Junk E-mail", dest: "INBOX.Spam", role: folder.RoleJunk, exists: yes},
				{source: "Projects", dest: "INBOX.Projects"},
			},
		},
		{
			name:  "ExchangeKeepNonMail",
			src:   []folder.Listed{l("INBOX", '/'), l("Calendar", '/'), l("Calendar/Birthdays", '/')},
			srcNS: dovecot,
			dstNS: dovecot,
			rules: folder.Rules{KeepNonMail: true},
			want: []want{
				{source: "Calendar", dest: "Calendar"},
				{source: "Calendar/Birthdays", dest: "Calendar/Birthdays"},
			},
		},
		{
			name: "NonASCII",
			src: []folder.Listed{
				l("INBOX", '/'), l("Entwürfe", '/'), l("日本語", '/'), l("日本語/子", '/'), l("Корзина", '/'),
				l("Gesendete Objekte", '/'), l("ARCHIV", '/'),
			},
			srcNS: dovecot,
			dst: []folder.Listed{
				l("INBOX", '/'), l("Drafts", '/', imap.MailboxAttrDrafts), l("Trash", '/'),
			},
			dstNS: dovecot,
			want: []want{
				{source: "Entwürfe", display: "Entwürfe", dest: "Drafts", role: folder.RoleDrafts, exists: yes},
				{source: "日本語", display: "日本語", dest: "日本語"},
				{source: "日本語/子", display: "日本語/子", dest: "日本語/子"},
				{source: "Корзина", dest: "Trash", role: folder.RoleTrash, exists: yes},
				{source: "Gesendete Objekte", dest: "Sent", role: folder.RoleSent, exists: no,
					note: `mapped onto a new Sent folder "Sent" at the destination`},
				{source: "ARCHIV", dest: "Archive", role: folder.RoleArchive},
			},
		},
		{
			name: "DotSourceSlashInName",
			src: []folder.Listed{
				l("INBOX", '.'), l("a/b", '.'), l("a_b", '.'), l("a_b.c", '.'), l("a.b", '.'), l("a/b.x", '.'),
			},
			srcNS: flatDot,
			dstNS: dovecot,
			want: []want{
				{source: "a_b", display: "a_b", dest: "a_b"},
				{source: "a/b", display: "a/b", dest: "a_b (2)",
					note: `"/" in a name replaced by "_" for the destination; "a_b" also maps to "a_b" at the destination, so this folder becomes "a_b (2)"`},
				{source: "a/b.x", display: "a/b/x", dest: "a_b (2)/x"},
				{source: "a_b.c", display: "a_b/c", dest: "a_b/c"},
				{source: "a.b", display: "a/b", dest: "a/b"},
			},
		},
		{
			name:  "SlashToUnderscoreDelim",
			src:   []folder.Listed{l("INBOX", '/'), l("a_b", '/'), l("a/c", '/')},
			srcNS: dovecot,
			dstNS: folder.Namespace{Delim: '_'},
			want: []want{
				{source: "a_b", dest: "a-b", note: `"_" in a name replaced by "-"`},
				{source: "a/c", dest: "a_c"},
			},
		},
		{
			name: "TwoSentFolders",
			src: []folder.Listed{
				l("INBOX", '/'), l("Sent", '/'), l("Sent Items", '/', imap.MailboxAttrSent),
				l("Drafts", '/'), l("Entwürfe", '/'),
			},
			srcNS: dovecot,
			dst:   []folder.Listed{l("INBOX", '/'), l("Sent", '/', imap.MailboxAttrSent)},
			dstNS: dovecot,
			want: []want{
				{source: "Sent Items", dest: "Sent", role: folder.RoleSent, exists: yes},
				{source: "Sent", dest: "Sent (2)", role: folder.RoleNone, exists: no,
					note: `also looks like a Sent folder, but "Sent Items" takes that role; mapped by name`},
				{source: "Drafts", dest: "Drafts", role: folder.RoleDrafts},
				{source: "Entwürfe", dest: "Entwürfe", role: folder.RoleNone},
			},
		},
		{
			name: "IncludeExclude",
			src: []folder.Listed{
				l("INBOX", '/'), l("Archive", '/'), l("Archive/2019", '/'), l("Archive/2019/Old", '/'),
				l("Archive/2020", '/'), l("Work", '/'),
			},
			srcNS: dovecot,
			dstNS: dovecot,
			rules: folder.Rules{Include: []string{"inbox", "Archive/%"}, Exclude: []string{"*/Old", "Archive/2020"}},
			want: []want{
				{source: "INBOX", dest: "INBOX"},
				{source: "Archive", role: folder.RoleArchive, skip: folder.SkipExcluded, note: "not matched by any include pattern"},
				{source: "Archive/2019", dest: "Archive/2019"},
				{source: "Archive/2019/Old", skip: folder.SkipExcluded, note: `excluded by pattern "*/Old"`},
				{source: "Archive/2020", skip: folder.SkipExcluded, note: `excluded by pattern "Archive/2020"`},
				{source: "Work", skip: folder.SkipExcluded},
			},
		},
		{
			name:  "ExcludeInbox",
			src:   []folder.Listed{l("INBOX", '/'), l("Work", '/')},
			srcNS: dovecot,
			dstNS: dovecot,
			rules: folder.Rules{Exclude: []string{"Inbox"}},
			want: []want{
				{source: "INBOX", skip: folder.SkipExcluded},
				{source: "Work", dest: "Work"},
			},
		},
		{
			name: "Collisions",
			src: []folder.Listed{
				l("INBOX", '/'), l("Work", '/'), l("work", '/'), l("a//b", '/'), l("a/b", '/'), l("Inbox", '/'),
			},
			srcNS: dovecot,
			dstNS: dovecot,
			want: []want{
				{source: "INBOX", dest: "INBOX"},
				{source: "Inbox", dest: "INBOX (2)", note: "INBOX is listed more than once"},
				{source: "Work", dest: "Work"},
				{source: "work", dest: "work (2)"},
				{source: "a/b", dest: "a/b"},
				{source: "a//b", display: "a/b", dest: "a/b (2)", note: "empty parts of the name dropped"},
			},
		},
		{
			name: "Containers",
			src: []folder.Listed{
				l("INBOX", '/'), l("Lists", '/', imap.MailboxAttrNoSelect), l("Lists/go", '/'),
				l("Gone", '/', imap.MailboxAttrNonExistent),
			},
			srcNS: dovecot,
			dstNS: dovecot,
			want: []want{
				{source: "Lists", dest: "Lists", skip: folder.SkipNoSelect, note: "as the parent of the folders kept below it"},
				{source: "Lists/go", dest: "Lists/go"},
				{source: "Gone", dest: "Gone", skip: folder.SkipNoSelect, note: "nothing to create"},
			},
		},
		{
			name: "OutsideAndUnmappable",
			src: []folder.Listed{
				l("INBOX", '.'), l("INBOX.", '.'), l("", '.'), l("#shared.team", '.'), l("INBOX.a\x01b", '.'),
				l("INBOX.INBOX", '.'),
			},
			srcNS: courier,
			dstNS: dovecot,
			want: []want{
				{source: "INBOX", dest: "INBOX"},
				{source: "INBOX.", skip: folder.SkipUnmappable},
				{source: "", skip: folder.SkipUnmappable},
				{source: "#shared.team", display: "#shared/team", dest: "#shared/team", note: "outside the personal namespace"},
				{source: "INBOX.a\x01b", skip: folder.SkipUnmappable, note: "control characters"},
				{source: "INBOX.INBOX", display: "INBOX", dest: "INBOX (2)", role: folder.RoleNone},
			},
		},
		{
			name:  "NamespaceRoot",
			src:   []folder.Listed{l("INBOX", '/'), l("Mail", '/', imap.MailboxAttrNoSelect), l("Mail/Work", '/'), l("Mail/", '/')},
			srcNS: folder.Namespace{Prefix: "Mail/", Delim: '/'},
			dstNS: courier,
			rules: folder.Rules{Exclude: []string{"Mail"}},
			want: []want{
				{source: "Mail", display: "Mail", dest: "INBOX.Mail", skip: folder.SkipExcluded, note: "the root of the personal namespace"},
				{source: "Mail/Work", display: "Work", dest: "INBOX.Work"},
				{source: "Mail/", display: "", dest: "", skip: folder.SkipUnmappable},
			},
		},
		{
			name:  "PrefixWithoutDelimiter",
			src:   []folder.Listed{l("INBOX", '.'), l("INBOX.Sent", '.'), l("inbox.Work", '.')},
			srcNS: folder.Namespace{Prefix: "INBOX", Delim: '.'},
			dst:   []folder.Listed{l("INBOX", '.')},
			dstNS: folder.Namespace{Prefix: "INBOX", Delim: '.'},
			want: []want{
				{source: "INBOX.Sent", display: "Sent", dest: "INBOX.Sent", role: folder.RoleSent},
				{source: "inbox.Work", display: "Work", dest: "INBOX.Work"},
			},
		},
		{
			name:  "FlatDestination",
			src:   []folder.Listed{l("INBOX", '/'), l("a", '/'), l("a/b", '/')},
			srcNS: dovecot,
			dstNS: folder.Namespace{},
			want: []want{
				{source: "a", dest: "a"},
				{source: "a/b", dest: "a/b"},
			},
		},
		{
			// A Dovecot source has no groupware, so its "Calendar" and
			// "Files" are mail; Office 365 keeps those names for itself.
			name: "ReservedAtDestination",
			src: []folder.Listed{
				l("INBOX", '/'), l("Files", '/'), l("Files/2019", '/'), l("calendar", '/'),
				l("Projects", '/'), l("Projects/Files", '/'), l("Outbox", '/', imap.MailboxAttrNoSelect), l("Outbox/Old", '/'),
				l("Calendar (imported)", '/'),
			},
			srcNS: dovecot,
			dst: []folder.Listed{
				l("INBOX", '/'), l("Calendar", '/'), l("Files", '/'), l("Files (imported)", '/'),
			},
			dstNS: dovecot,
			rules: folder.Rules{NoGroupware: true, Reserved: []string{"Calendar", "Files", "Outbox"}},
			want: []want{
				{source: "Files", dest: "Files (imported)", exists: yes,
					note: `the destination keeps "Files" for itself, so this folder goes to "Files (imported)"`},
				{source: "Files/2019", dest: "Files (imported)/2019", exists: no},
				// Never two source folders in one destination folder: the
				// folder really named so keeps the name.
				{source: "Calendar (imported)", dest: "Calendar (imported)", exists: no},
				{source: "calendar", dest: "calendar (imported) (2)", exists: no, note: `the destination keeps "Calendar" for itself`},
				{source: "Projects", dest: "Projects"},
				{source: "Projects/Files", dest: "Projects/Files", note: ""},
				{source: "Outbox", dest: "Outbox (imported)", skip: folder.SkipNoSelect, note: "as the parent of the folders kept below it"},
				{source: "Outbox/Old", dest: "Outbox (imported)/Old"},
			},
		},
		{
			name:  "GroupwareNamesAreMailOnAMailOnlySource",
			src:   []folder.Listed{l("INBOX", '/'), l("Agenda", '/'), l("Notes", '/'), l("Notes/2020", '/')},
			srcNS: dovecot,
			dstNS: dovecot,
			rules: folder.Rules{NoGroupware: true},
			want: []want{
				{source: "Agenda", dest: "Agenda"},
				{source: "Notes", dest: "Notes"},
				{source: "Notes/2020", dest: "Notes/2020"},
			},
		},
		{
			name: "ProviderNonMail",
			src: []folder.Listed{
				l("INBOX", '/'), l("[Gmail]", '/', imap.MailboxAttrNoSelect), l("[Gmail]/Chats", '/'),
				l("[Gmail]/Sent Mail", '/', imap.MailboxAttrSent), l("Chats about work", '/'),
			},
			srcNS: dovecot,
			dstNS: dovecot,
			rules: folder.Rules{NoGroupware: true, NonMail: []string{"[Gmail]/Chats"}},
			want: []want{
				{source: "[Gmail]/Chats", skip: folder.SkipNonMail, note: `pattern "[Gmail]/Chats" of its profile`},
				{source: "[Gmail]/Sent Mail", dest: "Sent", role: folder.RoleSent},
				{source: "Chats about work", dest: "Chats about work"},
			},
		},
		{
			name:  "ProviderNonMailKept",
			src:   []folder.Listed{l("INBOX", '/'), l("[Gmail]/Chats", '/')},
			srcNS: dovecot,
			dstNS: dovecot,
			rules: folder.Rules{NonMail: []string{"[Gmail]/Chats"}, KeepNonMail: true},
			want:  []want{{source: "[Gmail]/Chats", dest: "[Gmail]/Chats"}},
		},
		{
			name:  "CaseSensitiveDestination",
			src:   []folder.Listed{l("INBOX", '/'), l("Work", '/'), l("work", '/'), l("Inbox", '/'), l("inbox/x", '/')},
			srcNS: dovecot,
			dst:   []folder.Listed{l("INBOX", '/'), l("WORK", '/')},
			dstNS: dovecot,
			rules: folder.Rules{DestCaseSensitive: true},
			want: []want{
				{source: "Work", dest: "Work", exists: no},
				{source: "work", dest: "work", exists: no, note: ""},
				// INBOX is case-insensitive on every server.
				{source: "Inbox", dest: "INBOX (2)"},
				{source: "inbox/x", display: "INBOX/x", dest: "INBOX/x"},
			},
		},
		{
			name:  "CaseInsensitiveDestinationSpelling",
			src:   []folder.Listed{l("INBOX", '/'), l("work", '/'), l("work/2020", '/'), l("Travel", '/'), l("TRAVEL", '/')},
			srcNS: dovecot,
			dst:   []folder.Listed{l("INBOX", '/'), l("Work", '/'), l("Travel", '/')},
			dstNS: dovecot,
			want: []want{
				{source: "work", dest: "Work", exists: yes,
					note: `the destination already has "Work", which it does not tell apart from "work"; that folder is used`},
				{source: "work/2020", dest: "Work/2020", exists: no},
				{source: "Travel", dest: "Travel", exists: yes},
				{source: "TRAVEL", dest: "TRAVEL (2)", exists: no, note: `"Travel" also maps to "TRAVEL" at the destination`},
			},
		},
		{
			name: "SpecialNamesOfTheDestination",
			src: []folder.Listed{
				l("INBOX", '/'), l("Sent", '/', imap.MailboxAttrSent), l("Trash", '/', imap.MailboxAttrTrash), l("Junk", '/'),
			},
			srcNS: dovecot,
			dst:   []folder.Listed{l("INBOX", '/'), l("Deleted Items", '/', imap.MailboxAttrTrash)},
			dstNS: dovecot,
			rules: folder.Rules{SpecialNames: map[folder.Role]string{folder.RoleSent: "Sent Items", folder.RoleTrash: "Bin"}},
			want: []want{
				{source: "Sent", dest: "Sent Items", role: folder.RoleSent, exists: no, note: `mapped onto a new Sent folder "Sent Items"`},
				{source: "Trash", dest: "Deleted Items", role: folder.RoleTrash, exists: yes},
				{source: "Junk", dest: "Junk", role: folder.RoleJunk, exists: no},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := folder.Plan(tt.src, tt.srcNS, tt.dst, tt.dstNS, tt.rules)
			if len(got) != len(tt.src) {
				t.Fatalf("Plan() returned %d mappings for %d folders", len(got), len(tt.src))
			}
			bySource := map[string]folder.Mapping{}
			for _, m := range got {
				bySource[m.Source] = m
			}
			for _, w := range tt.want {
				m, ok := bySource[w.source]
				if !ok {
					t.Errorf("Plan() has no mapping for %q", w.source)
					continue
				}
				if w.display != "" && m.Display != w.display {
					t.Errorf("Plan(%q) Display = %q; want %q", w.source, m.Display, w.display)
				}
				if (w.dest != "" || w.skip == folder.SkipNone) && m.Dest != w.dest {
					t.Errorf("Plan(%q) Dest = %q; want %q (note %q)", w.source, m.Dest, w.dest, m.Note)
				}
				if m.Role != w.role && (w.role != "" || w.source != "INBOX") {
					t.Errorf("Plan(%q) Role = %q; want %q", w.source, m.Role, w.role)
				}
				if m.Skip != w.skip {
					t.Errorf("Plan(%q) Skip = %q; want %q (note %q)", w.source, m.Skip, w.skip, m.Note)
				}
				if !strings.Contains(m.Note, w.note) {
					t.Errorf("Plan(%q) Note = %q; want it to contain %q", w.source, m.Note, w.note)
				}
				if w.exists != nil && m.DestExists != *w.exists {
					t.Errorf("Plan(%q) DestExists = %v; want %v", w.source, m.DestExists, *w.exists)
				}
			}
			if t.Failed() {
				for _, m := range got {
					t.Logf("%+v", m)
				}
			}
		})
	}
}

func TestPlanOrder(t *testing.T) {
	t.Parallel()
	src := []folder.Listed{
		l("b", '/'), l("a b", '/'), l("a/b", '/'), l("INBOX/x", '/'), l("a", '/'), l("INBOX", '/'), l("A", '/'),
	}
	got := folder.Plan(src, dovecot, nil, dovecot, folder.Rules{})
	var order []string
	for _, m := range got {
		order = append(order, m.Source)
	}
	want := []string{"INBOX", "INBOX/x", "A", "a", "a/b", "a b", "b"}
	if strings.Join(order, "|") != strings.Join(want, "|") {
		t.Errorf("Plan() order = %q; want %q", order, want)
	}
}

func TestPlanSelectable(t *testing.T) {
	t.Parallel()
	src := []folder.Listed{
		{Name: "INBOX", Delim: '/', Subscribed: true},
		{Name: "Box", Delim: '/', Attrs: []imap.MailboxAttr{imap.MailboxAttrHasNoChildren}},
		{Name: "Dir", Delim: '/', Attrs: []imap.MailboxAttr{"\\NOSELECT"}},
	}
	got := folder.Plan(src, dovecot, nil, dovecot, folder.Rules{})
	for _, tt := range []struct {
		i                      int
		selectable, subscribed bool
	}{{0, true, true}, {1, true, false}, {2, false, false}} {
		if got[tt.i].Selectable != tt.selectable || got[tt.i].Subscribed != tt.subscribed {
			t.Errorf("Plan(%q) Selectable, Subscribed = %v, %v; want %v, %v",
				got[tt.i].Source, got[tt.i].Selectable, got[tt.i].Subscribed, tt.selectable, tt.subscribed)
		}
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, display string
		want             bool
	}{
		{"*", "", true},
		{"*", "a/b/c", true},
		{"%", "a", true},
		{"%", "a/b", false},
		{"Archive/*", "Archive/2019/Old", true},
		{"Archive/%", "Archive/2019/Old", false},
		{"Archive/%", "Archive/2019", true},
		{"Archive/%", "Archive", false},
		{"Archive*", "Archive", true},
		{"%/Old", "2019/Old", true},
		{"*/Old", "Archive/2019/Old", true},
		{"inbox", "INBOX", true},
		{"INBOX", "Inbox", true},
		{"inbox/*", "INBOX/Lists", true},
		{"archive", "Archive", false},
		{"INBOXES", "inboxes", false},
		{"Ent%rfe", "Entwürfe", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"", "", true},
		{"", "a", false},
		{"日本*", "日本語/子", true},
	}
	for _, tt := range tests {
		if got := folder.Match(tt.pattern, tt.display); got != tt.want {
			t.Errorf("Match(%q, %q) = %v; want %v", tt.pattern, tt.display, got, tt.want)
		}
	}
}

func TestRoleOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		l       folder.Listed
		display string
		want    folder.Role
	}{
		{l("inbox", '/'), "INBOX", folder.RoleInbox},
		{l("INBOX", '/', imap.MailboxAttrJunk), "INBOX", folder.RoleInbox},
		{l("Stuff", '/', imap.MailboxAttrSent), "Stuff", folder.RoleSent},
		{l("Trash", '/', imap.MailboxAttrArchive), "Trash", folder.RoleArchive},
		{l("x", '/', "\\junk"), "x", folder.RoleJunk},
		{l("SENT ITEMS", '/'), "SENT ITEMS", folder.RoleSent},
		{l("Work/Sent", '/'), "Work/Sent", folder.RoleNone},
		{l("[Gmail]/Sent Mail", '/'), "[Gmail]/Sent Mail", folder.RoleSent},
		{l("[Google Mail]/All Mail", '/'), "[Google Mail]/All Mail", folder.RoleAll},
		{l("Éléments supprimés", '/'), "Éléments supprimés", folder.RoleTrash},
		{l("ЧЕРНОВИКИ", '/'), "ЧЕРНОВИКИ", folder.RoleDrafts},
		{l("Spam", '/'), "Spam", folder.RoleJunk},
		{l("Starred", '/', imap.MailboxAttrFlagged), "Starred", folder.RoleFlagged},
		{l("Work", '/'), "Work", folder.RoleNone},
	}
	for _, tt := range tests {
		if got := folder.RoleOf(tt.l, tt.display); got != tt.want {
			t.Errorf("RoleOf(%q %v, %q) = %q; want %q", tt.l.Name, tt.l.Attrs, tt.display, got, tt.want)
		}
	}
}

func TestIsNonMail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		display string
		want    bool
	}{
		{"Calendar", true},
		{"calendar/Birthdays", true},
		{"Sync Issues/Conflicts", true},
		{"Boîte d'envoi", true},
		{"Postvak UIT", true},
		{"Work/Calendar", false},
		{"INBOX", false},
		{"Calendars", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := folder.IsNonMail(tt.display); got != tt.want {
			t.Errorf("IsNonMail(%q) = %v; want %v", tt.display, got, tt.want)
		}
	}
}
