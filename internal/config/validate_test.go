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
			c.BlockedRetry, c.StaleAfter = dur(10*time.Second), dur(time.Hour)
			c.DNSResolver, c.DNSCheckInterval = "127.0.0.1:5353", dur(10*time.Second)
			c.LogFormat, c.LogLevel = "json", "error"
		}},
		{name: "WorkersZero", change: func(c *config.Config) { c.Workers = 0 }, want: []string{"workers: 0"}},
		{name: "ConnectionsZero", change: func(c *config.Config) { c.Connections = 0 }, want: []string{"connections: 0"}},
		{name: "ConnectionsTooMany", change: func(c *config.Config) { c.Connections = 33 }, want: []string{"connections: 33; it must be between 1 and 32"}},
		{name: "JobSliceShort", change: func(c *config.Config) { c.JobSlice = dur(4 * time.Second) }, want: []string{"job_slice: 4s; it must be at least 5s"}},
		{name: "LeaseTTLShort", change: func(c *config.Config) { c.LeaseTTL = dur(2 * time.Second) }, want: []string{"lease_ttl: 2s"}},
		{name: "PollZero", change: func(c *config.Config) { c.Poll = dur(0) }, want: []string{"poll: 0s"}},
		{name: "PollNegative", change: func(c *config.Config) { c.Poll = dur(-time.Second) }, want: []string{"poll: -1s"}},
		{name: "BlockedRetryShort", change: func(c *config.Config) { c.BlockedRetry = dur(5 * time.Second) }, want: []string{"blocked_retry: 5s; it must be at least 10s"}},
		{name: "StaleAfterShort", change: func(c *config.Config) { c.StaleAfter = dur(59 * time.Minute) }, want: []string{"stale_after: 59m0s; it must be at least 1h0m0s"}},
		{name: "DNSResolverHost", change: func(c *config.Config) { c.DNSResolver = "ns1.example.com" }},
		{name: "DNSResolverBad", change: func(c *config.Config) { c.DNSResolver = "127.0.0.1:99999" }, want: []string{`dns_resolver: DNS server "127.0.0.1:99999"`}},
		{name: "DNSCheckIntervalShort", change: func(c *config.Config) { c.DNSCheckInterval = dur(9 * time.Second) }, want: []string{"dns_check_interval: 9s; it must be at least 10s"}},
		{name: "LogFormat", change: func(c *config.Config) { c.LogFormat = "xml" }, want: []string{`log_format: "xml"`}},
		{name: "LogLevelTrace", change: func(c *config.Config) { c.LogLevel = "trace" }},
		{name: "LogLevel", change: func(c *config.Config) { c.LogLevel = "verbose" }, want: []string{`log_level: "verbose"; want "trace", "debug"`}},
		{name: "LogLevelEmpty", change: func(c *config.Config) { c.LogLevel = "" }, want: []string{`log_level: ""`}},
		{name: "MySQL", change: func(c *config.Config) { c.Database = "mysql://u:hunter2@db/mig" }, want: []string{`database: "mysql://u:xxxxx@db/mig" is not supported`}},
		{name: "SQLitePath", change: func(c *config.Config) { c.Database = "/var/lib/m.db" }, want: []string{"database:"}},
		{name: "PostgresNoHost", change: func(c *config.Config) { c.Database = "postgres:///mig" }, want: []string{"database:"}},
		{name: "PostgresBadURL", change: func(c *config.Config) { c.Database = "postgres://u:hunter2@db:port/mig" }, want: []string{"database: not a valid URL"}},
		{name: "Listen", change: func(c *config.Config) { c.Listen = "8080" }, want: []string{"listen:"}},
		{name: "NoPaths", change: func(c *config.Config) { c.Data, c.SecretKeyFile, c.TokenFile = "", "", "" }, want: []string{"data:", "secret_key_file:", "token_file:"}},
		{name: "SMTP", change: func(c *config.Config) { c.SMTP = smtpOK() }},
		{name: "SMTPRelayWithoutLogin", change: func(c *config.Config) {
			c.SMTP = config.SMTP{Host: "127.0.0.1", Security: "none", From: "m@example.com", Timeout: dur(time.Second)}
		}},
		{name: "SMTPIPv6Host", change: func(c *config.Config) { c.SMTP = smtpOK(); c.SMTP.Host = "::1" }},
		{name: "SMTPInsecure", change: func(c *config.Config) { c.SMTP = smtpOK(); c.SMTP.CAFile, c.SMTP.InsecureSkipVerify = "", true }},
		{name: "SMTPFromWithoutHost", change: func(c *config.Config) { c.SMTP.From = "m@example.com" }, want: []string{"smtp.host: not set, but other smtp settings are"}},
		{name: "SMTPPasswordWithoutHost", change: func(c *config.Config) { c.SMTP.Password = "hunter2" }, want: []string{"smtp.host: not set"}},
		{name: "SMTPHostWithPort", change: func(c *config.Config) { c.SMTP = smtpOK(); c.SMTP.Host = "smtp.example.com:587" }, want: []string{`smtp.host: "smtp.example.com:587"; give the port in smtp.port`}},
		{name: "SMTPPort", change: func(c *config.Config) { c.SMTP = smtpOK(); c.SMTP.Port = 70000 }, want: []string{"smtp.port: 70000"}},
		{name: "SMTPSecurity", change: func(c *config.Config) { c.SMTP = smtpOK(); c.SMTP.Security = "ssl" }, want: []string{`smtp.security: "ssl"; want "starttls", "tls" or "none"`}},
		{name: "SMTPSecurityEmpty", change: func(c *config.Config) { c.SMTP = smtpOK(); c.SMTP.Security = "" }, want: []string{`smtp.security: ""`}},
		{name: "SMTPUsernameWithoutPassword", change: func(c *config.Config) { c.SMTP = smtpOK(); c.SMTP.Password = "" }, want: []string{"smtp.password: smtp.username is set but there is no password; set IMAPMIGRATE_SMTP_PASSWORD or smtp.password_file"}},
		{name: "SMTPPasswordWithoutUsername", change: func(c *config.Config) { c.SMTP = smtpOK(); c.SMTP.Username = "" }, want: []string{"smtp.username: not set, but a password is"}},
		{name: "SMTPNoFrom", change: func(c *config.Config) { c.SMTP = smtpOK(); c.SMTP.From = "" }, want: []string{"smtp.from: not set"}},
		{name: "SMTPBadFrom", change: func(c *config.Config) { c.SMTP = smtpOK(); c.SMTP.From = "Migration team" }, want: []string{`smtp.from: "Migration team" is not an e-mail address`}},
		{name: "SMTPCAFileAndInsecure", change: func(c *config.Config) { c.SMTP = smtpOK(); c.SMTP.InsecureSkipVerify = true }, want: []string{"smtp.ca_file: cannot be used with smtp.insecure_skip_verify"}},
		{name: "SMTPNoneWithCAFile", change: func(c *config.Config) { c.SMTP = smtpOK(); c.SMTP.Security = "none" }, want: []string{"smtp.security: none uses no TLS"}},
		{name: "SMTPTimeout", change: func(c *config.Config) { c.SMTP = smtpOK(); c.SMTP.Timeout = dur(0) }, want: []string{"smtp.timeout: 0s"}},
		{
			name: "EverythingWrong",
			change: func(c *config.Config) {
				*c = config.Config{Database: "sqlite://x", LogFormat: "yaml", LogLevel: "loud", Poll: dur(-1)}
			},
			want: []string{"data:", "database:", "listen:", "workers:", "connections:", "job_slice:", "lease_ttl:", "poll:", "blocked_retry:", "stale_after:", "log_format:", "log_level:", "dns_check_interval:", "secret_key_file:", "token_file:"},
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

// smtpOK is a valid [smtp] table that uses every setting it can at once.
func smtpOK() config.SMTP {
	return config.SMTP{
		Host: "smtp.example.com", Security: "starttls", Username: "migration@example.com", Password: "hunter2",
		From: "Migration team <migration@example.com>", CAFile: "/etc/ssl/ca.pem", Timeout: dur(30 * time.Second),
	}
}

func TestSMTPAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host     string
		port     int
		security string
		want     string
	}{
		{"smtp.example.com", 0, "starttls", "smtp.example.com:587"},
		{"smtp.example.com", 0, "tls", "smtp.example.com:465"},
		{"smtp.example.com", 0, "none", "smtp.example.com:25"},
		{"smtp.example.com", 2525, "tls", "smtp.example.com:2525"},
		{"::1", 0, "starttls", "[::1]:587"},
	}
	for _, tt := range tests {
		s := config.SMTP{Host: tt.host, Port: tt.port, Security: tt.security}
		if got := s.Addr(); got != tt.want {
			t.Errorf("SMTP{Host: %q, Port: %d, Security: %q}.Addr() = %q; want %q", tt.host, tt.port, tt.security, got, tt.want)
		}
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
