package config_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// MustWriteFile writes a config file into a fresh directory and returns its
// path.
func MustWriteFile(tb testing.TB, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "imapmigrate.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func dur(d time.Duration) config.Duration { return config.Duration{Duration: d} }

// base is what Load gives with HOME=/home/u and nothing else set.
func base() config.Config {
	return config.Config{
		Data:             "/home/u/.local/share/imapmigrate",
		Listen:           "127.0.0.1:8080",
		Workers:          10,
		Connections:      4,
		JobSlice:         dur(5 * time.Minute),
		LeaseTTL:         dur(30 * time.Second),
		Poll:             dur(2 * time.Second),
		BlockedRetry:     dur(time.Hour),
		StaleAfter:       dur(14 * 24 * time.Hour),
		DNSCheckInterval: dur(5 * time.Minute),
		LogLevel:         "info",
		SecretKeyFile:    "/home/u/.local/share/imapmigrate/secret.key",
		TokenFile:        "/home/u/.local/share/imapmigrate/admin.token",
		SMTP:             config.SMTP{Security: "starttls", Timeout: dur(30 * time.Second)},
	}
}

const fullFile = `
data = "/srv/imapmigrate"
database = "postgres://mig:pw@db.example.com/mig"
listen = "0.0.0.0:9090"
workers = 20
connections = 8
job_slice = "10m"
lease_ttl = 45
poll = "500ms"
blocked_retry = "2h"
stale_after = "720h"
log_format = "json"
log_level = "debug"

[smtp]
host = "smtp.example.com"
port = 465
security = "tls"
username = "migration@example.com"
from = "Migration team <migration@example.com>"
ca_file = "/etc/ssl/private-ca.pem"
timeout = "1m"
`

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string // written to a temp file when not empty
		env     map[string]string
		want    func(c *config.Config) // changes from base
		wantErr []string               // each must appear in the error
	}{
		{
			name: "NoFile",
			want: func(c *config.Config) {},
		},
		{
			name: "XDGDataHome",
			env:  map[string]string{"XDG_DATA_HOME": "/xdg"},
			want: func(c *config.Config) {
				c.Data = "/xdg/imapmigrate"
				c.SecretKeyFile = "/xdg/imapmigrate/secret.key"
				c.TokenFile = "/xdg/imapmigrate/admin.token"
			},
		},
		{
			name: "RelativeXDGDataHomeIgnored",
			env:  map[string]string{"XDG_DATA_HOME": "xdg"},
			want: func(c *config.Config) {},
		},
		{
			name: "FileOnly",
			file: fullFile,
			want: func(c *config.Config) {
				*c = config.Config{
					Data:             "/srv/imapmigrate",
					Database:         "postgres://mig:pw@db.example.com/mig",
					Listen:           "0.0.0.0:9090",
					Workers:          20,
					Connections:      8,
					JobSlice:         dur(10 * time.Minute),
					LeaseTTL:         dur(45 * time.Second),
					Poll:             dur(500 * time.Millisecond),
					BlockedRetry:     dur(2 * time.Hour),
					StaleAfter:       dur(720 * time.Hour),
					DNSCheckInterval: dur(5 * time.Minute),
					LogFormat:        "json",
					LogLevel:         "debug",
					SecretKeyFile:    "/srv/imapmigrate/secret.key",
					TokenFile:        "/srv/imapmigrate/admin.token",
					SMTP: config.SMTP{
						Host: "smtp.example.com", Port: 465, Security: "tls", Username: "migration@example.com",
						From: "Migration team <migration@example.com>", CAFile: "/etc/ssl/private-ca.pem", Timeout: dur(time.Minute),
					},
				}
			},
		},
		{
			name: "PartialFileKeepsDefaults",
			file: "workers = 3\n",
			want: func(c *config.Config) { c.Workers = 3 },
		},
		{
			name: "ExplicitPathsKept",
			file: "data = \"/srv/m\"\nsecret_key_file = \"/etc/imapmigrate/key\"\n",
			env:  map[string]string{"IMAPMIGRATE_TOKEN_FILE": "/run/secrets/token"},
			want: func(c *config.Config) {
				c.Data = "/srv/m"
				c.SecretKeyFile = "/etc/imapmigrate/key"
				c.TokenFile = "/run/secrets/token"
			},
		},
		{
			name: "EnvOverFile",
			file: fullFile,
			env: map[string]string{
				"IMAPMIGRATE_DATA":                      "/var/lib/imapmigrate",
				"IMAPMIGRATE_DATABASE":                  "",
				"IMAPMIGRATE_LISTEN":                    "[::1]:8081",
				"IMAPMIGRATE_WORKERS":                   " 2 ",
				"IMAPMIGRATE_CONNECTIONS":               "1",
				"IMAPMIGRATE_JOB_SLICE":                 "1h",
				"IMAPMIGRATE_LEASE_TTL":                 "10s",
				"IMAPMIGRATE_POLL":                      "3",
				"IMAPMIGRATE_BLOCKED_RETRY":             "30m",
				"IMAPMIGRATE_STALE_AFTER":               "48h",
				"IMAPMIGRATE_DNS_RESOLVER":              "127.0.0.53",
				"IMAPMIGRATE_DNS_CHECK_INTERVAL":        "1m",
				"IMAPMIGRATE_LOG_FORMAT":                "text",
				"IMAPMIGRATE_LOG_LEVEL":                 "warn",
				"IMAPMIGRATE_SECRET_KEY_FILE":           "/k",
				"IMAPMIGRATE_SMTP_HOST":                 "127.0.0.1",
				"IMAPMIGRATE_SMTP_PORT":                 "2525",
				"IMAPMIGRATE_SMTP_SECURITY":             "starttls",
				"IMAPMIGRATE_SMTP_CA_FILE":              "",
				"IMAPMIGRATE_SMTP_INSECURE_SKIP_VERIFY": "true",
				"IMAPMIGRATE_SMTP_TIMEOUT":              "5",
				"IMAPMIGRATE_SMTP_PASSWORD":             "hunter2",
			},
			want: func(c *config.Config) {
				*c = config.Config{
					Data:             "/var/lib/imapmigrate",
					Database:         "postgres://mig:pw@db.example.com/mig", // an empty variable is unset
					Listen:           "[::1]:8081",
					Workers:          2,
					Connections:      1,
					JobSlice:         dur(time.Hour),
					LeaseTTL:         dur(10 * time.Second),
					Poll:             dur(3 * time.Second),
					BlockedRetry:     dur(30 * time.Minute),
					StaleAfter:       dur(48 * time.Hour),
					DNSResolver:      "127.0.0.53",
					DNSCheckInterval: dur(time.Minute),
					LogFormat:        "text",
					LogLevel:         "warn",
					SecretKeyFile:    "/k",
					TokenFile:        "/var/lib/imapmigrate/admin.token",
					SMTP: config.SMTP{
						Host: "127.0.0.1", Port: 2525, Security: "starttls", Username: "migration@example.com", Password: "hunter2",
						From: "Migration team <migration@example.com>", CAFile: "/etc/ssl/private-ca.pem", // an empty variable is unset
						InsecureSkipVerify: true, Timeout: dur(5 * time.Second),
					},
				}
			},
		},
		{
			name:    "BadDurationInEnv",
			env:     map[string]string{"IMAPMIGRATE_JOB_SLICE": "5 minutes"},
			wantErr: []string{"IMAPMIGRATE_JOB_SLICE", `"5 minutes" is not a duration`},
		},
		{
			name:    "BadNumberInEnv",
			env:     map[string]string{"IMAPMIGRATE_WORKERS": "ten"},
			wantErr: []string{"IMAPMIGRATE_WORKERS", `"ten" is not a whole number`},
		},
		{
			name:    "BadDurationInFile",
			file:    "poll = \"soon\"\n",
			wantErr: []string{"poll", `"soon" is not a duration`},
		},
		{
			name:    "WrongTypeInFile",
			file:    "workers = \"ten\"\n",
			wantErr: []string{"workers"},
		},
		{
			name:    "SyntaxError",
			file:    "workers = \n",
			wantErr: []string{"read config file", "line 1"},
		},
		{
			name:    "UnknownKey",
			file:    "workers = 3\nworker_count = 4\n",
			wantErr: []string{`unknown key "worker_count"`, "known keys: data, database, listen, workers"},
		},
		{
			name:    "UnknownKeys",
			file:    "colour = 1\nsize = 2\n",
			wantErr: []string{`unknown keys "colour", "size"`},
		},
		{
			name:    "UnknownTable",
			file:    "[imap]\nhost = \"mail\"\nport = 25\n",
			wantErr: []string{`unknown key "imap" (`},
		},
		{
			name:    "UnknownKeyInSMTP",
			file:    "[smtp]\nhost = \"mail\"\nstarttls = true\n",
			wantErr: []string{`unknown key "smtp.starttls"`, "smtp.host, smtp.port, smtp.security"},
		},
		{
			name:    "SMTPPasswordInFile",
			file:    "[smtp]\nhost = \"mail\"\nusername = \"u\"\npassword = \"hunter2\"\n",
			wantErr: []string{`unknown key "smtp.password"`, `"smtp.password" looks like a secret`, "smtp.password_file or IMAPMIGRATE_SMTP_PASSWORD"},
		},
		{
			name:    "BadBoolInEnv",
			env:     map[string]string{"IMAPMIGRATE_SMTP_INSECURE_SKIP_VERIFY": "yes please"},
			wantErr: []string{"IMAPMIGRATE_SMTP_INSECURE_SKIP_VERIFY", `"yes please" is not true or false`},
		},
		{
			name:    "PasswordInFile",
			file:    "password = \"hunter2\"\n",
			wantErr: []string{`unknown key "password"`, `"password" looks like a secret`, "must not hold secrets"},
		},
		{
			name:    "TokenInTable",
			file:    "[admin]\ntoken = \"abc\"\n",
			wantErr: []string{`unknown key "admin"`, `"admin.token" looks like a secret`},
		},
		{
			name:    "SeveralSecrets",
			file:    "imap_password = \"hunter2\"\napi_token = \"x\"\n",
			wantErr: []string{`"imap_password", "api_token" look like secrets`},
		},
		{
			name:    "SecretKeyInFile",
			file:    "secret_key = \"AAAA\"\n",
			wantErr: []string{`"secret_key" looks like a secret`, "IMAPMIGRATE_SECRET_KEY"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tt.file != "" {
				path = MustWriteFile(t, tt.file)
			}
			e := map[string]string{"HOME": "/home/u"}
			for k, v := range tt.env {
				e[k] = v
			}
			got, err := config.Load(path, env(e))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Load(%q) = %+v, nil; want an error", tt.file, got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Load(%q) error %q does not contain %q", tt.file, err, w)
					}
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("Load error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load(%q): %v", tt.file, err)
			}
			want := base()
			tt.want(&want)
			if got != want {
				t.Errorf("Load(%q) =\n%+v\nwant\n%+v", tt.file, got, want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := config.Load(path, env(nil))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("Load(%s) = %v; want a not-exist error naming the file", path, err)
	}
}

