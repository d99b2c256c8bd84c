package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/imapmigrate/imapmigrate/internal/config"
)

// defaultTimeout applies when the settings give none (a config.SMTP not
// made by config.Load).
const defaultTimeout = 30 * time.Second

// helloName is what the client calls itself in EHLO. Submission servers
// authenticate the sender by its login, not by this name; "localhost" is
// what go-smtp and net/smtp send too.
const helloName = "localhost"

// Mailer delivers messages through one SMTP server. It holds no
// connection: each Send connects, delivers and quits, which suits a few
// reports a day and letters sent in runs.
type Mailer struct {
	cfg config.SMTP
}

// NewMailer returns a Mailer for the server cfg describes. cfg should have
// passed config.Validate; Send reports what is still wrong.
func NewMailer(cfg config.SMTP) *Mailer {
	if cfg.Timeout.Duration <= 0 {
		cfg.Timeout.Duration = defaultTimeout
	}
	if cfg.Security == "" {
		cfg.Security = config.SMTPSecurityStartTLS
	}
	return &Mailer{cfg: cfg}
}

// Receipt says what happened to a message the server took: what to record
// of what was sent to whom.
type Receipt struct {
	MessageID string
	Date      time.Time
	// Server is host:port.
	Server string
	// Accepted are the envelope recipients the server took. When it is
	// not all of them, Send's error lists the others.
	Accepted []string
	// Response is the server's answer to the end of the message, which
	// usually carries its queue ID ("2.0.0 Ok: queued as 4Xk2...").
	Response string
}

// RecipientError is a recipient the server refused. Send's error holds one
// per refused recipient (find them with errors.As), with the Receipt of
// the others, if any.
type RecipientError struct {
	Address string
	Err     error
}

func (e *RecipientError) Error() string {
	return fmt.Sprintf("recipient %s refused: %v", e.Address, e.Err)
}

func (e *RecipientError) Unwrap() error { return e.Err }

// recipientErrors are the refused recipients of one message, on one line
// (errors.Join would put each on a line of its own, which breaks logs).
type recipientErrors []error

func (e recipientErrors) Error() string {
	s := make([]string, len(e))
	for i, err := range e {
		s[i] = err.Error()
	}
	return strings.Join(s, "; ")
}

func (e recipientErrors) Unwrap() []error { return e }

// Send builds msg and delivers it to msg.To: connect, protect the
// connection as configured (implicit TLS, or STARTTLS that must succeed),
// log in when a username is set, then MAIL, RCPT for each recipient, DATA.
// Each step gets the configured timeout; cancelling ctx aborts whichever
// is running.
//
// Errors name the recipients and the server, and the step that failed;
// never the password. Recipients the server refuses do not stop the
// others: the message goes to those accepted (Receipt.Accepted) and the
// error holds a *RecipientError for each refused one. Server answers are
// *smtp.SMTPError inside the chain; their Temporary method tells a 4xx
// answer worth retrying later.
func (m *Mailer) Send(ctx context.Context, msg Message) (Receipt, error) {
	data, err := msg.Build()
	if err != nil {
		return Receipt{}, err
	}
	rcpts := make([]string, len(msg.To))
	for i, a := range msg.To {
		rcpts[i] = a.Address
	}
	addr := m.cfg.Addr()
	r := Receipt{MessageID: msg.MessageID, Date: msg.Date, Server: addr}
	fail := func(err error) (Receipt, error) {
		if cause := context.Cause(ctx); cause != nil {
			// The connection was closed under the client; say why.
			err = fmt.Errorf("%w: %w", err, cause)
		}
		return r, fmt.Errorf("send mail to %s via %s: %w", strings.Join(rcpts, ", "), addr, err)
	}

	c, stop, err := m.connect(ctx, addr)
	if err != nil {
		return fail(err)
	}
	defer stop()
	defer c.Close()

	if m.cfg.Username != "" {
		if err := m.login(c); err != nil {
			return fail(err)
		}
	}

	opts := &smtp.MailOptions{Size: int64(len(data))}
	if !isASCII(msg.From.Address) || !isASCII(strings.Join(rcpts, "")) {
		opts.UTF8 = true
	}
	if err := c.Mail(msg.From.Address, opts); err != nil {
		return fail(fmt.Errorf("sender %s refused: %w", msg.From.Address, err))
	}
	var refused recipientErrors
	for _, to := range rcpts {
		err := c.Rcpt(to, nil)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			r.Accepted = append(r.Accepted, to)
		case errors.As(err, &se):
			refused = append(refused, &RecipientError{Address: to, Err: err})
		default:
			return fail(fmt.Errorf("recipient %s: %w", to, err))
		}
	}
	if len(r.Accepted) == 0 {
		return fail(refused)
	}
	w, err := c.Data()
	if err != nil {
		return fail(fmt.Errorf("DATA: %w", err))
	}
	if _, err := w.Write(data); err != nil {
		return fail(fmt.Errorf("write message: %w", err))
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return fail(fmt.Errorf("message refused: %w", err))
	}
	r.Response = resp.StatusText
	// The message is the server's now; a failed QUIT changes nothing.
	_ = c.Quit()
	if len(refused) > 0 {
		return fail(refused)
	}
	return r, nil
}

