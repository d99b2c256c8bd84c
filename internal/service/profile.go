package service

import (
	"fmt"
	"slices"

	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/provider"
)

// EndpointSettings are an endpoint's settings in force: its provider
// profile's defaults with what the admin set laid over them
// (provider.Merge). The API shows them as Endpoint.Effective beside the
// settings as given, so that an edit keeps "unset" unset and a later
// profile's figure still applies.
type EndpointSettings struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Security string `json:"security"`
	// AdminFormat is the admin login's format, with admin credentials.
	AdminFormat                   string `json:"admin_format,omitempty"`
	MaxConcurrentMigrations       int    `json:"max_concurrent_migrations"`
	MaxConcurrentIncrementalSyncs int    `json:"max_concurrent_incremental_syncs"`
	// ConnectionsPerMailbox is the most a mailbox opens to this server per
	// side (the profile's figure; the service's own setting and the
	// adaptive count may give fewer), and ServerConnectionCap the
	// server's own cap per account, where the provider publishes one.
	ConnectionsPerMailbox int `json:"connections_per_mailbox"`
	ServerConnectionCap   int `json:"server_connection_cap,omitempty"`
	// MaxMessageSize is the largest message copied to this server as a
	// destination, unless the batch says otherwise.
	MaxMessageSize int64 `json:"max_message_size"`
	// DailyDownload and DailyUpload are the provider's daily IMAP
	// bandwidth budgets, in bytes (0: none known).
	DailyDownload int64 `json:"daily_download,omitempty"`
	DailyUpload   int64 `json:"daily_upload,omitempty"`
	// The folder rules: as a source, Groupware servers' calendar and
	// contacts folders are skipped, and NonMailFolders too; as a
	// destination, ReservedFolders go to "NAME (imported)" and
	// CaseSensitiveFolders says whether Foo and foo are two folders.
	Groupware            bool     `json:"groupware"`
	NonMailFolders       []string `json:"non_mail_folders,omitempty"`
	ReservedFolders      []string `json:"reserved_folders,omitempty"`
	CaseSensitiveFolders bool     `json:"case_sensitive_folders"`
}

// merged is e's profile with e's explicit settings laid over it. This is
// the one place where an endpoint's profile meets its settings: resolve
// and normalize both come here.
func (e *Endpoint) merged() (provider.Profile, error) {
	p, err := provider.Lookup(e.Profile)
	if err != nil {
		return p, err
	}
	o := provider.Overrides{Host: e.Host, Port: e.Port, Security: imapconn.Security(e.Security),
		AdminFormat: e.AdminFormat, MaxConcurrentMailboxes: e.MaxConcurrentMigrations}
	if e.MaxMessageSize > 0 {
		size := e.MaxMessageSize
		o.MaxMessageSize = &size
	}
	return p.Merge(o), nil
}

// settings computes the effective settings from the merged profile p.
// Figures the profile leaves at zero take the service's defaults.
func (e *Endpoint) settings(p provider.Profile) *EndpointSettings {
	eff := &EndpointSettings{
		Host: p.Host, Port: p.Port, Security: string(p.Security),
		MaxConcurrentMigrations: p.MaxConcurrentMailboxes, MaxConcurrentIncrementalSyncs: e.MaxConcurrentIncrementalSyncs,
		ConnectionsPerMailbox: p.Connections, ServerConnectionCap: p.MaxConnections, MaxMessageSize: p.MaxMessageSize,
		DailyDownload: p.DailyDownload, DailyUpload: p.DailyUpload,
		Groupware: p.Groupware, NonMailFolders: slices.Clone(p.NonMail), ReservedFolders: slices.Clone(p.Reserved),
		CaseSensitiveFolders: p.CaseSensitive,
	}
	if eff.Security == "" {
		eff.Security = string(imapconn.SecurityStartTLS)
		if eff.Port == 993 {
			eff.Security = string(imapconn.SecurityTLS)
		}
	}
	if eff.Port == 0 {
		eff.Port = 143
		if eff.Security == string(imapconn.SecurityTLS) {
			eff.Port = 993
		}
	}
	if e.Credentials == CredentialsAdmin {
		eff.AdminFormat = p.AdminFormat
		if eff.AdminFormat == "" {
			eff.AdminFormat = AdminAuthzid
		}
	}
	if eff.MaxConcurrentMigrations == 0 {
		eff.MaxConcurrentMigrations = DefaultMaxConcurrentMigrations
	}
	if eff.MaxConcurrentIncrementalSyncs == 0 {
		eff.MaxConcurrentIncrementalSyncs = min(DefaultMaxConcurrentIncrementalSyncs, eff.MaxConcurrentMigrations)
	}
	if eff.ConnectionsPerMailbox == 0 {
		eff.ConnectionsPerMailbox = provider.DefaultConnections
	}
	if eff.MaxMessageSize == 0 {
		eff.MaxMessageSize = mailsync.DefaultMaxMessageSize
	}
	return eff
}

// EffectiveSettings is what an endpoint's profile and settings come to:
// its Effective, as the service computes it.
func EffectiveSettings(e Endpoint) (*EndpointSettings, error) {
	p, err := e.merged()
	if err != nil {
		return nil, err
	}
	return e.settings(p), nil
}

// resolve readies an endpoint read from the database for use: public
// keeps the settings as the admin gave them, with Effective, for the API;
// the embedded Endpoint's server, admin format and caps become the
// effective ones, which the logins and the lease counts read.
func (e *endpoint) resolve() error {
	p, err := e.merged()
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", e.Name, err)
	}
	eff := e.settings(p)
	e.prof = p
	e.public = e.Endpoint
	e.public.Effective = eff
	e.Host, e.Port, e.Security = eff.Host, eff.Port, eff.Security
	if e.Credentials == CredentialsAdmin {
		e.AdminFormat = eff.AdminFormat
	}
	e.MaxConcurrentMigrations, e.MaxConcurrentIncrementalSyncs = eff.MaxConcurrentMigrations, eff.MaxConcurrentIncrementalSyncs
	return nil
}

// passRules are the folder rules and the largest message of a pass from
// src to dst under the batch's options: the two profiles' folder rules
// (the source's non-mail folders, the destination's reserved names and
// case rule) around the batch's include and exclude patterns, and the
// batch's size limit, else the destination's.
func passRules(o BatchOptions, src, dst *endpoint) (folder.Rules, int64) {
	rules := provider.FolderRules(src.prof, dst.prof, folder.Rules{Include: o.IncludeFolders, Exclude: o.ExcludeFolders})
	size := o.MaxMessageSize
	if size == 0 {
		size = dst.public.Effective.MaxMessageSize
	}
	return rules, size
}
