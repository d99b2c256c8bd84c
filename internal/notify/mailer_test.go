package notify_test

import (
	"context"
	"errors"
	"net"
	"net/mail"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/imapmigrate/imapmigrate/internal/config"
	"github.com/imapmigrate/imapmigrate/internal/notify"
)

const (
	smtpUser     = "migration@example.com"
	smtpPassword = "s3cret-Pa55word"
)

var users = map[string]string{smtpUser: smtpPassword}

// reportMessage is a batch report with its CSV, to admin@ and helpdesk@.
func reportMessage(t *testing.T) notify.Message {
	t.Helper()
	msg, err := sampleReport(notify.EventInitialSync, "SyncedWithErrors").Message(adminFrom, adminTo)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestSendDelivers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		server   smtpOptions
		security string
		user     string
		change   func(c *config.SMTP)
		wantTLS  bool
	}{
		{name: "StartTLSPlain", server: smtpOptions{Security: "starttls", Users: users}, security: "starttls", user: smtpUser, wantTLS: true},
		{name: "StartTLSLogin", server: smtpOptions{Security: "starttls", Users: users, Mechanisms: []string{sasl.Login}}, security: "starttls", user: smtpUser, wantTLS: true},
		{name: "ImplicitTLS", server: smtpOptions{Security: "tls", Users: users}, security: "tls", user: smtpUser, wantTLS: true},
		{name: "InsecureSkipVerify", server: smtpOptions{Security: "starttls", Users: users}, security: "starttls", user: smtpUser, wantTLS: true,
			change: func(c *config.SMTP) { c.CAFile, c.InsecureSkipVerify = "", true }},
		{name: "PlaintextAuthAllowed", server: smtpOptions{Security: "none", Users: users, AllowInsecureAuth: true}, security: "none", user: smtpUser},
		{name: "RelayWithoutLogin", server: smtpOptions{Security: "none"}, security: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startSMTP(t, tt.server)
			cfg := srv.config(tt.security, tt.user, smtpPassword)
			if tt.user == "" {
				cfg.Password = ""
			}
			if tt.change != nil {
				tt.change(&cfg)
			}
			msg := reportMessage(t)
			receipt, err := notify.NewMailer(cfg).Send(t.Context(), msg)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			wantRcpts := []string{"admin@example.com", "helpdesk@example.com"}
			if !slices.Equal(receipt.Accepted, wantRcpts) || receipt.Server != srv.Host+":"+itoa(srv.Port) || receipt.Response == "" {
				t.Errorf("Receipt = %+v; want both recipients accepted, the server and its answer", receipt)
			}

			got := srv.received()
			if len(got) != 1 {
				t.Fatalf("server stored %d messages; want 1", len(got))
			}
			m := got[0]
			if m.From != "migration@example.com" || !slices.Equal(m.To, wantRcpts) || m.AuthUser != tt.user || m.TLS != tt.wantTLS {
				t.Errorf("server got MAIL FROM %q, RCPT TO %q, login %q, TLS %v; want %q, %q, %q, %v",
					m.From, m.To, m.AuthUser, m.TLS, "migration@example.com", wantRcpts, tt.user, tt.wantTLS)
			}
			p := mustParse(t, m.Data)
			if got := p.Header.Get("Message-ID"); got != "<"+receipt.MessageID+">" {
				t.Errorf("stored Message-ID %q; Receipt says %q", got, receipt.MessageID)
			}
			if d, err := p.Header.Date(); err != nil || !d.Equal(receipt.Date) {
				t.Errorf("stored Date %v (%v); Receipt says %v", d, err, receipt.Date)
			}
			if got := decodeHeader(t, p.Header.Get("Subject")); got != msg.Subject {
				t.Errorf("stored Subject %q; want %q", got, msg.Subject)
			}
			if len(p.Parts) != 2 || p.Parts[0].ContentType != "text/plain" || p.Parts[1].ContentType != "text/csv" {
				t.Fatalf("stored message has parts %+v; want text/plain and text/csv", p.Parts)
			}
			if !strings.Contains(string(p.Parts[0].Body), "bob@example.com    Failed") {
				t.Errorf("stored body lacks the users table:\n%s", p.Parts[0].Body)
			}
			if csv := msg.Attachments[0].Data; string(p.Parts[1].Body) != string(csv) || p.Parts[1].Filename != "wave1-report.csv" {
				t.Errorf("stored attachment %q = %q; want wave1-report.csv = %q", p.Parts[1].Filename, p.Parts[1].Body, csv)
			}
		})
	}
}

func TestSendFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		server   smtpOptions
		security string
		change   func(c *config.SMTP)
		want     []string
		// wantAuth is whether the client may have tried to log in.
		wantAuth bool
	}{
		{
			name:     "AuthOverPlaintextRefused",
			server:   smtpOptions{Security: "none", Users: users},
			security: "none",
			want:     []string{"log in as migration@example.com: the server offers no AUTH on this unencrypted connection"},
		},
		{
			name:     "StartTLSNotOffered",
			server:   smtpOptions{Security: "none", Users: users, AllowInsecureAuth: true},
			security: "starttls",
			want:     []string{"starttls: smtp: server doesn't support STARTTLS"},
		},
		{
			name:     "UntrustedCertificateStartTLS",
			server:   smtpOptions{Security: "starttls", Users: users},
			security: "starttls",
			change:   func(c *config.SMTP) { c.CAFile = "" },
			want:     []string{"starttls: tls: failed to verify certificate", "give its CA in smtp.ca_file"},
		},
		{
			name:     "UntrustedCertificateTLS",
			server:   smtpOptions{Security: "tls", Users: users},
			security: "tls",
			change:   func(c *config.SMTP) { c.CAFile = "" },
			want:     []string{"TLS handshake: tls: failed to verify certificate", "give its CA in smtp.ca_file"},
		},
		{
			name:     "WrongHostName",
			server:   smtpOptions{Security: "starttls", Users: users, Listen: "127.0.0.2"},
			security: "starttls",
			want:     []string{"certificate is valid for 127.0.0.1, not 127.0.0.2"},
		},
		{
			name:     "WrongPassword",
			server:   smtpOptions{Security: "starttls", Users: map[string]string{smtpUser: "another"}},
			security: "starttls",
			want:     []string{"log in as migration@example.com: SMTP error 535: Authentication failed"},
			wantAuth: true,
		},
		{
			name:     "UnknownMechanism",
			server:   smtpOptions{Security: "starttls", Users: users, Mechanisms: []string{"CRAM-MD5"}},
			security: "starttls",
			want:     []string{"the server offers AUTH CRAM-MD5, neither PLAIN nor LOGIN"},
		},
		{
			name:     "AllRecipientsRefused",
			server:   smtpOptions{Security: "starttls", Users: users, Refuse: map[string]bool{"admin@example.com": true, "helpdesk@example.com": true}},
			security: "starttls",
			want: []string{
				"recipient admin@example.com refused: SMTP error 550: No such user here; " +
					"recipient helpdesk@example.com refused: SMTP error 550: No such user here",
			},
			wantAuth: true,
		},
		{
			name:     "MissingCAFile",
			server:   smtpOptions{Security: "starttls", Users: users},
			security: "starttls",
			change:   func(c *config.SMTP) { c.CAFile = "/nonexistent/ca.pem" },
			want:     []string{"read CA file: open /nonexistent/ca.pem"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startSMTP(t, tt.server)
			cfg := srv.config(tt.security, smtpUser, smtpPassword)
			if tt.change != nil {
				tt.change(&cfg)
			}
			_, err := notify.NewMailer(cfg).Send(t.Context(), reportMessage(t))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			t.Logf("Send error: %v", err)
			prefix := "send mail to admin@example.com, helpdesk@example.com via " + cfg.Addr() + ": "
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Send error %q does not start with %q", err, prefix)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Send error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), smtpPassword) {
				t.Errorf("Send error %q shows the password", err)
			}
			if n := srv.authAttempts(); n > 0 && !tt.wantAuth {
				t.Errorf("the client tried AUTH %d times; it must not send the password here", n)
			}
			if got := srv.received(); len(got) != 0 {
				t.Errorf("server stored %d messages; want none", len(got))
			}
		})
	}
}

// TestSendSomeRecipientsRefused checks that a refused recipient does not
// keep the message from the others, and that the error says who missed it.
func TestSendSomeRecipientsRefused(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{Security: "starttls", Users: users, Refuse: map[string]bool{"admin@example.com": true}})
	receipt, err := notify.NewMailer(srv.config("starttls", smtpUser, smtpPassword)).Send(t.Context(), reportMessage(t))
	if err == nil || !strings.Contains(err.Error(), "recipient admin@example.com refused: SMTP error 550") {
		t.Fatalf("Send error = %v; want one naming the refused recipient", err)
	}
	var re *notify.RecipientError
	var se *smtp.SMTPError
	if !errors.As(err, &re) || re.Address != "admin@example.com" || !errors.As(err, &se) || se.Code != 550 || se.Temporary() {
		t.Errorf("Send error %v: RecipientError %+v, SMTPError %+v; want admin@example.com, 550", err, re, se)
	}
	if !slices.Equal(receipt.Accepted, []string{"helpdesk@example.com"}) || receipt.MessageID == "" {
		t.Errorf("Receipt = %+v; want helpdesk@example.com accepted", receipt)
	}
	got := srv.received()
	if len(got) != 1 || !slices.Equal(got[0].To, []string{"helpdesk@example.com"}) {
		t.Fatalf("server stored %+v; want one message to helpdesk@example.com", got)
	}
	// The header still names both: the admin can see who was meant to get it.
	to, err := mustParse(t, got[0].Data).Header.AddressList("To")
	if err != nil || len(to) != 2 {
		t.Errorf("stored To = %v, %v; want both addresses", to, err)
	}
}

// TestSendStalledServer checks that a server that accepts the connection
// and then says nothing fails the send: by the timeout, or when the
// caller cancels.
func TestSendStalledServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		timeout time.Duration
		cancel  bool
		want    error
	}{
		{name: "Timeout", timeout: 100 * time.Millisecond, want: os.ErrDeadlineExceeded},
		{name: "Canceled", timeout: time.Hour, cancel: true, want: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
				if tt.cancel {
					cancel()
				}
			}()
			port := ln.Addr().(*net.TCPAddr).Port
			m := notify.NewMailer(config.SMTP{Host: "127.0.0.1", Port: port, Security: "none", Timeout: config.Duration{Duration: tt.timeout}})
			_, err = m.Send(ctx, notify.Message{From: mail.Address{Address: "m@example.com"}, To: []mail.Address{{Address: "a@example.com"}}, Text: "x"})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), "send mail to a@example.com via 127.0.0.1:") {
				t.Errorf("Send error = %v; want %v, naming the recipient and the server", err, tt.want)
			}
		})
	}
}

func TestSendConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	m := notify.NewMailer(config.SMTP{Host: "127.0.0.1", Port: port, Security: "starttls"})
	_, err = m.Send(t.Context(), notify.Message{From: mail.Address{Address: "m@example.com"}, To: []mail.Address{{Address: "a@example.com"}}})
	if err == nil || !strings.Contains(err.Error(), "send mail to a@example.com via 127.0.0.1:"+itoa(port)+": connect: ") {
		t.Errorf("Send error = %v; want a connect error naming the server", err)
	}
}
