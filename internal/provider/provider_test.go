package provider_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/provider"
)

func TestLookup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		want     string
		wantAddr string
		wantErr  string
	}{
		{name: "", want: "generic"},
		{name: "generic", want: "generic"},
		{name: "Gmail", want: "gmail", wantAddr: "imap.gmail.com:993"},
		{name: "OFFICE365", want: "office365", wantAddr: "outlook.office365.com:993"},
		{name: "outlook.com", want: "outlook.com", wantAddr: "outlook.office365.com:993"},
		{name: "yahoo", want: "yahoo", wantAddr: "imap.mail.yahoo.com:993"},
		{name: "icloud", want: "icloud", wantAddr: "imap.mail.me.com:993"},
		{name: "exchange", want: "exchange"},
		{name: "zimbra", want: "zimbra"},
		{name: "dovecot", want: "dovecot"},
		{name: "courier", want: "courier"},
		{name: "cyrus", want: "cyrus"},
		{name: "hotmail", wantErr: `no provider profile "hotmail" (want one of generic, gmail, office365, outlook.com, yahoo, icloud, exchange, zimbra, dovecot, courier, cyrus)`},
	}
	for _, tt := range tests {
		p, err := provider.Lookup(tt.name)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Lookup(%q) error = %v; want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || p.Name != tt.want || p.Addr() != tt.wantAddr {
			t.Errorf("Lookup(%q) = %q at %q, %v; want %q at %q", tt.name, p.Name, p.Addr(), err, tt.want, tt.wantAddr)
		}
	}
}

// TestProfilesAreSane checks every profile against the rules the engine and
// the service rely on, so that a new row cannot slip in half filled.
func TestProfilesAreSane(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, p := range provider.All() {
		if seen[p.Name] || p.Name != strings.ToLower(p.Name) {
			t.Errorf("%s: duplicate or not lower-case", p.Name)
		}
		seen[p.Name] = true
		if p.Description == "" {
			t.Errorf("%s: no description", p.Name)
		}
		if (p.Host == "") != (p.Port == 0) || (p.Host != "" && p.Security != imapconn.SecurityTLS) {
			t.Errorf("%s: host %q port %d security %q: a hosted service needs all three, with TLS", p.Name, p.Host, p.Port, p.Security)
		}
		if !slices.Contains([]string{"", provider.AdminAuthzid, provider.AdminDovecot, provider.AdminExchange}, p.AdminFormat) {
			t.Errorf("%s: admin format %q is not one the service knows", p.Name, p.AdminFormat)
		}
		if p.Connections < 1 || (p.MaxConnections > 0 && p.Connections > p.MaxConnections/2) {
			t.Errorf("%s: %d connections per mailbox against a cap of %d: want at least 1 and at most half the cap, which the user's own clients share", p.Name, p.Connections, p.MaxConnections)
		}
		if p.MaxConcurrentMailboxes < 1 || p.MaxMessageSize <= 0 || p.DailyDownload < 0 || p.DailyUpload < 0 {
			t.Errorf("%s: %+v: caps must be positive, budgets 0 or more", p.Name, p)
		}
		for _, pat := range p.NonMail {
			if !strings.Contains(pat, "/") {
				t.Errorf("%s: non-mail pattern %q: top-level names belong in folder's own list", p.Name, pat)
			}
		}
		if p.Groupware != (len(p.Reserved) > 0) && p.Name != "generic" {
			t.Errorf("%s: groupware %v but %d reserved names: a server that keeps calendars in folders reserves their names", p.Name, p.Groupware, len(p.Reserved))
		}
	}
	if len(seen) != 11 {
		t.Errorf("%d profiles; the issue names 11", len(seen))
	}
}

