package config_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/imapmigrate/imapmigrate/internal/config"
)

func newFlagSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestFlags(t *testing.T) {
	t.Parallel()
	file := MustWriteFile(t, "data = \"/file\"\nworkers = 20\nconnections = 8\nlog_level = \"debug\"\n")
	environ := env(map[string]string{
		"HOME":                    "/home/u",
		"IMAPMIGRATE_WORKERS":     "30",
		"IMAPMIGRATE_CONNECTIONS": "6",
		"IMAPMIGRATE_POLL":        "9s",
	})
	tests := []struct {
		name string
		args []string
		want func(c *config.Config)
	}{
		{
			name: "NoFlags",
			want: func(c *config.Config) {},
		},
		{
			name: "FlagsWin",
			args: []string{"--workers", "40", "--job-slice=1m", "--log-level", "warn", "--listen", ":9000"},
			want: func(c *config.Config) {
				c.Workers, c.JobSlice, c.LogLevel, c.Listen = 40, dur(time.Minute), "warn", ":9000"
			},
		},
		{
			name: "DataMovesDerivedPaths",
			args: []string{"--data", "/flag"},
			want: func(c *config.Config) {
				c.Data, c.SecretKeyFile, c.TokenFile = "/flag", "/flag/secret.key", "/flag/admin.token"
			},
		},
		{
			name: "SMTP",
			args: []string{"--smtp-host", "127.0.0.1", "--smtp-port", "2525", "--smtp-insecure-skip-verify", "--smtp-timeout", "5s"},
			want: func(c *config.Config) {
				c.SMTP.Host, c.SMTP.Port, c.SMTP.InsecureSkipVerify, c.SMTP.Timeout = "127.0.0.1", 2525, true, dur(5*time.Second)
			},
		},
		{
			name: "ExplicitKeyFileStays",
			args: []string{"--data", "/flag", "--secret-key-file", "/k"},
			want: func(c *config.Config) {
				c.Data, c.SecretKeyFile, c.TokenFile = "/flag", "/k", "/flag/admin.token"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := newFlagSet()
			getenv := config.Flags(fs, environ)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatalf("Parse(%q): %v", tt.args, err)
			}
			got, err := config.Load(file, getenv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			// File, then environment, then flags.
			want := base()
			want.Data, want.SecretKeyFile, want.TokenFile = "/file", "/file/secret.key", "/file/admin.token"
			want.Workers, want.Connections, want.LogLevel, want.Poll = 30, 6, "debug", dur(9*time.Second)
			tt.want(&want)
			if got != want {
				t.Errorf("Load with flags %q =\n%+v\nwant\n%+v", tt.args, got, want)
			}
		})
	}
}

func TestFlagsRejectBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"Duration", []string{"--poll", "soon"}, []string{"--poll", `"soon" is not a duration`}},
		{"Number", []string{"--workers=many"}, []string{"--workers", `"many" is not a whole number`}},
		{"Bool", []string{"--smtp-insecure-skip-verify=maybe"}, []string{"--smtp-insecure-skip-verify", `"maybe" is not true or false`}},
		{"NoPasswordFlag", []string{"--smtp-password", "hunter2"}, []string{"unknown flag: --smtp-password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := newFlagSet()
			config.Flags(fs, env(nil))
			err := fs.Parse(tt.args)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", tt.args)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse(%q) error %q does not contain %q", tt.args, err, w)
				}
			}
		})
	}
}

func TestFlagsHelp(t *testing.T) {
	t.Parallel()
	fs := newFlagSet()
	config.Flags(fs, env(nil))
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	fs.PrintDefaults()
	help := buf.String()
	for _, want := range []string{
		"--workers int", "(default 10)", "IMAPMIGRATE_WORKERS",
		"--job-slice duration", "(default 5m0s)", "IMAPMIGRATE_JOB_SLICE",
		"--database string", "--secret-key-file string", "<data>/secret.key",
		"--smtp-security string", "(default \"starttls\")", "IMAPMIGRATE_SMTP_SECURITY",
		"--smtp-insecure-skip-verify", "--smtp-password-file string", "IMAPMIGRATE_SMTP_PASSWORD)",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("flag help lacks %q:\n%s", want, help)
		}
	}
}
