package folder_test

import (
	"fmt"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/folder"
)

// A Courier source moves to an Exchange-like destination that already has
// its own Sent folder.
func ExamplePlan() {
	src := []folder.Listed{
		{Name: "INBOX", Delim: '.'},
		{Name: "INBOX.Sent", Delim: '.', Attrs: []imap.MailboxAttr{imap.MailboxAttrSent}},
		{Name: "INBOX.Sent.2019", Delim: '.'},
		{Name: "INBOX.Kunden/Alt", Delim: '.'},
		{Name: "INBOX.Calendar", Delim: '.'},
	}
	dst := []folder.Listed{
		{Name: "INBOX", Delim: '/'},
		{Name: "Sent Items", Delim: '/', Attrs: []imap.MailboxAttr{imap.MailboxAttrSent}},
	}
	plan := folder.Plan(src, folder.Namespace{Prefix: "INBOX.", Delim: '.'},
		dst, folder.Namespace{Delim: '/'}, folder.Rules{Exclude: []string{"Calendar"}})
	for _, m := range plan {
		line := fmt.Sprintf("%s → %q", m.Display, m.Dest)
		if m.Skip != folder.SkipNone {
			line += " skipped: " + string(m.Skip)
		}
		if m.Note != "" {
			line += " (" + m.Note + ")"
		}
		fmt.Println(line)
	}
	// Output:
	// INBOX → "INBOX"
	// Calendar → "Calendar" skipped: excluded (excluded by pattern "Calendar")
	// Kunden/Alt → "Kunden_Alt" ("/" in a name replaced by "_" for the destination)
	// Sent → "Sent Items" (mapped onto the destination's own Sent folder "Sent Items")
	// Sent/2019 → "Sent Items/2019"
}
