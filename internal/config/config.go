// Package config holds the settings of the imapmigrate service (serve and
// worker): where its data lives, which database it uses, how much work it
// takes on at once, and how it logs.
//
// Settings come from three places, each overriding the one before:
//
//  1. an optional TOML file (Load's path),
//  2. environment variables IMAPMIGRATE_<KEY>, the key in upper snake case
//     (IMAPMIGRATE_JOB_SLICE for job_slice),
//  3. command line flags --<key> in kebab case (--job-slice); see Flags.
//
// Secrets never live in the file. Mailbox passwords are sealed in the
// database (package secret), the key that seals them is in SecretKeyFile or
// IMAPMIGRATE_SECRET_KEY, the admin token is in TokenFile, and the SMTP
// password in SMTP.PasswordFile or IMAPMIGRATE_SMTP_PASSWORD, so the config
// file can be shared, checked in or printed (use Redacted for the database
// URL, which may carry a PostgreSQL password).
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the service's settings. Start from Default or Load; the zero
// value does not validate.
type Config struct {
	// Data is the data directory: SQLite database, secret key file, admin token. Defaults to $XDG_DATA_HOME/imapmigrate (else ~/.local/share/imapmigrate).
	Data string `toml:"data"`
	// Database is "" for the embedded SQLite file <Data>/imapmigrate.db, or a postgres:// or postgresql:// URL.
	Database string `toml:"database"`
	// Listen is the address of the web console and REST API. Defaults to
	// 127.0.0.1:8080, reachable from this machine only.
	Listen string `toml:"listen"`
	// Workers is how many mailboxes this process migrates at once. Defaults
	// to 10.
	Workers int `toml:"workers"`
	// Connections is the connections per side per mailbox. Defaults to 4;
	// most servers limit a user to 10 to 20 connections in all.
	Connections int `toml:"connections"`
	// JobSlice is the longest stretch one job works on a mailbox before it
	// hands over to a fresh job, so one huge mailbox cannot hold a worker
	// while others wait. Defaults to 5m.
	JobSlice Duration `toml:"job_slice"`
	// LeaseTTL is how long a dead worker's claim on a mailbox and an
	// endpoint slot lasts. Defaults to 30s.
	LeaseTTL Duration `toml:"lease_ttl"`
	// Poll is the scheduler period. Defaults to 2s.
	Poll Duration `toml:"poll"`
	// BlockedRetry is how long a user Blocked by a full destination
	// mailbox waits before it is tried again by itself (retry-failed and
	// sync-now try at once): the admin has to raise the quota first, and
	// trying sooner only costs the server logins. Defaults to 1h.
	BlockedRetry Duration `toml:"blocked_retry"`
	// StaleAfter is how long a Synced batch may go without an admin
	// action (start, sync now, complete, users added...) before the API
	// and the console flag it as stale: incremental syncs for weeks are
	// usually a batch someone forgot to complete. Only a flag: the batch
	// goes on syncing. Defaults to 14 days (336h).
	StaleAfter Duration `toml:"stale_after"`
	// LogFormat is "json", "text" or "" (auto: text on a terminal, json
	// otherwise).
	LogFormat string `toml:"log_format"`
	// LogLevel is trace, debug, info (the default), warn or error. trace
	// is debug plus the IMAP transcript of every connection, passwords and
	// SASL payloads replaced by *** and message bodies by their size.
	LogLevel string `toml:"log_level"`
	// DNSResolver is the DNS server (HOST, or HOST:PORT; port 53 by
	// default) that the cut-over checks ask: batch dns, and complete
	// --after-mx-switch. Empty means the first nameserver of
	// /etc/resolv.conf. A domain's own name server gives its TTLs as
	// configured, a caching resolver what is left of them.
	DNSResolver string `toml:"dns_resolver"`
	// DNSCheckInterval is how often the scheduler checks the MX records of
	// a batch waiting to complete after its MX switch. Defaults to 5m.
	DNSCheckInterval Duration `toml:"dns_check_interval"`
	// SecretKeyFile holds the key that seals stored passwords. Defaults to
	// <Data>/secret.key.
	SecretKeyFile string `toml:"secret_key_file"`
	// TokenFile holds the admin token for the API. Defaults to
	// <Data>/admin.token.
	TokenFile string `toml:"token_file"`
	// SMTP is the mail server for notifications and welcome letters; see
	// SMTP. Off by default.
	SMTP SMTP `toml:"smtp"`
}

// Default returns the settings used when nothing else is said, with the
// data directory taken from this process's environment.
func Default() Config {
	c := defaults(os.Getenv)
	c.derive()
	return c
}

// defaults is Default without the paths derived from Data, which are only
// filled in once Data is final.
func defaults(getenv func(string) string) Config {
	return Config{
		Data:             DefaultData(getenv),
		Listen:           "127.0.0.1:8080",
		Workers:          10,
		Connections:      4,
		JobSlice:         Duration{5 * time.Minute},
		LeaseTTL:         Duration{30 * time.Second},
		Poll:             Duration{2 * time.Second},
		BlockedRetry:     Duration{time.Hour},
		StaleAfter:       Duration{14 * 24 * time.Hour},
		LogLevel:         "info",
		DNSCheckInterval: Duration{5 * time.Minute},
		SMTP:             defaultSMTP(),
	}
}

// DefaultData is the data directory when none is given:
// $XDG_DATA_HOME/imapmigrate, else ~/.local/share/imapmigrate; a relative
// XDG_DATA_HOME is ignored, as the XDG Base Directory specification says.
// It is "" without a home either (a service without HOME); Validate then
// asks for a data directory. The CLI's remote commands look for the admin
// token there too.
func DefaultData(getenv func(string) string) string {
	if x := getenv("XDG_DATA_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "imapmigrate")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "imapmigrate")
	}
	return ""
}

