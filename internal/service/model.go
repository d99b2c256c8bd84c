package service

import (
	"errors"
	"fmt"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/batch"
)

// Errors the API maps to HTTP statuses.
var (
	ErrNotFound = errors.New("not found")     // 404
	ErrConflict = errors.New("conflict")      // 409: exists, in use, or not allowed in this state
	ErrInvalid  = errors.New("invalid input") // 422
	// ErrRemote: an IMAP server refused (a login, a command) or could not
	// be reached. The error's message is for the admin: it names the side,
	// the address and the user, and quotes the server (502).
	ErrRemote = errors.New("imap server refused or unreachable")
)

// remoteError marks an error as the IMAP server's doing without changing
// its message: errors.Is finds both ErrRemote and the cause.
type remoteError struct{ err error }

func (e *remoteError) Error() string   { return e.err.Error() }
func (e *remoteError) Unwrap() []error { return []error{e.err, ErrRemote} }

// CSVError lists every problem found in a CSV file. It wraps ErrInvalid.
type CSVError struct {
	Problems []batch.Problem
}

func (e *CSVError) Error() string {
	if len(e.Problems) == 0 {
		return "the CSV file has problems"
	}
	return fmt.Sprintf("the CSV file has %d problem(s); first: %v", len(e.Problems), e.Problems[0])
}

func (e *CSVError) Unwrap() error { return ErrInvalid }

// Endpoint states one IMAP server that batches migrate from or to. Its
// admin password is write-only: it goes in through EndpointSpec and never
// comes out of the service.
type Endpoint struct {
	Name     string `json:"name"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Security string `json:"security"` // tls, starttls or none
	// AuthMechanism is "auto" (SASL PLAIN when offered, else LOGIN),
	// "plain" or "login"; with OAuth, "auto" (OAUTHBEARER when offered,
	// else XOAUTH2), "xoauth2" or "oauthbearer".
	AuthMechanism string `json:"auth_mechanism"`
	// Credentials is "per_user" (each user's login from the CSV),
	// "admin" (the admin logs in for every user, as AdminFormat says) or
	// "oauth" (tokens, see OAuth; set by the service when OAuth is).
	Credentials string `json:"credentials"`
	// AdminFormat says how an admin login names the user: "authzid" (SASL
	// PLAIN with the user as authorization identity), "dovecot"
	// ("user*admin"), "exchange" ("Domain/Admin/User"), or "template".
	AdminFormat string `json:"admin_format,omitempty"`
	// AdminTemplate is the login name for AdminFormat "template", with
	// {user}, {admin} and {domain} replaced, e.g. "{user}*{admin}".
	AdminTemplate string `json:"admin_template,omitempty"`
	AdminUser     string `json:"admin_user,omitempty"`
	// AdminDomain is the Windows domain of an "exchange" admin login.
	AdminDomain        string `json:"admin_domain,omitempty"`
	HasAdminPassword   bool   `json:"has_admin_password"`
	CAFile             string `json:"ca_file,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
	// CertSHA256 pins the server's certificate by the SHA-256 fingerprint
	// of its DER form (hex, colons allowed, as openssl x509 -fingerprint
	// -sha256 prints it): that certificate is trusted, self-signed or not,
	// and no other. It excludes InsecureSkipVerify and CAFile. Empty means
	// no pin.
	CertSHA256 string `json:"cert_sha256,omitempty"`
	// MaxConcurrentMigrations caps the mailboxes being migrated through
	// this endpoint at once, across all workers (default 20).
	MaxConcurrentMigrations int `json:"max_concurrent_migrations"`
	// MaxConcurrentIncrementalSyncs caps, within that, the incremental
	// syncs (default 10).
	MaxConcurrentIncrementalSyncs int `json:"max_concurrent_incremental_syncs"`
	// SourceConnections and DestConnections are how many connections per
	// mailbox the service opens to this server now, as a source and as a
	// destination: Config.Connections, halved at each throttling answer of
	// the server and won back one at a time after throttle-free passes
	// (see adjustConnections). Read-only: set by the service, ignored when
	// given.
	SourceConnections int       `json:"source_connections"`
	DestConnections   int       `json:"destination_connections"`
	Created           time.Time `json:"created"`
	// Profile names the kind of server (package provider: gmail,
	// office365, exchange, dovecot, ...); empty is generic. Its defaults
	// fill what is left unset here: host, port and security, the admin
	// login format, the mailboxes at once, the connections per mailbox,
	// the largest message and the folder rules. Effective shows the
	// result.
	Profile string `json:"profile,omitempty"`
	// MaxMessageSize is the largest message the server takes as a
	// destination, in bytes; 0 means the profile's (35 MiB for most). A
	// batch's own max_message_size wins.
	MaxMessageSize int64 `json:"max_message_size,omitempty"`
	// OAuth, when set, logs every user in with an OAuth 2.0 token (SASL
	// OAUTHBEARER or XOAUTH2) instead of a password, and Credentials is
	// "oauth". See EndpointOAuth.
	OAuth *EndpointOAuth `json:"oauth,omitempty"`
	// Effective is what the service uses: the profile's defaults with the
	// settings above laid over them (see resolve). Read-only.
	Effective *EndpointSettings `json:"effective,omitempty"`
}