func TestLookupReturnsACopy(t *testing.T) {
	t.Parallel()
	p, _ := provider.Lookup("office365")
	p.Reserved[0] = "changed"
	p.SpecialNames[folder.RoleSent] = "changed"
	again, _ := provider.Lookup("office365")
	if slices.Contains(again.Reserved, "changed") || again.SpecialNames[folder.RoleSent] != "Sent Items" {
		t.Errorf("a change to a looked-up profile reached the table: %v %v", again.Reserved, again.SpecialNames)
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	size := func(n int64) *int64 { return &n }
	gmail, _ := provider.Lookup("gmail")
	tests := []struct {
		name  string
		o     provider.Overrides
		check func(p provider.Profile) bool
	}{
		{"NothingSet", provider.Overrides{}, func(p provider.Profile) bool {
			return p.Addr() == "imap.gmail.com:993" && p.Connections == 4 && p.MaxMessageSize == 35651584 &&
				p.DailyDownload == 2500e6 && p.DailyUpload == 500e6 && p.Security == imapconn.SecurityTLS
		}},
		{"HostAndPort", provider.Overrides{Host: "127.0.0.1", Port: 1993, Security: imapconn.SecurityNone}, func(p provider.Profile) bool {
			return p.Addr() == "127.0.0.1:1993" && p.Security == imapconn.SecurityNone
		}},
		{"Connections", provider.Overrides{Connections: 8, MaxConcurrentMailboxes: 3}, func(p provider.Profile) bool {
			return p.Connections == 8 && p.MaxConcurrentMailboxes == 3 && p.MaxConnections == 15
		}},
		{"NoSizeLimitIsASetting", provider.Overrides{MaxMessageSize: size(0)}, func(p provider.Profile) bool {
			return p.MaxMessageSize == 0
		}},
		{"NoBudget", provider.Overrides{DailyDownload: size(0), DailyUpload: size(1 << 30)}, func(p provider.Profile) bool {
			return p.DailyDownload == 0 && p.DailyUpload == 1<<30
		}},
		{"AdminFormat", provider.Overrides{AdminFormat: provider.AdminDovecot}, func(p provider.Profile) bool {
			return p.AdminFormat == provider.AdminDovecot
		}},
	}
	for _, tt := range tests {
		if got := gmail.Merge(tt.o); !tt.check(got) {
			t.Errorf("%s: Merge(%+v) = %+v", tt.name, tt.o, got)
		}
	}
	if gmail.MaxMessageSize != 35651584 || gmail.Host != "imap.gmail.com" {
		t.Errorf("Merge changed its receiver: %+v", gmail)
	}
}

func TestConnections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src, dst provider.Profile
		want     int
	}{
		{provider.Profile{Connections: 4}, provider.Profile{Connections: 2}, 2},
		{provider.Profile{Connections: 3}, provider.Profile{Connections: 8}, 3},
		{provider.Profile{}, provider.Profile{Connections: 2}, 2},
		{provider.Profile{}, provider.Profile{}, provider.DefaultConnections},
		{provider.Profile{Connections: 9}, provider.Profile{}, provider.DefaultConnections},
	}
	for _, tt := range tests {
		if got := provider.Connections(tt.src, tt.dst); got != tt.want {
			t.Errorf("Connections(%d, %d) = %d; want %d", tt.src.Connections, tt.dst.Connections, got, tt.want)
		}
	}
}

func l(name string, attrs ...imap.MailboxAttr) folder.Listed {
	return folder.Listed{Name: name, Delim: '/', Attrs: attrs}
}

