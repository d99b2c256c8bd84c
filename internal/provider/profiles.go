package provider

import (
	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
)

// exchangeReserved are the top-level folders every Exchange mailbox has
// for something other than mail, with their English names (a mailbox set
// to another language names them in it). Sources: the special folders of
// [MS-OXOSFLD] section 2.2.1 (Calendar, Contacts, Journal, Notes, Tasks,
// Outbox, Sync Issues, RSS Feeds, Conversation Action Settings,
// Suggested Contacts), and the folders Outlook and Skype for Business add
// (Quick Step Settings, Conversation History). Mail appended to Outbox
// may be sent.
var exchangeReserved = []string{
	"Calendar", "Contacts", "Conversation Action Settings", "Conversation History", "Journal",
	"Notes", "Outbox", "Quick Step Settings", "RSS Feeds", "Suggested Contacts", "Sync Issues", "Tasks",
}

// onlineReserved are the system folders Exchange Online adds to every
// mailbox: "Files" (since 2015, filled by background assistants with
// attachments and documents; Tony Redmond, "The Mysterious Files Folder
// and its Importance to Office 365 Apps", petri.com, 2018), and the
// folders of Yammer and of social notifications.
var onlineReserved = append([]string{"Files", "Social Activity Notifications", "Yammer Root"}, exchangeReserved...)

// zimbraReserved are Zimbra's system folders that are not mail (the
// Mailbox.ID_FOLDER_* of zm-mailbox: Contacts, Calendar, Emailed Contacts,
// Chats, Tasks, Briefcase).
var zimbraReserved = []string{"Briefcase", "Calendar", "Chats", "Contacts", "Emailed Contacts", "Tasks"}

// exchangeNames are the names Exchange and Outlook give their special
// folders.
var exchangeNames = map[folder.Role]string{
	folder.RoleSent: "Sent Items", folder.RoleDrafts: "Drafts", folder.RoleTrash: "Deleted Items",
	folder.RoleJunk: "Junk Email", folder.RoleArchive: "Archive",
}