func TestLoadWithoutHome(t *testing.T) {
	t.Parallel()
	c, err := config.Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != "" || c.SecretKeyFile != "" || c.TokenFile != "" {
		t.Errorf("Load without HOME = %+v; want no paths", c)
	}
	if !hasError(c.Validate(), "data: no data directory") {
		t.Errorf("Validate() = %v; want a problem about the data directory", c.Validate())
	}
}

func TestDefault(t *testing.T) {
	t.Parallel()
	c := config.Default()
	if c.Workers != 10 || c.Connections != 4 || c.JobSlice.Duration != 5*time.Minute ||
		c.LeaseTTL.Duration != 30*time.Second || c.Poll.Duration != 2*time.Second ||
		c.Listen != "127.0.0.1:8080" || c.LogLevel != "info" || c.LogFormat != "" || c.Database != "" {
		t.Errorf("Default() = %+v", c)
	}
	if c.Data != "" && (c.SecretKeyFile != filepath.Join(c.Data, "secret.key") || c.TokenFile != filepath.Join(c.Data, "admin.token")) {
		t.Errorf("Default() = %+v; want key and token files in the data directory", c)
	}
}

func hasError(errs []error, text string) bool {
	for _, err := range errs {
		if strings.Contains(err.Error(), text) {
			return true
		}
	}
	return false
}

