// Package provider holds what imapmigrate knows of common IMAP servers and
// services, as profiles: where they are, how an admin logs in for a user,
// how many connections and bytes a day they bear, how large a message they
// take, which of their folders are not mail, and which folder names they
// keep for themselves. A profile only sets defaults: Merge lays an admin's
// explicit settings over it, and FolderRules turns a source and a
// destination profile into the rules of package folder.
//
// The figures come from the providers' own documentation where they publish
// them (cited beside each); elsewhere the profile stays at the engine's
// defaults or picks a conservative value and says so in its description.
package provider

import (
	"fmt"
	"slices"
	"strings"

	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
)

// Admin login formats, spelt as the service's endpoints spell them
// (service.AdminAuthzid, ...). Empty means the provider offers no IMAP
// login that acts for another user.
const (
	AdminAuthzid  = "authzid"  // SASL PLAIN with the user as authorization identity (RFC 4616)
	AdminDovecot  = "dovecot"  // "user*admin" (Dovecot master users)
	AdminExchange = "exchange" // "Domain/Admin/User" (Exchange on premises)
)

// Defaults of the generic profile, which are also the engine's and the
// service's: 35 MiB and 20 mailboxes at once as in Exchange Online's IMAP
// migration, 4 connections per mailbox and side.
const (
	DefaultConnections            = 4
	DefaultMaxConcurrentMailboxes = 20
	DefaultMaxMessageSize         = 35 << 20
)

// Profile is what imapmigrate assumes of one kind of server until told
// otherwise. Zero values mean "nothing known": the engine's defaults apply.
type Profile struct {
	Name        string
	Description string
	// Host, Port and Security are the public IMAP server of a hosted
	// service; Host is empty for software that anyone runs (Dovecot).
	Host     string
	Port     int
	Security imapconn.Security
	// AdminFormat is how an admin logs in for a user (AdminAuthzid, ...),
	// empty when the provider offers no such login over IMAP.
	AdminFormat string
	// Connections is how many connections per mailbox and side to open by
	// default; MaxConnections is the server's own cap per account when it
	// is published (0 otherwise). Connections stays well under the cap,
	// since the user's phone and mail program count against it too.
	Connections    int
	MaxConnections int
	// MaxConcurrentMailboxes is how many mailboxes to migrate at once
	// through one endpoint of this kind.
	MaxConcurrentMailboxes int
	// DailyDownload and DailyUpload are the bytes a day an account may
	// read or write over IMAP (0: no known limit). Past them the server
	// refuses until the next day, so a pass should stop short and leave
	// the rest for the next incremental pass rather than fail.
	DailyDownload, DailyUpload int64
	// MaxMessageSize is the largest message the server takes by APPEND
	// (0: the engine's default).
	MaxMessageSize int64
	// Groupware says the server shows calendars, contacts and tasks as
	// IMAP folders (Exchange, Zimbra): as a source, the names folder.IsNonMail
	// knows are skipped; on a server without groupware they are mail.
	Groupware bool
	// NonMail are Match patterns (package folder) of the server's own
	// folders that hold something other than mail, beyond IsNonMail's.
	NonMail []string
	// Reserved are top-level names the server keeps for itself as a
	// destination: a source folder so named goes to "NAME (imported)".
	Reserved []string
	// CaseSensitive says folder names that differ only in case are
	// different folders on this server.
	CaseSensitive bool
	// SpecialNames are the names the server gives its special folders, used
	// when the destination lacks one and it is created.
	SpecialNames map[folder.Role]string
}

// Addr is Host:Port, or "" when the profile names no server.
func (p Profile) Addr() string {
	if p.Host == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d", p.Host, p.Port)
}

// Overrides are an admin's explicit settings. Zero fields keep the
// profile's value; the byte limits are pointers because 0 (no limit) is a
// setting of its own.
type Overrides struct {
	Host                   string
	Port                   int
	Security               imapconn.Security
	AdminFormat            string
	Connections            int
	MaxConcurrentMailboxes int
	DailyDownload          *int64
	DailyUpload            *int64
	MaxMessageSize         *int64
}

// Merge returns p with o's settings laid over it: what the admin said
// wins, the profile fills the rest.
func (p Profile) Merge(o Overrides) Profile {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	setInt := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	setBytes := func(dst *int64, v *int64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.Host, o.Host)
	setInt(&p.Port, o.Port)
	if o.Security != "" {
		p.Security = o.Security
	}
	set(&p.AdminFormat, o.AdminFormat)
	setInt(&p.Connections, o.Connections)
	setInt(&p.MaxConcurrentMailboxes, o.MaxConcurrentMailboxes)
	setBytes(&p.DailyDownload, o.DailyDownload)
	setBytes(&p.DailyUpload, o.DailyUpload)
	setBytes(&p.MaxMessageSize, o.MaxMessageSize)
	return p
}

// Lookup returns the profile of that name, in any case; "" is the generic
// profile. The error lists the names there are.
func Lookup(name string) (Profile, error) {
	if name == "" {
		name = "generic"
	}
	for _, p := range profiles {
		if strings.EqualFold(p.Name, name) {
			return p.clone(), nil
		}
	}
	return Profile{}, fmt.Errorf("no provider profile %q (want one of %s)", name, strings.Join(Names(), ", "))
}

// All returns every profile, in the order of the README's table.
func All() []Profile {
	out := make([]Profile, len(profiles))
	for i, p := range profiles {
		out[i] = p.clone()
	}
	return out
}

// Names lists the profile names.
func Names() []string {
	out := make([]string, len(profiles))
	for i, p := range profiles {
		out[i] = p.Name
	}
	return out
}

// clone copies the slices and map so that a caller's changes never reach
// the table.
func (p Profile) clone() Profile {
	p.NonMail = slices.Clone(p.NonMail)
	p.Reserved = slices.Clone(p.Reserved)
	if p.SpecialNames != nil {
		m := make(map[folder.Role]string, len(p.SpecialNames))
		for k, v := range p.SpecialNames {
			m[k] = v
		}
		p.SpecialNames = m
	}
	return p
}

// FolderRules adds to rules what the two servers impose on the folder
// mapping: the source's non-mail folders (and whether it has groupware at
// all), the destination's reserved names, its case rule and the names of
// its special folders. The user's own choices in rules (include, exclude,
// keep) are left as they are.
func FolderRules(src, dst Profile, rules folder.Rules) folder.Rules {
	rules.NoGroupware = !src.Groupware
	rules.NonMail = append(slices.Clone(rules.NonMail), src.NonMail...)
	rules.Reserved = append(slices.Clone(rules.Reserved), dst.Reserved...)
	rules.DestCaseSensitive = dst.CaseSensitive
	if len(dst.SpecialNames) > 0 {
		names := make(map[folder.Role]string, len(dst.SpecialNames))
		for k, v := range rules.SpecialNames {
			names[k] = v
		}
		for k, v := range dst.SpecialNames {
			if names[k] == "" {
				names[k] = v
			}
		}
		rules.SpecialNames = names
	}
	return rules
}

// Connections is how many connections per side a migration from src to
// dst opens by default: the smaller of the two profiles' figures.
// A profile without a figure counts as DefaultConnections.
func Connections(src, dst Profile) int {
	of := func(p Profile) int {
		if p.Connections > 0 {
			return p.Connections
		}
		return DefaultConnections
	}
	return min(of(src), of(dst))
}