func (c *Config) derive() {
	if c.Data == "" {
		return
	}
	if c.SecretKeyFile == "" {
		c.SecretKeyFile = filepath.Join(c.Data, "secret.key")
	}
	if c.TokenFile == "" {
		c.TokenFile = filepath.Join(c.Data, "admin.token")
	}
}

// Load reads the file at path (skipped when path is ""; an error when the
// named file does not exist or has unknown keys, which are reported by
// name), then applies environment overrides found with getenv
// (IMAPMIGRATE_DATA, IMAPMIGRATE_DATABASE, IMAPMIGRATE_LISTEN,
// IMAPMIGRATE_WORKERS, IMAPMIGRATE_CONNECTIONS, IMAPMIGRATE_JOB_SLICE,
// IMAPMIGRATE_LEASE_TTL, IMAPMIGRATE_POLL, IMAPMIGRATE_BLOCKED_RETRY,
// IMAPMIGRATE_STALE_AFTER, IMAPMIGRATE_LOG_FORMAT,
// IMAPMIGRATE_LOG_LEVEL, IMAPMIGRATE_DNS_RESOLVER,
// IMAPMIGRATE_DNS_CHECK_INTERVAL, IMAPMIGRATE_SECRET_KEY_FILE,
// IMAPMIGRATE_TOKEN_FILE, and IMAPMIGRATE_SMTP_<KEY> for the [smtp] table:
// IMAPMIGRATE_SMTP_HOST...), then fills derived defaults (SecretKeyFile,
// TokenFile from Data) and reads the SMTP password (IMAPMIGRATE_SMTP_PASSWORD,
// else smtp.password_file). A bad env value is an error naming the variable.
// An empty variable counts as unset.
//
// getenv is os.Getenv in production, or the function Flags returns so that
// flags win over the environment. It also supplies XDG_DATA_HOME and HOME
// for the default data directory. Load does not validate; call Validate.
func Load(path string, getenv func(string) string) (Config, error) {
	c := defaults(getenv)
	if path != "" {
		if err := c.readFile(path); err != nil {
			return Config{}, err
		}
	}
	for _, s := range settings {
		v := strings.TrimSpace(getenv(s.env()))
		if v == "" {
			continue
		}
		if err := set(s.field(&c), v); err != nil {
			return Config{}, fmt.Errorf("environment variable %s: %w", s.env(), err)
		}
	}
	c.derive()
	if err := c.SMTP.loadPassword(getenv); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c *Config) readFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config file: %w", err)
	}
	md, err := toml.Decode(string(b), c)
	if err != nil {
		return fmt.Errorf("read config file %s: %w", path, err)
	}
	if err := unknownKeys(md.Undecoded()); err != nil {
		return fmt.Errorf("read config file %s: %w", path, err)
	}
	return nil
}

// secretWords mark keys that look like someone tried to put a credential in
// the file. The message then says where credentials go instead.
var secretWords = []string{"password", "passwd", "pass", "pwd", "token", "secret", "key", "credential", "auth"}

// unknownKeys turns the keys the decoder did not use into one error naming
// each of them. Only the outermost unknown key of a table is named; keys
// inside it are still checked for secrets.
func unknownKeys(undecoded []toml.Key) error {
	if len(undecoded) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var names, secrets []string
	for _, k := range undecoded {
		name := k.String()
		seen[name] = true
		if len(k) == 1 || !seen[k[:len(k)-1].String()] {
			names = append(names, fmt.Sprintf("%q", name))
		}
		if looksSecret(k[len(k)-1]) {
			secrets = append(secrets, fmt.Sprintf("%q", name))
		}
	}
	known := make([]string, len(settings))
	for i, s := range settings {
		known[i] = s.key
	}
	msg := fmt.Sprintf("unknown key %s (known keys: %s)", strings.Join(names, ", "), strings.Join(known, ", "))
	if len(names) > 1 {
		msg = "unknown keys" + msg[len("unknown key"):]
	}
	if len(secrets) > 0 {
		look := "looks like a secret"
		if len(secrets) > 1 {
			look = "look like secrets"
		}
		msg += fmt.Sprintf("; %s %s, and the config file must not hold secrets: "+
			"mailbox passwords are stored encrypted with each batch or endpoint, the encryption key is in "+
			"secret_key_file or IMAPMIGRATE_SECRET_KEY, the admin token in token_file, "+
			"the SMTP password in smtp.password_file or "+envSMTPPassword,
			strings.Join(secrets, ", "), look)
	}
	return errors.New(msg)
}

func looksSecret(key string) bool {
	key = strings.ToLower(key)
	return slices.ContainsFunc(secretWords, func(w string) bool { return strings.Contains(key, w) })
}

// IsPostgres reports whether Database is a PostgreSQL URL.
func (c Config) IsPostgres() bool {
	d := strings.ToLower(c.Database)
	return strings.HasPrefix(d, "postgres://") || strings.HasPrefix(d, "postgresql://")
}

// DatabasePath is the SQLite file path when not Postgres, and "" for
// Postgres.
func (c Config) DatabasePath() string {
	if c.IsPostgres() {
		return ""
	}
	return filepath.Join(c.Data, "imapmigrate.db")
}

// Redacted returns a copy safe to print: the password in a postgres URL
// replaced by "xxxxx" (net/url's Redacted), and so is a password given as a
// "password" query parameter, which libpq and pgx also accept. A URL that
// does not parse is hidden whole, since where its password is cannot be
// told.
func (c Config) Redacted() Config {
	if c.Database == "" {
		return c
	}
	u, err := url.Parse(c.Database)
	if err != nil {
		c.Database = "xxxxx"
		return c
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	c.Database = u.Redacted()
	return c
}