// TestFolderRules plans real-looking mailboxes with the rules two profiles
// make, and checks where each folder goes: the profiles' data and the
// engine's mapping together.
func TestFolderRules(t *testing.T) {
	t.Parallel()
	ns := folder.Namespace{Delim: '/'}
	gmailTree := []folder.Listed{
		l("INBOX"), l("[Gmail]", imap.MailboxAttrNoSelect), l("[Gmail]/All Mail", imap.MailboxAttrAll),
		l("[Gmail]/Chats"), l("[Gmail]/Drafts", imap.MailboxAttrDrafts), l("[Gmail]/Important", imap.MailboxAttrImportant),
		l("[Gmail]/Sent Mail", imap.MailboxAttrSent), l("[Gmail]/Spam", imap.MailboxAttrJunk),
		l("[Gmail]/Starred", imap.MailboxAttrFlagged), l("[Gmail]/Trash", imap.MailboxAttrTrash),
		l("Notes"), l("Files"), l("Receipts"), l("receipts"),
	}
	o365Tree := []folder.Listed{
		l("INBOX"), l("Calendar"), l("Contacts"), l("Files"), l("Notes"), l("Deleted Items", imap.MailboxAttrTrash),
		l("Drafts", imap.MailboxAttrDrafts), l("Junk Email", imap.MailboxAttrJunk), l("Sent Items", imap.MailboxAttrSent),
		l("Outbox"),
	}
	dovecotTree := []folder.Listed{l("INBOX"), l("Receipts")}
	tests := []struct {
		name     string
		src, dst string
		srcTree  []folder.Listed
		dstTree  []folder.Listed
		rules    folder.Rules
		want     map[string]string // source → Dest, or "skip:reason"
	}{
		{
			name: "GmailToOffice365", src: "gmail", dst: "office365", srcTree: gmailTree, dstTree: o365Tree,
			want: map[string]string{
				"[Gmail]/All Mail": "skip:virtual", "[Gmail]/Important": "skip:virtual", "[Gmail]/Starred": "skip:virtual",
				"[Gmail]/Chats": "skip:non_mail", "[Gmail]/Sent Mail": "Sent Items", "[Gmail]/Spam": "Junk Email",
				"[Gmail]/Trash": "Deleted Items", "[Gmail]/Drafts": "Drafts",
				// Gmail has no groupware: these labels are mail, and
				// Office 365 keeps the names.
				"Notes": "Notes (imported)", "Files": "Files (imported)",
				"Receipts": "Receipts", "receipts": "receipts (2)",
			},
		},
		{
			name: "GmailToDovecot", src: "gmail", dst: "dovecot", srcTree: gmailTree, dstTree: dovecotTree,
			want: map[string]string{
				"[Gmail]/Chats": "skip:non_mail", "[Gmail]/Sent Mail": "Sent", "[Gmail]/Trash": "Trash",
				"Notes": "Notes", "Files": "Files",
				// Dovecot tells case apart: two labels, two folders.
				"Receipts": "Receipts", "receipts": "receipts",
			},
		},
		{
			name: "GenericSourceSkipsGroupwareNames", src: "generic", dst: "dovecot", srcTree: gmailTree, dstTree: dovecotTree,
			want: map[string]string{"Notes": "skip:non_mail", "Files": "skip:non_mail", "[Gmail]/Chats": "[Gmail]/Chats"},
		},
		{
			name: "KeepNonMailWins", src: "gmail", dst: "dovecot", srcTree: gmailTree, dstTree: dovecotTree,
			rules: folder.Rules{KeepNonMail: true},
			want:  map[string]string{"[Gmail]/Chats": "[Gmail]/Chats"},
		},
		{
			name: "DovecotToEmptyOffice365", src: "dovecot", dst: "office365",
			srcTree: []folder.Listed{l("INBOX"), l("Sent", imap.MailboxAttrSent), l("Trash"), l("Outbox"), l("Calendar")},
			dstTree: []folder.Listed{l("INBOX")},
			want: map[string]string{
				"Sent": "Sent Items", "Trash": "Deleted Items",
				"Outbox": "Outbox (imported)", "Calendar": "Calendar (imported)",
			},
		},
		{
			name: "ExchangeToGmail", src: "exchange", dst: "gmail",
			srcTree: []folder.Listed{l("INBOX"), l("Calendar"), l("Sync Issues"), l("Sync Issues/Conflicts"), l("Sent Items")},
			dstTree: gmailTree,
			want: map[string]string{
				"Calendar": "skip:non_mail", "Sync Issues/Conflicts": "skip:non_mail", "Sent Items": "[Gmail]/Sent Mail",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, err := provider.Lookup(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			dst, err := provider.Lookup(tt.dst)
			if err != nil {
				t.Fatal(err)
			}
			rules := provider.FolderRules(src, dst, tt.rules)
			plan := folder.Plan(tt.srcTree, ns, tt.dstTree, ns, rules)
			got := map[string]folder.Mapping{}
			for _, m := range plan {
				got[m.Source] = m
			}
			for source, want := range tt.want {
				m := got[source]
				have := m.Dest
				if m.Skip != folder.SkipNone && m.Skip != folder.SkipNoSelect {
					have = "skip:" + string(m.Skip)
				}
				if have != want {
					t.Errorf("%s: %q goes to %q; want %q (note %q)", tt.name, source, have, want, m.Note)
				}
			}
		})
	}
}

// TestFolderRulesKeepsTheUsersChoices checks that FolderRules adds to the
// rules rather than replacing the user's patterns or special names.
func TestFolderRulesKeepsTheUsersChoices(t *testing.T) {
	t.Parallel()
	gmail, _ := provider.Lookup("gmail")
	o365, _ := provider.Lookup("office365")
	user := folder.Rules{
		Exclude: []string{"Spam*"}, NonMail: []string{"Faxes/*"}, Reserved: []string{"Scans"},
		SpecialNames: map[folder.Role]string{folder.RoleSent: "Gesendete Elemente"},
	}
	r := provider.FolderRules(gmail, o365, user)
	if !slices.Equal(r.Exclude, user.Exclude) || !slices.Contains(r.NonMail, "Faxes/*") || !slices.Contains(r.NonMail, "[Gmail]/Chats") ||
		!slices.Contains(r.Reserved, "Scans") || !slices.Contains(r.Reserved, "Files") {
		t.Errorf("FolderRules lost or missed patterns: %+v", r)
	}
	if r.SpecialNames[folder.RoleSent] != "Gesendete Elemente" || r.SpecialNames[folder.RoleTrash] != "Deleted Items" {
		t.Errorf("SpecialNames = %v; want the user's Sent and the profile's Trash", r.SpecialNames)
	}
	if !r.NoGroupware || r.DestCaseSensitive {
		t.Errorf("NoGroupware %v, DestCaseSensitive %v; want true, false for Gmail to Office 365", r.NoGroupware, r.DestCaseSensitive)
	}
	if len(user.NonMail) != 1 || len(user.Reserved) != 1 {
		t.Errorf("FolderRules changed the caller's slices: %+v", user)
	}
}
