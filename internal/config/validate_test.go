package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/config"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(c *config.Config)
		want   []string // the start of each error, in order; none means valid
	}{
		{name: "Defaults", change: func(c *config.Config) {}},
		{name: "Postgres", change: func(c *config.Config) { c.Database = "postgres://u:p@db/mig?sslmode=require" }},
		{name: "PostgresqlScheme", change: func(c *config.Config) { c.Database = "PostgreSQL://db:5432/mig" }},
		{name: "PostgresHostInQuery", change: func(c *config.Config) { c.Database = "postgres:///mig?host=/run/postgresql" }},
		{name: "Limits", change: func(c *config.Config) {
			c.Workers, c.Connections = 1, 32
			c.JobSlice, c.LeaseTTL, c.Poll = dur(5*time.Second), dur(3*time.Second), dur(time.Millisecond)
			c.LogFormat, c.LogLevel = "json", "error"
		}},
		{name: "WorkersZero", change: func(c *config.Config) { c.Workers = 0 }, want: []string{"workers: 0"}},
		{name: "ConnectionsZero", change: func(c *config.Config) { c.Connections = 0 }, want: []string{"connections: 0"}},
		{name: "ConnectionsTooMany", change: func(c *config.Config) { c.Connections = 33 }, want: []string{"connections: 33; it must be between 1 and 32"}},
		{name: "JobSliceShort", change: func(c *config.Config) { c.JobSlice = dur(4 * time.Second) }, want: []string{"job_slice: 4s; it must be at least 5s"}},
		{name: "LeaseTTLShort", change: func(c *config.Config) { c.LeaseTTL = dur(2 * time.Second) }, want: []string{"lease_ttl: 2s"}},
		{name: "PollZero", change: func(c *config.Config) { c.Poll = dur(0) }, want: []string{"poll: 0s"}},
		{name: "PollNegative", change: func(c *config.Config) { c.Poll = dur(-time.Second) }, want: []string{"poll: -1s"}},
		{name: "LogFormat", change: func(c *config.Config) { c.LogFormat = "xml" }, want: []string{`log_format: "xml"`}},
		{name: "LogLevel", change: func(c *config.Config) { c.LogLevel = "trace" }, want: []string{`log_level: "trace"`}},
		{name: "LogLevelEmpty", change: func(c *config.Config) { c.LogLevel = "" }, want: []string{`log_level: ""`}},
		{name: "MySQL", change: func(c *config.Config) { c.Database = "mysql://u:hunter2@db/mig" }, want: []string{`database: "mysql://u:xxxxx@db/mig" is not supported`}},
		{name: "SQLitePath", change: func(c *config.Config) { c.Database = "/var/lib/m.db" }, want: []string{"database:"}},
		{name: "PostgresNoHost", change: func(c *config.Config) { c.Database = "postgres:///mig" }, want: []string{"database:"}},
		{name: "PostgresBadURL", change: func(c *config.Config) { c.Database = "postgres://u:hunter2@db:port/mig" }, want: []string{"database: not a valid URL"}},
		{name: "Listen", change: func(c *config.Config) { c.Listen = "8080" }, want: []string{"listen:"}},
		{name: "NoPaths", change: func(c *config.Config) { c.Data, c.SecretKeyFile, c.TokenFile = "", "", "" }, want: []string{"data:", "secret_key_file:", "token_file:"}},
		{
			name: "EverythingWrong",
			change: func(c *config.Config) {
				*c = config.Config{Database: "sqlite://x", LogFormat: "yaml", LogLevel: "loud", Poll: dur(-1)}
			},
			want: []string{"data:", "database:", "listen:", "workers:", "connections:", "job_slice:", "lease_ttl:", "poll:", "log_format:", "log_level:", "secret_key_file:", "token_file:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base()
			tt.change(&c)
			errs := c.Validate()
			if len(errs) != len(tt.want) {
				t.Fatalf("Validate(%+v) = %v; want %d errors starting %q", c, errs, len(tt.want), tt.want)
			}
			for i, err := range errs {
				if !strings.HasPrefix(err.Error(), tt.want[i]) {
					t.Errorf("Validate() error %d = %q; want it to start with %q", i, err, tt.want[i])
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("Validate() error %q shows the database password", err)
				}
			}
		})
	}
}

func TestDatabase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		database string
		postgres bool
		path     string
	}{
		{"SQLite", "", false, "/srv/m/imapmigrate.db"},
		{"Postgres", "postgres://db/mig", true, ""},
		{"Postgresql", "postgresql://db/mig", true, ""},
		{"UpperCase", "POSTGRES://db/mig", true, ""},
		{"NotAURL", "postgres", false, "/srv/m/imapmigrate.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := config.Config{Data: "/srv/m", Database: tt.database}
			if got := c.IsPostgres(); got != tt.postgres {
				t.Errorf("Config{Database: %q}.IsPostgres() = %v; want %v", tt.database, got, tt.postgres)
			}
			if got := c.DatabasePath(); got != tt.path {
				t.Errorf("Config{Database: %q}.DatabasePath() = %q; want %q", tt.database, got, tt.path)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, database, want string
	}{
		{"Empty", "", ""},
		{"NoPassword", "postgres://mig@db.example.com/mig", "postgres://mig@db.example.com/mig"},
		{"Password", "postgres://mig:hunter2@db.example.com:5432/mig?sslmode=require", "postgres://mig:xxxxx@db.example.com:5432/mig?sslmode=require"},
		{"EscapedPassword", "postgresql://mig:hun%40ter2@db/mig", "postgresql://mig:xxxxx@db/mig"},
		{"QueryPassword", "postgres://db/mig?user=mig&password=hunter2", "postgres://db/mig?password=xxxxx&user=mig"},
		{"Unparsable", "postgres://mig:hunter2@db:port/mig", "xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base()
			c.Database = tt.database
			r := c.Redacted()
			if r.Database != tt.want {
				t.Errorf("Redacted().Database = %q; want %q", r.Database, tt.want)
			}
			if c.Database != tt.database {
				t.Errorf("Redacted changed the original to %q", c.Database)
			}
			r.Database = c.Database
			if r != c {
				t.Errorf("Redacted changed more than Database: %+v", r)
			}
		})
	}
}