// TestSettingsCoverEveryField checks that every field, those of the
// [smtp] table included, can be set from the file, from the environment and
// by a flag, under names made from its TOML key ("smtp.ca_file":
// IMAPMIGRATE_SMTP_CA_FILE, --smtp-ca-file), and that a field kept out of
// the file (the SMTP password) has no flag either.
func TestSettingsCoverEveryField(t *testing.T) {
	t.Parallel()
	type field struct {
		name, table, key string
		typ              reflect.Type
		index            []int
	}
	var fields []field
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Type != reflect.TypeFor[config.SMTP]() {
			fields = append(fields, field{name: f.Name, key: f.Tag.Get("toml"), typ: f.Type, index: f.Index})
			continue
		}
		for j := range f.Type.NumField() {
			sub := f.Type.Field(j)
			fields = append(fields, field{name: f.Name + "." + sub.Name, table: f.Tag.Get("toml"),
				key: sub.Tag.Get("toml"), typ: sub.Type, index: []int{i, j}})
		}
	}
	for _, f := range fields {
		if f.key == "-" {
			fs := newFlagSet()
			config.Flags(fs, env(nil))
			if fs.Lookup("smtp-password") != nil || fs.Lookup("password") != nil {
				t.Errorf("field %s is kept out of the file but has a flag", f.name)
			}
			continue
		}
		if f.key == "" {
			t.Errorf("field %s has no toml tag", f.name)
			continue
		}
		var value, tomlValue string
		switch f.typ {
		case reflect.TypeFor[string]():
			// A file that exists, for smtp.password_file, which Load reads.
			value, tomlValue = "/dev/null", `"/dev/null"`
		case reflect.TypeFor[int]():
			value, tomlValue = "7", "7"
		case reflect.TypeFor[bool]():
			value, tomlValue = "true", "true"
		case reflect.TypeFor[config.Duration]():
			value, tomlValue = "7s", `"7s"`
		default:
			t.Errorf("field %s has type %s", f.name, f.typ)
			continue
		}
		home := env(map[string]string{"HOME": "/home/u"})
		check := func(how string, c config.Config, err error) {
			t.Helper()
			if err != nil {
				t.Errorf("Load with %s: %v", how, err)
				return
			}
			if got := reflect.ValueOf(c).FieldByIndex(f.index).Interface(); fmt.Sprint(got) != value {
				t.Errorf("Load with %s set %s to %v", how, f.name, got)
			}
		}

		file := f.key + " = " + tomlValue + "\n"
		name := f.key
		if f.table != "" {
			file = "[" + f.table + "]\n" + file
			name = f.table + "_" + f.key
		}
		path := MustWriteFile(t, file)
		c, err := config.Load(path, home)
		check("file key "+name, c, err)

		variable := "IMAPMIGRATE_" + strings.ToUpper(name)
		c, err = config.Load("", env(map[string]string{"HOME": "/home/u", variable: value}))
		check(variable, c, err)

		flag := "--" + strings.ReplaceAll(name, "_", "-")
		fs := newFlagSet()
		getenv := config.Flags(fs, home)
		if err := fs.Parse([]string{flag, value}); err != nil {
			t.Errorf("Parse(%s %s): %v", flag, value, err)
			continue
		}
		c, err = config.Load("", getenv)
		check(flag, c, err)
	}
}