// EndpointSpec is what an admin gives to add or change an endpoint.
// Zero fields take the defaults of Endpoint.
type EndpointSpec struct {
	Endpoint
	// AdminPassword is stored encrypted. On an update, empty keeps the
	// stored one.
	AdminPassword string `json:"admin_password,omitempty"`
	// The OAuth secrets, stored encrypted like AdminPassword and never
	// returned: OAuthClientSecret for microsoft (or refresh, when the
	// client has one), OAuthPrivateKey the PEM private key of
	// OAuth.Certificate (microsoft), OAuthServiceAccountKey a Google
	// service account's JSON key (google). On an update, empty keeps the
	// stored one.
	OAuthClientSecret      string `json:"oauth_client_secret,omitempty"`
	OAuthPrivateKey        string `json:"oauth_private_key,omitempty"`
	OAuthServiceAccountKey string `json:"oauth_service_account_key,omitempty"`
}

// EndpointTest is what `endpoint test` found on the server.
type EndpointTest struct {
	Endpoint     string   `json:"endpoint"`
	User         string   `json:"user"`
	Capabilities []string `json:"capabilities"`
	// Namespaces lists the personal, other users' and shared namespaces
	// as "prefix" with their separator.
	Namespaces []Namespace `json:"namespaces"`
	Separator  string      `json:"separator"`
	Folders    int         `json:"folders"`
	Elapsed    float64     `json:"elapsed_seconds"`
}

// Namespace is one IMAP namespace (RFC 2342).
type Namespace struct {
	Kind      string `json:"kind"` // personal, other, shared
	Prefix    string `json:"prefix"`
	Separator string `json:"separator"`
}

// Batch states, in Exchange's words.
const (
	BatchCreated          = "Created"
	BatchSyncing          = "Syncing"
	BatchSynced           = "Synced"
	BatchSyncedWithErrors = "SyncedWithErrors"
	BatchCompleting       = "Completing"
	BatchCompleted        = "Completed"
	BatchStopping         = "Stopping"
	BatchStopped          = "Stopped"
	BatchFailed           = "Failed"
	BatchRemoving         = "Removing"

	// BatchScheduled is a batch started before its start-after time: it
	// waits, users Queued, and the scheduler starts it (Syncing) at that
	// time, as Exchange's -StartAfter does.
	BatchScheduled = "Scheduled"
)

// Migration user states.
const (
	UserQueued             = "Queued"
	UserValidating         = "Validating"
	UserSyncing            = "Syncing"
	UserSynced             = "Synced"
	UserIncrementalSyncing = "IncrementalSyncing"
	UserCompleting         = "Completing"
	UserCompleted          = "Completed"
	UserFailed             = "Failed"
	UserStopped            = "Stopped"
	// UserBlocked waits for the admin: the destination mailbox is full
	// (or, on Exchange, answers every APPEND "Server Unavailable", which is
	// how it says so). Nothing is retried in a loop: the user is tried
	// again every Config.BlockedRetry, or at once with RetryFailed or
	// SyncNow, and goes on by itself once the quota is raised. For its
	// batch it counts as a failed user does (SyncedWithErrors), except
	// that a batch of only Blocked and Failed users is SyncedWithErrors,
	// not Failed, so that the retries go on.
	UserBlocked = "Blocked"
)

