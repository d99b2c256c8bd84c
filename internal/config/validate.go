package config

import (
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/dnscheck"
)

// Limits checked by Validate.
const (
	maxConnections = 32
	// minJobSlice keeps a job long enough to log in, list folders and copy
	// something before it hands over.
	minJobSlice = 5 * time.Second
	// minLeaseTTL leaves room for a lease renewal to be late by a second
	// or two without another worker taking the mailbox.
	minLeaseTTL = 3 * time.Second
	// minBlockedRetry keeps a blocked user from logging in to the full
	// destination over and over.
	minBlockedRetry = 10 * time.Second
	// minDNSCheckInterval keeps the cut-over checks from hammering a DNS
	// server: MX TTLs are an hour or more anyway.
	minDNSCheckInterval = 10 * time.Second
	// minStaleAfter keeps a batch that just synced from being called
	// stale at once.
	minStaleAfter = time.Hour
)

// Validate returns every problem (workers >= 1, or 0 with PostgreSQL, connections 1..32,
// job_slice >= 5s, lease_ttl >= 3s, poll > 0, blocked_retry >= 10s, stale_after >= 1h, log format/level known,
// database scheme sqlite-file or postgres, and the [smtp] table when a host
// is set), so an admin fixes them in one go. Each error starts with the key it is about. Nil means valid.
func (c Config) Validate() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Data == "" {
		add("data", "no data directory (HOME is not set); set data, IMAPMIGRATE_DATA or --data")
	}
	if c.Database != "" {
		if !c.IsPostgres() {
			add("database", `%q is not supported; leave it empty for the SQLite file in the data directory, or give a postgres:// URL`, c.Redacted().Database)
		} else if u, err := url.Parse(c.Database); err != nil {
			add("database", "not a valid URL")
		} else if u.Host == "" && !u.Query().Has("host") {
			add("database", "%q names no host", c.Redacted().Database)
		}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen", "%q is not host:port (for example 127.0.0.1:8080)", c.Listen)
	}
	if c.Workers < 0 || (c.Workers == 0 && !c.IsPostgres()) {
		add("workers", "%d; it must be at least 1 (0 only with PostgreSQL, for a serve that leaves the work to workers)", c.Workers)
	}
	if c.Connections < 1 || c.Connections > maxConnections {
		add("connections", "%d; it must be between 1 and %d", c.Connections, maxConnections)
	}
	if c.JobSlice.Duration < minJobSlice {
		add("job_slice", "%s; it must be at least %s", c.JobSlice, minJobSlice)
	}
	if c.LeaseTTL.Duration < minLeaseTTL {
		add("lease_ttl", "%s; it must be at least %s", c.LeaseTTL, minLeaseTTL)
	}
	if c.Poll.Duration <= 0 {
		add("poll", "%s; it must be more than 0", c.Poll)
	}
	if c.BlockedRetry.Duration < minBlockedRetry {
		add("blocked_retry", "%s; it must be at least %s", c.BlockedRetry, minBlockedRetry)
	}
	if c.StaleAfter.Duration < minStaleAfter {
		add("stale_after", "%s; it must be at least %s", c.StaleAfter, minStaleAfter)
	}
	switch c.LogFormat {
	case "", "json", "text":
	default:
		add("log_format", `%q; want "json", "text" or "" (text on a terminal, json otherwise)`, c.LogFormat)
	}
	switch c.LogLevel {
	case "trace", "debug", "info", "warn", "error":
	default:
		add("log_level", `%q; want "trace", "debug", "info", "warn" or "error"`, c.LogLevel)
	}
	if c.DNSResolver != "" {
		if _, err := dnscheck.ParseServer(c.DNSResolver); err != nil {
			add("dns_resolver", "%v", err)
		}
	}
	if c.DNSCheckInterval.Duration < minDNSCheckInterval {
		add("dns_check_interval", "%s; it must be at least %s", c.DNSCheckInterval, minDNSCheckInterval)
	}
	if c.SecretKeyFile == "" {
		add("secret_key_file", "no path; set it or data")
	}
	if c.TokenFile == "" {
		add("token_file", "no path; set it or data")
	}
	c.SMTP.validate(add)
	return errs
}