// TestLoadSMTPPassword checks where the SMTP password comes from: the
// environment first, else the file smtp.password_file names (without its
// line end), and that a missing file fails Load naming the key.
func TestLoadSMTPPassword(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "smtp.pw")
	if err := os.WriteFile(pwFile, []byte("pass word\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{name: "None", file: "[smtp]\nhost = \"mail\"\n"},
		{name: "File", file: "[smtp]\npassword_file = \"" + pwFile + "\"\n", want: "pass word"},
		{name: "FileFromEnv", env: map[string]string{"IMAPMIGRATE_SMTP_PASSWORD_FILE": pwFile}, want: "pass word"},
		{name: "EnvWins", file: "[smtp]\npassword_file = \"" + pwFile + "\"\n", env: map[string]string{"IMAPMIGRATE_SMTP_PASSWORD": "from env"}, want: "from env"},
		{name: "EnvWinsOverMissingFile", file: "[smtp]\npassword_file = \"/nonexistent\"\n", env: map[string]string{"IMAPMIGRATE_SMTP_PASSWORD": "from env"}, want: "from env"},
		{name: "MissingFile", file: "[smtp]\npassword_file = \"" + filepath.Join(dir, "nope") + "\"\n", wantErr: "smtp.password_file: open " + filepath.Join(dir, "nope")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tt.file != "" {
				path = MustWriteFile(t, tt.file)
			}
			c, err := config.Load(path, env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load(%q) error = %v; want one containing %q", tt.file, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load(%q): %v", tt.file, err)
			}
			if got := c.SMTP.Password.Reveal(); got != tt.want {
				t.Errorf("Load(%q).SMTP.Password = %q; want %q", tt.file, got, tt.want)
			}
			if tt.want != "" && strings.Contains(fmt.Sprintf("%+v %v", c, c.Redacted()), tt.want) {
				t.Errorf("printing the config shows the SMTP password")
			}
		})
	}
}
