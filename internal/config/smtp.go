package config

import (
	"fmt"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/secret"
)

// SMTP is the mail server that the service sends notifications (batch
// reports to the batch's notification addresses) and welcome letters
// through: the [smtp] table of the file, IMAPMIGRATE_SMTP_* variables and
// --smtp-* flags. Without a host nothing is sent.
type SMTP struct {
	// Host is the submission server's name or IP address. Empty turns mail
	// off.
	Host string `toml:"host"`
	// Port is the server's port. 0 (the default) means the usual port for
	// Security: 465 for tls, 587 for starttls, 25 for none.
	Port int `toml:"port"`
	// Security is "starttls" (the default: a server that does not offer
	// STARTTLS is an error, never a reason to go on in clear), "tls"
	// (implicit TLS, RFC 8314) or "none" (only when asked for: anything
	// sent, the password included, crosses the network in clear).
	Security string `toml:"security"`
	// Username logs in with AUTH PLAIN (or LOGIN when the server offers
	// only that) when set; empty sends without logging in, as to a relay
	// that trusts this machine's address.
	Username string `toml:"username"`
	// Password is Username's password. It never comes from the file or a
	// flag: Load takes it from IMAPMIGRATE_SMTP_PASSWORD, else from the
	// file named by PasswordFile.
	Password secret.Secret `toml:"-"`
	// PasswordFile holds the password (one trailing line end is the file's,
	// not the password's). Ignored when IMAPMIGRATE_SMTP_PASSWORD is set.
	PasswordFile string `toml:"password_file"`
	// From is the sender of every message, with or without a display name:
	// "Migration team <migration@example.com>". Required with Host.
	From string `toml:"from"`
	// CAFile is a PEM bundle that replaces the system roots, for a server
	// with a private CA or a self-signed certificate. Certificates are
	// always verified otherwise.
	CAFile string `toml:"ca_file"`
	// InsecureSkipVerify accepts any certificate. Only when the admin asks.
	InsecureSkipVerify bool `toml:"insecure_skip_verify"`
	// Timeout bounds each step of a delivery: connecting, the TLS
	// handshake, each command's answer and each write. Defaults to 30s.
	Timeout Duration `toml:"timeout"`
}

// The values of SMTP.Security.
const (
	SMTPSecurityTLS      = "tls"
	SMTPSecurityStartTLS = "starttls"
	SMTPSecurityNone     = "none"
)

// envSMTPPassword is the only place the SMTP password is read from besides
// its file: variables do not show in ps or in shell history.
const envSMTPPassword = "IMAPMIGRATE_SMTP_PASSWORD"

func defaultSMTP() SMTP {
	return SMTP{Security: SMTPSecurityStartTLS, Timeout: Duration{30 * time.Second}}
}

// Enabled reports whether mail is configured: a host is set.
func (s SMTP) Enabled() bool { return s.Host != "" }

// Addr is host:port, with the port for Security when Port is 0.
func (s SMTP) Addr() string {
	port := s.Port
	if port == 0 {
		switch s.Security {
		case SMTPSecurityTLS:
			port = 465
		case SMTPSecurityNone:
			port = 25
		default:
			port = 587
		}
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(port))
}

// loadPassword fills Password from the environment, else from
// PasswordFile. A file that cannot be read is an error now rather than at
// the first notification, hours into a batch.
func (s *SMTP) loadPassword(getenv func(string) string) error {
	if v := getenv(envSMTPPassword); v != "" {
		s.Password = secret.Secret(v)
		return nil
	}
	if s.PasswordFile == "" {
		return nil
	}
	b, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		return fmt.Errorf("smtp.password_file: %w", err)
	}
	s.Password = secret.Secret(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"))
	return nil
}

// validate adds SMTP's problems to Validate's list through add.
func (s SMTP) validate(add func(key, format string, args ...any)) {
	if !s.Enabled() {
		// A sender or a login without a server is most likely a typo in
		// the host's variable; say so rather than send nothing quietly.
		if s.From != "" || s.Username != "" || s.Password != "" {
			add("smtp.host", "not set, but other smtp settings are; set smtp.host (IMAPMIGRATE_SMTP_HOST, --smtp-host) to send mail, or remove them")
		}
		return
	}
	if strings.Contains(s.Host, ":") && net.ParseIP(s.Host) == nil {
		add("smtp.host", "%q; give the port in smtp.port, not in the host", s.Host)
	}
	if s.Port < 0 || s.Port > 65535 {
		add("smtp.port", "%d; it must be between 1 and 65535, or 0 for the usual port", s.Port)
	}
	switch s.Security {
	case SMTPSecurityTLS, SMTPSecurityStartTLS, SMTPSecurityNone:
	default:
		add("smtp.security", `%q; want "starttls", "tls" or "none"`, s.Security)
	}
	if s.Username != "" && s.Password == "" {
		add("smtp.password", "smtp.username is set but there is no password; set %s or smtp.password_file", envSMTPPassword)
	}
	if s.Username == "" && s.Password != "" {
		add("smtp.username", "not set, but a password is; set the login that goes with it")
	}
	if s.From == "" {
		add("smtp.from", "not set; give the sender address of notifications, for example \"Migration team <migration@example.com>\"")
	} else if _, err := mail.ParseAddress(s.From); err != nil {
		add("smtp.from", "%q is not an e-mail address: %v", s.From, err)
	}
	switch {
	case s.CAFile != "" && s.InsecureSkipVerify:
		add("smtp.ca_file", "cannot be used with smtp.insecure_skip_verify: with a CA file the certificate is verified against it")
	case s.Security == SMTPSecurityNone && (s.CAFile != "" || s.InsecureSkipVerify):
		add("smtp.security", "none uses no TLS, so smtp.ca_file and smtp.insecure_skip_verify mean nothing; use tls or starttls")
	}
	if s.Timeout.Duration <= 0 {
		add("smtp.timeout", "%s; it must be more than 0", s.Timeout)
	}
}