// BatchOptions are the per-batch migration settings.
type BatchOptions struct {
	IncludeFolders []string `json:"include_folders,omitempty"`
	ExcludeFolders []string `json:"exclude_folders,omitempty"`
	// MaxMessageSize in bytes; 0 means the destination endpoint's (its
	// profile's unless set: 35 MiB for most, 34 MiB for Gmail).
	MaxMessageSize int64 `json:"max_message_size"`
	// MaxItems per mailbox; 0 means the default of 500,000.
	MaxItems int `json:"max_items"`
	// ReceivedAfter, when set, leaves out messages received before it.
	ReceivedAfter *time.Time `json:"received_after,omitempty"`
	// DisarmReadReceipts adds $MDNSent to copied messages that ask for a
	// read receipt (mailsync.Options.DisarmReadReceipts): Office 365 as a
	// destination can otherwise offer receipts for old mail again.
	DisarmReadReceipts bool `json:"disarm_read_receipts,omitempty"`
	// GmailLabels is mailsync.Options.GmailLabels for a Gmail source:
	// "folders" (or empty, the default) or "keywords" (All Mail only,
	// labels as keywords).
	GmailLabels string `json:"gmail_labels,omitempty"`
	// StartAfter, when set, holds a started batch Scheduled until that
	// time (see BatchScheduled). Stored in UTC.
	StartAfter *time.Time `json:"start_after,omitempty"`
	// CompleteAfter, when set, completes the batch at that time once it is
	// synced. Stored in UTC.
	CompleteAfter *time.Time `json:"complete_after,omitempty"`
	// TimeZone is the IANA zone (Europe/Paris) the admin gave the times
	// in: they are shown in it. Empty shows them in UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// NotificationEmails receive the batch's reports by mail (see
	// notify.go): initial sync over, incremental rounds with errors,
	// completion.
	NotificationEmails []string `json:"notification_emails,omitempty"`
	// Welcome is the batch's welcome letter (see welcome.go); nil means
	// the default letter, sent only when the admin asks.
	Welcome *WelcomeOptions `json:"welcome,omitempty"`
	// IncrementalInterval between incremental syncs, in seconds; 0 means
	// 24 hours.
	IncrementalIntervalSeconds int64 `json:"incremental_interval_seconds"`
	// ExpectMX names the destination's MX hosts, which the MX records of
	// the batch's domains should point at after the cut-over (see
	// BatchDNS): a host name, or "*.SUFFIX" for any host under SUFFIX
	// (Microsoft 365's "*.mail.protection.outlook.com").
	ExpectMX []string `json:"expect_mx,omitempty"`
}

// BatchSpec is what an admin gives to create a batch.
type BatchSpec struct {
	Name           string       `json:"name"`
	SourceEndpoint string       `json:"source_endpoint"`
	DestEndpoint   string       `json:"destination_endpoint"`
	CSV            string       `json:"csv"`
	Options        BatchOptions `json:"options"`
	// Start starts the batch as soon as it is created.
	Start bool `json:"start"`
	// DryRun validates and returns the plan without creating anything.
	DryRun bool `json:"dry_run"`
}

// Batch is a batch with its users' figures added up.
type Batch struct {
	Name           string       `json:"name"`
	SourceEndpoint string       `json:"source_endpoint"`
	DestEndpoint   string       `json:"destination_endpoint"`
	State          string       `json:"state"`
	Options        BatchOptions `json:"options"`
	Created        time.Time    `json:"created"`
	Started        *time.Time   `json:"started,omitempty"`
	Completed      *time.Time   `json:"completed,omitempty"`
	// LastSync is when the last user finished a sync; NextSync when the
	// next incremental sync is due.
	LastSync *time.Time  `json:"last_sync,omitempty"`
	NextSync *time.Time  `json:"next_sync,omitempty"`
	Totals   BatchTotals `json:"totals"`
	// Cutover is set while the batch waits to complete after the MX
	// switch (CompleteOptions.AfterMXSwitch).
	Cutover *Cutover `json:"cutover,omitempty"`
	// LastAction is when the admin last acted on the batch (created it,
	// started, stopped, synced now, completed, added or retried users).
	LastAction time.Time `json:"last_action"`
	// Stale is set on a Synced (or SyncedWithErrors) batch with no action
	// since StaleSince for longer than the service's StaleAfter: it keeps
	// syncing, but someone should complete or remove it.
	Stale      bool       `json:"stale"`
	StaleSince *time.Time `json:"stale_since,omitempty"`
}

