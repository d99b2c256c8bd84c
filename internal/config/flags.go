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
	key   string              // TOML key; the variable and flag are made from it
	usage string              // flag help
	field func(c *Config) any // the field: *string, *int or *Duration
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
	{"log_format", `"json", "text", or "" for text on a terminal and json otherwise`, func(c *Config) any { return &c.LogFormat }},
	{"log_level", "debug, info, warn or error", func(c *Config) any { return &c.LogLevel }},
	{"secret_key_file", "file with the key that encrypts stored passwords (default <data>/secret.key)", func(c *Config) any { return &c.SecretKeyFile }},
	{"token_file", "file with the admin token (default <data>/admin.token)", func(c *Config) any { return &c.TokenFile }},
}

func (s setting) env() string  { return "IMAPMIGRATE_" + strings.ToUpper(s.key) }
func (s setting) flag() string { return strings.ReplaceAll(s.key, "_", "-") }

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
	case *Duration:
		return p.String()
	}
	panic(fmt.Sprintf("config: setting of type %T", ptr))
}

// Flags adds a flag for each setting to fs (--data, --database, --listen,
// --workers, --connections, --job-slice, --lease-ttl, --poll, --log-format,
// --log-level, --secret-key-file, --token-file) and returns the getenv to
// hand to Load after fs is parsed:
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
		fs.Lookup(s.flag()).DefValue = get(s.field(&def))
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
	case *Duration:
		return "duration"
	}
	return "string"
}