// profiles is the table of known servers, in the README's order.
var profiles = []Profile{
	{
		Name:        "generic",
		Description: "any IMAP server: the engine's defaults; the calendar and contacts folders some servers show are skipped, folder names compared without case",
		Connections: DefaultConnections, MaxConcurrentMailboxes: DefaultMaxConcurrentMailboxes,
		MaxMessageSize: DefaultMaxMessageSize,
		Groupware:      true,
	},
	{
		Name: "gmail",
		Description: "Gmail and Google Workspace (an app password or OAuth per user; no admin login over IMAP). " +
			"Labels are folders: a message with two labels is copied to both folders; All Mail, Important and Starred are skipped",
		Host: "imap.gmail.com", Port: 993, Security: imapconn.SecurityTLS,
		// 15 simultaneous IMAP connections per account; the user's own
		// clients count too.
		Connections: DefaultConnections, MaxConnections: 15,
		MaxConcurrentMailboxes: DefaultMaxConcurrentMailboxes,
		// Google Workspace, "Gmail bandwidth limits": 2500 MB a day
		// downloaded and 500 MB uploaded over IMAP.
		DailyDownload: 2500 * 1000 * 1000, DailyUpload: 500 * 1000 * 1000,
		// Gmail advertises APPENDLIMIT=35651584 (34 MiB).
		MaxMessageSize: 35651584,
		// Chat transcripts, shown under [Gmail] when enabled for IMAP.
		NonMail: []string{"[Gmail]/Chats", "[Google Mail]/Chats"},
	},
	{
		Name: "office365",
		Description: "Exchange Online (Microsoft 365): admin login by delegated access; Files, Calendar and the other system folders " +
			"are never written to; 35 MB per message as in Exchange Online's own IMAP migration",
		Host: "outlook.office365.com", Port: 993, Security: imapconn.SecurityTLS,
		AdminFormat: AdminAuthzid,
		// "Exchange Online Throttling and Limits FAQ" (Exchange team,
		// 2011): at most 20 concurrent IMAP connections per mailbox.
		Connections: DefaultConnections, MaxConnections: 20,
		MaxConcurrentMailboxes: DefaultMaxConcurrentMailboxes,
		MaxMessageSize:         DefaultMaxMessageSize,
		Groupware:              true,
		Reserved:               onlineReserved,
		SpecialNames:           exchangeNames,
	},
	{
		Name:        "outlook.com",
		Description: "Outlook.com and Hotmail consumer accounts (Exchange Online underneath, no admin login); 2 connections, as consumer accounts throttle sooner and publish no figure",
		Host:        "outlook.office365.com", Port: 993, Security: imapconn.SecurityTLS,
		Connections: 2, MaxConcurrentMailboxes: DefaultMaxConcurrentMailboxes,
		MaxMessageSize: DefaultMaxMessageSize,
		Groupware:      true,
		Reserved:       onlineReserved,
		SpecialNames:   exchangeNames,
	},
	{
		Name:        "yahoo",
		Description: "Yahoo Mail (an app password per user, no admin login); 2 connections, as Yahoo publishes no figure",
		Host:        "imap.mail.yahoo.com", Port: 993, Security: imapconn.SecurityTLS,
		Connections: 2, MaxConcurrentMailboxes: DefaultMaxConcurrentMailboxes,
		MaxMessageSize: DefaultMaxMessageSize,
	},
	{
		Name:        "icloud",
		Description: "iCloud Mail (an app-specific password per user, no admin login); 2 connections, as Apple publishes no figure",
		Host:        "imap.mail.me.com", Port: 993, Security: imapconn.SecurityTLS,
		Connections: 2, MaxConcurrentMailboxes: DefaultMaxConcurrentMailboxes,
		MaxMessageSize: DefaultMaxMessageSize,
		SpecialNames: map[folder.Role]string{
			folder.RoleSent: "Sent Messages", folder.RoleDrafts: "Drafts", folder.RoleTrash: "Deleted Messages",
			folder.RoleJunk: "Junk", folder.RoleArchive: "Archive",
		},
	},
	{
		Name:        "exchange",
		Description: "Exchange Server on premises: admin login Domain/Admin/User; its system folders are never written to; 10 mailboxes at once, as one server carries them all",
		AdminFormat: AdminExchange,
		// Set-ImapSettings -MaxConnectionsPerUser defaults to 16.
		Connections: DefaultConnections, MaxConnections: 16,
		MaxConcurrentMailboxes: 10,
		MaxMessageSize:         DefaultMaxMessageSize,
		Groupware:              true,
		Reserved:               exchangeReserved,
		SpecialNames:           exchangeNames,
	},
	{
		Name:        "zimbra",
		Description: "Zimbra: admin login by SASL authorization identity; Calendar, Contacts, Briefcase and its other system folders are skipped as a source and never written to",
		AdminFormat: AdminAuthzid,
		Connections: DefaultConnections, MaxConcurrentMailboxes: 10,
		MaxMessageSize: DefaultMaxMessageSize,
		Groupware:      true,
		Reserved:       zimbraReserved,
	},
	{
		Name:        "dovecot",
		Description: "Dovecot: admin login as a master user; no groupware folders, so Notes or Calendar is mail; folder names are case-sensitive",
		AdminFormat: AdminAuthzid,
		// mail_max_userip_connections defaults to 10 per user and client
		// address.
		Connections: DefaultConnections, MaxConnections: 10,
		MaxConcurrentMailboxes: 10,
		MaxMessageSize:         DefaultMaxMessageSize,
		CaseSensitive:          true,
	},
	{
		Name:        "courier",
		Description: "Courier-IMAP: no admin login; INBOX. prefix and . separator (mapped by the engine); 2 connections, as its MAXPERIP counts per client address",
		Connections: 2, MaxConcurrentMailboxes: 10,
		MaxMessageSize: DefaultMaxMessageSize,
		CaseSensitive:  true,
	},
	{
		Name:        "cyrus",
		Description: "Cyrus IMAP: admin login by SASL authorization identity (or the UserRoot column for an admin's view); folder names are case-sensitive",
		AdminFormat: AdminAuthzid,
		Connections: DefaultConnections, MaxConcurrentMailboxes: 10,
		MaxMessageSize: DefaultMaxMessageSize,
		CaseSensitive:  true,
	},
}