// BatchTotals adds up a batch's users.
type BatchTotals struct {
	Users        int            `json:"users"`
	UsersByState map[string]int `json:"users_by_state"`
	ItemsSynced  int64          `json:"items_synced"`
	ItemsSkipped int64          `json:"items_skipped"`
	ItemsFailed  int64          `json:"items_failed"`
	Bytes        int64          `json:"bytes"`
	// ItemsToCopy and ItemsCopied are the running pass's, for progress bars.
	ItemsToCopy int64 `json:"items_to_copy"`
	ItemsCopied int64 `json:"items_copied"`
}

// BatchPlan is what `batch create --dry-run` returns: the users a batch
// would have, without credentials.
type BatchPlan struct {
	Name  string     `json:"name"`
	Users []PlanUser `json:"users"`
}

// PlanUser is one row of a BatchPlan.
type PlanUser struct {
	Line            int    `json:"line"`
	EmailAddress    string `json:"email_address"`
	SourceLogin     string `json:"source_login"`
	DestinationUser string `json:"destination_user"`
	UserRoot        string `json:"user_root,omitempty"`
}

// User is one migration user (one mailbox) of a batch. Passwords never
// appear here.
type User struct {
	Batch        string `json:"batch"`
	EmailAddress string `json:"email_address"`
	SourceUser   string `json:"source_user"`
	DestUser     string `json:"destination_user"`
	UserRoot     string `json:"user_root,omitempty"`
	Status       string `json:"status"`
	// ItemsSynced is the number of source messages at the destination.
	ItemsSynced  int64            `json:"items_synced"`
	ItemsSkipped int64            `json:"items_skipped"`
	SkippedBy    map[string]int64 `json:"skipped_by_reason"`
	ItemsFailed  int64            `json:"items_failed"`
	Bytes        int64            `json:"bytes"`
	// ItemsToCopy and ItemsCopied are the current (or last) pass's.
	ItemsToCopy int64      `json:"items_to_copy"`
	ItemsCopied int64      `json:"items_copied"`
	LastSync    *time.Time `json:"last_successful_sync,omitempty"`
	NextSync    *time.Time `json:"next_sync,omitempty"`
	// Duration of the last pass, in seconds.
	Duration  float64 `json:"duration_seconds"`
	LastError string  `json:"last_error,omitempty"`
	// ThrottledUntil is set while the user waits after a throttling answer.
	ThrottledUntil *time.Time `json:"throttled_until,omitempty"`
	// Grade is the consistency grade: from the last verification when one
	// ran, else from the sync statistics (see GradeUser).
	Grade UserGrade `json:"grade"`
	// Verification is the last verification asked for, if any; its
	// Details only with the user's details (user status, report).
	Verification *Verification `json:"verification,omitempty"`
	// Errors is the error history, newest first (at most 50 are kept).
	Errors       []ErrorEvent `json:"error_history,omitempty"`
	Folders      []Folder     `json:"folders,omitempty"`
	SkippedItems []Item       `json:"skipped_items,omitempty"`
	FailedItems  []Item       `json:"failed_items,omitempty"`
}

// ErrorEvent is one error in a user's history.
type ErrorEvent struct {
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// Folder is one source folder's figures, from the last pass.
type Folder struct {
	Source      string         `json:"source"`
	Destination string         `json:"destination,omitempty"`
	Status      string         `json:"status"`
	SourceCount int            `json:"source_count"`
	DestCount   int            `json:"destination_count"`
	Copied      int            `json:"copied"`
	Skipped     map[string]int `json:"skipped,omitempty"`
	Failed      int            `json:"failed"`
	Bytes       int64          `json:"bytes"`
	Error       string         `json:"error,omitempty"`
}

// Item is a message that was skipped or failed.
type Item struct {
	Folder  string    `json:"folder"`
	UID     uint32    `json:"uid"`
	Date    time.Time `json:"date"`
	Subject string    `json:"subject"`
	Size    int64     `json:"size"`
	Reason  string    `json:"reason"`
	Detail  string    `json:"detail,omitempty"`
}