// connect dials addr, sets up TLS as configured and reads the greeting.
// stop undoes the watch on ctx.
func (m *Mailer) connect(ctx context.Context, addr string) (c *smtp.Client, stop func() bool, err error) {
	d := net.Dialer{Timeout: m.cfg.Timeout.Duration}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	// go-smtp takes no context: closing the connection is how ctx stops it.
	unwatch := context.AfterFunc(ctx, func() { raw.Close() })
	defer func() {
		if err != nil {
			unwatch()
			raw.Close()
		}
	}()
	conn := idleConn{Conn: raw, timeout: m.cfg.Timeout.Duration}

	switch m.cfg.Security {
	case config.SMTPSecurityTLS:
		conf, err := m.tlsConfig()
		if err != nil {
			return nil, nil, err
		}
		tc := tls.Client(conn, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, fmt.Errorf("TLS handshake: %w%s", err, verifyHint(err))
		}
		c = smtp.NewClient(tc)
		if err := c.Hello(helloName); err != nil {
			return nil, nil, fmt.Errorf("greeting: %w", err)
		}
	case config.SMTPSecurityStartTLS:
		conf, err := m.tlsConfig()
		if err != nil {
			return nil, nil, err
		}
		// NewClientStartTLS fails when the server does not offer
		// STARTTLS: there is no going on in clear.
		c, err = smtp.NewClientStartTLS(conn, conf)
		if err != nil {
			return nil, nil, fmt.Errorf("starttls: %w", err)
		}
		// EHLO again, now over TLS: the handshake happens here.
		if err := c.Hello(helloName); err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("starttls: %w%s", err, verifyHint(err))
		}
	case config.SMTPSecurityNone:
		c = smtp.NewClient(conn)
		if err := c.Hello(helloName); err != nil {
			return nil, nil, fmt.Errorf("greeting: %w", err)
		}
	default:
		return nil, nil, fmt.Errorf("security %q: want tls, starttls or none", m.cfg.Security)
	}
	return c, unwatch, nil
}

// tlsConfig verifies the server's certificate and name, against the CA
// file when one is given.
func (m *Mailer) tlsConfig() (*tls.Config, error) {
	conf := &tls.Config{
		ServerName:         m.cfg.Host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: m.cfg.InsecureSkipVerify,
	}
	if m.cfg.CAFile != "" {
		pem, err := os.ReadFile(m.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate found", m.cfg.CAFile)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

// verifyHint tells the admin what to do about a certificate that did not
// verify.
func verifyHint(err error) string {
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		return " (for a private CA or a self-signed certificate, give its CA in smtp.ca_file)"
	}
	return ""
}

// login authenticates with PLAIN, or LOGIN for servers that offer only
// that (older Exchange and some hosted relays).
func (m *Mailer) login(c *smtp.Client) error {
	user, password := m.cfg.Username, m.cfg.Password.Reveal()
	ok, mechs := c.Extension("AUTH")
	if !ok {
		if m.cfg.Security == config.SMTPSecurityNone {
			return fmt.Errorf("log in as %s: the server offers no AUTH on this unencrypted connection; most offer it only over TLS (security starttls or tls)", user)
		}
		return fmt.Errorf("log in as %s: the server offers no AUTH; leave smtp.username empty if it relays without a login", user)
	}
	var sc sasl.Client
	switch {
	case c.SupportsAuth(sasl.Plain):
		sc = sasl.NewPlainClient("", user, password)
	case c.SupportsAuth(sasl.Login):
		sc = sasl.NewLoginClient(user, password)
	default:
		return fmt.Errorf("log in as %s: the server offers AUTH %s, neither PLAIN nor LOGIN", user, mechs)
	}
	if err := c.Auth(sc); err != nil {
		return fmt.Errorf("log in as %s: %w", user, err)
	}
	return nil
}

// idleConn fails a read or a write that makes no progress for timeout.
// It bounds every step, the greeting and the TLS handshake inside
// NewClientStartTLS included, which go-smtp would give 5 minutes before
// its CommandTimeout can be set. The deadlines go-smtp sets are ignored,
// since each Read and Write sets its own.
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c idleConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c idleConn) SetDeadline(time.Time) error      { return nil }
func (c idleConn) SetReadDeadline(time.Time) error  { return nil }
func (c idleConn) SetWriteDeadline(time.Time) error { return nil }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
