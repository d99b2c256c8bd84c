package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// setting ties one Config field to its TOML key, environment variable and
// flag, so the three cannot drift apart.
type setting struct {
	key   string              // TOML key, "table.key" inside a table; the variable and flag are made from it
	usage string              // flag help
	field func(c *Config) any // the field: *string, *int, *bool or *Duration
}

var settings = []setting{
	{"data", "data directory: SQLite database, secret key file, admin token", func(c *Config) any { return &c.Data }},
	{"database", `"" for SQLite in the data directory, or a postgres:// URL`, func(c *Config) any { return &c.Database }},
	{"listen", "address of the web console and API", func(c *Config) any { return &c.Listen }},
	{"workers", "mailboxes this process migrates at once", func(c *Config) any { return &c.Workers }},
	{"connections", "connections per side per mailbox (1 to 32)", func(c *Config) any { return &c.Connections }},
	{"job_slice", "longest stretch one job works on a mailbox", func(c *Config) any { return &c.JobSlice }},
	{"lease_ttl", "how long a dead worker's claim lasts", func(c *Config) any { return &c.LeaseTTL }},
	{"poll", "scheduler period", func(c *Config) any { return &c.Poll }},
	{"blocked_retry", "how long a user blocked by a full destination mailbox waits before it is tried again", func(c *Config) any { return &c.BlockedRetry }},
	{"stale_after", "how long a synced batch may go without an admin action before it is flagged as stale", func(c *Config) any { return &c.StaleAfter }},
	{"log_format", `"json", "text", or "" for text on a terminal and json otherwise`, func(c *Config) any { return &c.LogFormat }},
	{"log_level", "trace (debug and the IMAP transcript, passwords redacted), debug, info, warn or error", func(c *Config) any { return &c.LogLevel }},
	{"dns_resolver", "DNS server (HOST or HOST:PORT) for the cut-over checks (default: the first nameserver of /etc/resolv.conf)", func(c *Config) any { return &c.DNSResolver }},
	{"dns_check_interval", "how often a batch waiting for its MX switch has its domains checked", func(c *Config) any { return &c.DNSCheckInterval }},
	{"secret_key_file", "file with the key that encrypts stored passwords (default <data>/secret.key)", func(c *Config) any { return &c.SecretKeyFile }},
	{"token_file", "file with the admin token (default <data>/admin.token)", func(c *Config) any { return &c.TokenFile }},
	{"smtp.host", "SMTP server for notifications and welcome letters (none: no mail)", func(c *Config) any { return &c.SMTP.Host }},
	{"smtp.port", "SMTP port (0: 465 for tls, 587 for starttls, 25 for none)", func(c *Config) any { return &c.SMTP.Port }},
	{"smtp.security", "tls, starttls (never falls back to clear text) or none", func(c *Config) any { return &c.SMTP.Security }},
	{"smtp.username", "SMTP login (none: send without logging in)", func(c *Config) any { return &c.SMTP.Username }},
	{"smtp.password_file", "file with the SMTP password (or env " + envSMTPPassword + ")", func(c *Config) any { return &c.SMTP.PasswordFile }},
	{"smtp.from", `sender of notifications, e.g. "Migration team <migration@example.com>"`, func(c *Config) any { return &c.SMTP.From }},
	{"smtp.ca_file", "PEM file of the CA that signed the SMTP server's certificate", func(c *Config) any { return &c.SMTP.CAFile }},
	{"smtp.insecure_skip_verify", "do not verify the SMTP server's certificate", func(c *Config) any { return &c.SMTP.InsecureSkipVerify }},
	{"smtp.timeout", "SMTP timeout for each step of a delivery", func(c *Config) any { return &c.SMTP.Timeout }},
}

// env and flag turn "smtp.ca_file" into IMAPMIGRATE_SMTP_CA_FILE and
// --smtp-ca-file.
func (s setting) env() string {
	return "IMAPMIGRATE_" + strings.ToUpper(strings.ReplaceAll(s.key, ".", "_"))
}
func (s setting) flag() string { return strings.NewReplacer("_", "-", ".", "-").Replace(s.key) }

// set parses v into the field ptr points at.
func set(ptr any, v string) error {
	switch p := ptr.(type) {
	case *string:
		*p = v
	case *int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*p = b
	case *Duration:
		return p.UnmarshalText([]byte(v))
	default:
		panic(fmt.Sprintf("config: setting of type %T", ptr))
	}
	return nil
}

// get formats the field ptr points at for flag help.
func get(ptr any) string {
	switch p := ptr.(type) {
	case *string:
		return *p
	case *int:
		return strconv.Itoa(*p)
	case *bool:
		return strconv.FormatBool(*p)
	case *Duration:
		return p.String()
	}
	panic(fmt.Sprintf("config: setting of type %T", ptr))
}

// Flags adds a flag for each setting to fs (--data, --database, --listen,
// --workers, --connections, --job-slice, --lease-ttl, --poll, --blocked-retry, --stale-after, --log-format,
// --log-level, --dns-resolver, --dns-check-interval, --secret-key-file, --token-file, --smtp-host, --smtp-port,
// --smtp-security, --smtp-username, --smtp-password-file, --smtp-from,
// --smtp-ca-file, --smtp-insecure-skip-verify, --smtp-timeout; never one for
// a password) and returns the getenv to hand to Load after fs is parsed:
//
//	getenv := config.Flags(cmd.Flags(), os.Getenv)
//	// ... cobra parses the flags ...
//	cfg, err := config.Load(path, getenv)
//
// The returned function answers IMAPMIGRATE_* with the value of a flag given
// on the command line and asks getenv otherwise, so flags win over the
// environment, which wins over the file. Going through Load keeps one
// place that fills in the defaults derived from the data directory: with
// --data alone, the key and token files follow it. Flag values are checked
// while parsing, so a bad one is reported with the flag's name. As with a
// variable, an empty value counts as not given.
func Flags(fs *pflag.FlagSet, getenv func(string) string) func(string) string {
	given := map[string]string{}
	// Without the derived paths: their help says how they follow --data.
	def := defaults(os.Getenv)
	for _, s := range settings {
		fs.Var(&flagValue{s: s, given: given}, s.flag(), fmt.Sprintf("%s (env %s)", s.usage, s.env()))
		f := fs.Lookup(s.flag())
		f.DefValue = get(s.field(&def))
		if _, ok := s.field(&def).(*bool); ok {
			// --smtp-insecure-skip-verify alone means true.
			f.NoOptDefVal = "true"
		}
	}
	return func(name string) string {
		if v, ok := given[name]; ok {
			return v
		}
		return getenv(name)
	}
}

// flagValue is a pflag.Value that checks a flag's value and keeps it for
// the getenv Flags returns.
type flagValue struct {
	s     setting
	given map[string]string
	value string
}

func (f *flagValue) String() string { return f.value }

func (f *flagValue) Set(v string) error {
	var scratch Config
	if err := set(f.s.field(&scratch), strings.TrimSpace(v)); err != nil {
		return err
	}
	f.value = v
	f.given[f.s.env()] = v
	return nil
}

func (f *flagValue) Type() string {
	switch f.s.field(&Config{}).(type) {
	case *int:
		return "int"
	case *bool:
		return "bool"
	case *Duration:
		return "duration"
	}
	return "string"
}
