// Package imapconn connects to one IMAP server: TLS, STARTTLS or plain,
// certificate policy, login, and a wire guard under go-imap.
//
// Implementation notes:
//
//   - TLS is verified by default (RELIABILITY.md §5). Implicit TLS is RFC
//     8314; STARTTLS is RFC 9051 section 6.2.1 and, when configured, is
//     required: without it Dial fails before any credential is sent.
//   - Dial does the STARTTLS exchange itself and hands go-imap a connection
//     that is already encrypted. go-imap's own STARTTLS would put its TLS
//     layer above our net.Conn wrapper, which would then see only ciphertext.
//   - The wrapper (wire.go) splits each direction into lines and literals
//     (RFC 9051 section 4.3, RFC 7888, RFC 3516) to write a transcript with
//     credentials removed, to refuse mutating commands on a read-only
//     connection before they leave the process, and to cut a connection on
//     which the server owes a reply but has sent nothing for IdleTimeout.
package imapconn

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/imapmigrate/imapmigrate/internal/oauth"
)

// Security is how the connection is protected.
type Security string

const (
	SecurityTLS      Security = "tls"      // implicit TLS from the first byte (port 993)
	SecurityStartTLS Security = "starttls" // plain connect, then STARTTLS, which must be offered
	SecurityNone     Security = "none"     // no encryption: credentials travel in clear
)

// ParseSecurity parses "tls", "starttls", "none" or "" (the default, chosen
// by Dial from the port).
func ParseSecurity(s string) (Security, error) {
	switch sec := Security(strings.ToLower(s)); sec {
	case SecurityTLS, SecurityStartTLS, SecurityNone, "":
		return sec, nil
	}
	return "", fmt.Errorf("parse security %q: want tls, starttls or none", s)
}

const (
	// DefaultIdleTimeout is long enough for a server that is slow to
	// start a large FETCH or to finish an APPEND, short enough that a hung
	// connection does not hold a mailbox for long.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultDialTimeout bounds the whole of Dial.
	DefaultDialTimeout = 30 * time.Second

	// logoutTimeout is how long Close waits for the server to answer LOGOUT.
	logoutTimeout = 2 * time.Second
	// closeTimeout is how long Close waits for go-imap's reader to stop.
	closeTimeout = 2 * time.Second
)

// Config says how to connect and log in.
type Config struct {
	Addr string // host:port
	// Security defaults to tls when the port is 993 and starttls otherwise,
	// so that leaving it empty never sends a password in clear.
	Security Security
	User     string // the mailbox to act on
	Password string // User's password, or AuthUser's when AuthUser is set
	// AuthUser logs in as an admin acting for User: SASL PLAIN with
	// authzid=User and authcid=AuthUser (RFC 4616), as Dovecot master users
	// and similar admin logins expect.
	AuthUser string
	// Mechanism is "plain" (SASL PLAIN), "login" (the LOGIN command) or ""
	// (auto: PLAIN when the server offers it, else LOGIN). An admin login
	// (AuthUser) is always PLAIN. With TokenSource it is "xoauth2",
	// "oauthbearer" or "" (auto: OAUTHBEARER when offered, else XOAUTH2).
	Mechanism string
	// TokenSource, when set, logs in with an OAuth 2.0 access token for
	// User instead of Password: SASL OAUTHBEARER (RFC 7628) or XOAUTH2, as
	// Office 365 and Gmail want (see oauth.go). Every login asks it for the
	// token, so a reconnect after the last token expired gets a new one:
	// the source's cache decides whether to fetch.
	TokenSource oauth.TokenSource
	// CAFile is a PEM bundle that replaces the system roots, for private CAs
	// and self-signed servers. Empty means the system roots.
	CAFile string
	// InsecureSkipVerify accepts any certificate. Only when the admin asks.
	InsecureSkipVerify bool
	// PinSHA256 trusts exactly one server certificate: the SHA-256
	// fingerprint of its DER form, in hex, as `openssl x509 -noout
	// -fingerprint -sha256` prints it (case and colons do not matter). It is
	// the safe way to reach a self-signed server: the chain, the expiry and
	// the host name are not checked, but any other certificate fails Dial
	// with KindTLS and an error that shows its fingerprint. It cannot be
	// combined with InsecureSkipVerify or CAFile, nor with SecurityNone.
	// Empty means no pin.
	PinSHA256 string
	// ReadOnly refuses, before they are sent, all commands that could change
	// the server: only EXAMINE, never SELECT, and FETCH only with .PEEK. A
	// refused command fails with ErrReadOnly and the connection is closed.
	ReadOnly bool
	// Trace receives the protocol transcript, without passwords or SASL
	// data. Nil means none.
	Trace io.Writer
	// TraceLabel prefixes every transcript line, for example "source".
	TraceLabel string
	// IdleTimeout: while the server owes a reply, no byte from it for this
	// long closes the connection. Defaults to 2 minutes.
	IdleTimeout time.Duration
	// DialTimeout bounds all of Dial: connect, TLS, greeting and login.
	// Defaults to 30 seconds.
	DialTimeout time.Duration
	// Side is "source" or "destination" and is named in every error.
	Side string
	// Observe, when set, is called with the name of each command (e.g.
	// "UID FETCH") and the time until its tagged reply, for metrics. It
	// runs on the connection's reader: it must be fast.
	Observe func(command string, d time.Duration)
}

// Conn is a logged-in connection. The go-imap client is embedded so that
// callers use go-imap directly; everything it sends and receives passes the
// wire guard.
type Conn struct {
	*imapclient.Client
	cfg  Config
	wire *wire

	selMu sync.Mutex // guards sel
	sel   *Selection // the last SELECT or EXAMINE sent
}

// Dial connects, protects the connection as cfg.Security says, reads the
// greeting and capabilities, logs in and reads the capabilities again.
// Cancelling ctx aborts whichever of these is running. Errors are *Error.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.DialTimeout,
		fmt.Errorf("setup took longer than %v: %w", cfg.DialTimeout, context.DeadlineExceeded))
	defer cancel()

	var w *wire
	fail := func(kind Kind, op string, err error) (*Conn, error) {
		if cause := context.Cause(ctx); cause != nil {
			kind, err = KindConnect, cause
		} else if w != nil && errors.Is(w.Err(), ErrIdleTimeout) {
			kind, err = KindConnect, w.Err()
		}
		return nil, &Error{Side: cfg.Side, Addr: cfg.Addr, User: cfg.User, Kind: kind,
			Err: fmt.Errorf("%s: %w", op, withoutSecret(err, cfg.Password))}
	}
	forUser := " for " + cfg.User

	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return fail(KindConnect, "parse address", err)
	}
	if _, err := ParseSecurity(string(cfg.Security)); err != nil {
		return fail(KindProtocol, "check config", err)
	}
	if cfg.Security == "" {
		cfg.Security = SecurityStartTLS
		if port == "993" {
			cfg.Security = SecurityTLS
		}
	}
	pin, err := cfg.pin()
	if err != nil {
		return fail(KindTLS, "check config", err)
	}
	tlsConfig, err := cfg.tlsConfig(host, pin)
	if err != nil {
		return fail(KindTLS, "load CA file", err)
	}

	var dialer net.Dialer
	raw, err := dialer.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fail(KindConnect, "connect"+forUser, err)
	}
	ok := false
	defer func() {
		if !ok {
			raw.Close()
		}
	}()

	conn := raw
	if cfg.Security == SecurityTLS {
		tc := tls.Client(raw, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(KindTLS, "tls handshake"+forUser, err)
		}
		conn = tc
	}
	w = newWire(raw, conn, cfg)
	stop := context.AfterFunc(ctx, func() { w.kill(context.Cause(ctx)) })
	defer stop()
	if tc, isTLS := conn.(*tls.Conn); isTLS {
		w.traceNote(tlsNote(tc, cfg))
	}

	if cfg.Security == SecurityStartTLS {
		if kind, err := startTLS(ctx, w, tlsConfig); err != nil {
			return fail(kind, "starttls"+forUser, err)
		}
		w.traceNote(tlsNote(w.conn.(*tls.Conn), cfg))
	}

	client := imapclient.New(w, nil)
	defer func() {
		if !ok {
			w.kill(errAborted)
			client.Close()
		}
	}()
	if err := client.WaitGreeting(); err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeBye {
			return fail(KindConnect, "read greeting"+forUser, err)
		}
		return fail(KindProtocol, "read greeting"+forUser, err)
	}
	c := &Conn{Client: client, cfg: cfg, wire: w}
	if client.State() == imap.ConnStateNotAuthenticated {
		if kind, op, err := c.login(ctx); err != nil {
			return fail(kind, op, err)
		}
	}
	// Login invalidates the capabilities; go-imap asks for them again
	// unless the reply carried them, and Caps waits for that answer.
	if client.Caps() == nil {
		return fail(KindProtocol, "read capabilities"+forUser, errors.New("no CAPABILITY reply"))
	}
	if !stop() {
		return fail(KindConnect, "log in"+forUser, context.Cause(ctx))
	}
	if !cfg.ReadOnly && client.Caps().Has(imap.CapLiteralPlus) {
		w.enableLiteralPlus()
	}
	ok = true
	return c, nil
}

// login authenticates with the best method the server offers: SASL PLAIN
// (always for an admin login), else LOGIN; or with a token (oauthLogin).
// It returns the kind and the operation to name if it fails.
func (c *Conn) login(ctx context.Context) (Kind, string, error) {
	cfg := c.cfg
	op := "login as " + cfg.User
	if cfg.AuthUser != "" {
		op += " via " + cfg.AuthUser
	}
	caps := c.Client.Caps()
	if caps == nil {
		return KindProtocol, "read capabilities for " + cfg.User, errors.New("no CAPABILITY reply")
	}
	if cfg.TokenSource != nil {
		return c.oauthLogin(ctx, caps)
	}
	if m := strings.ToLower(cfg.Mechanism); m == "xoauth2" || m == "oauthbearer" {
		return KindAuth, op, fmt.Errorf("mechanism %s needs an OAuth token source, and none is configured", m)
	}
	plain := caps.Has(imap.AuthCap(sasl.Plain))

	var err error
	switch {
	case cfg.AuthUser != "" && !plain:
		return KindAuth, op, errors.New("server does not offer AUTH=PLAIN, which an admin login needs")
	case cfg.AuthUser != "":
		err = c.Client.Authenticate(sasl.NewPlainClient(cfg.User, cfg.AuthUser, cfg.Password))
	case cfg.Mechanism == "plain" && !plain:
		return KindAuth, op, errors.New("server does not offer AUTH=PLAIN, and the endpoint asks for it")
	case plain && cfg.Mechanism != "login":
		err = c.Client.Authenticate(sasl.NewPlainClient("", cfg.User, cfg.Password))
	case caps.Has(imap.CapLoginDisabled):
		return KindAuth, op, errors.New("server disables LOGIN (LOGINDISABLED) and offers no AUTH=PLAIN")
	default:
		err = c.Client.Login(cfg.User, cfg.Password).Wait()
	}
	if err == nil {
		return 0, "", nil
	}
	return c.loginFailure(op, err)
}

// loginFailure classifies a failed login command: the server's answer is
// an auth failure, a lost connection is worth another try.
func (c *Conn) loginFailure(op string, err error) (Kind, string, error) {
	var ie *imap.Error
	switch {
	case errors.As(err, &ie):
		return KindAuth, op, err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return KindConnect, op, fmt.Errorf("connection lost: %w", err)
	case c.wire.byeError() != nil:
		// The server hung up during the login (shutting down, say): a
		// lost connection, worth another try, not a protocol error.
		return KindConnect, op, err
	}
	return KindProtocol, op, err
}

// tlsConfig verifies the server's name and, with CAFile, trusts only the
// roots in that file. With a pin it checks the certificate against the pin
// and nothing else.
func (cfg Config) tlsConfig(host string, pin *[sha256.Size]byte) (*tls.Config, error) {
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         host,
		InsecureSkipVerify: cfg.InsecureSkipVerify,
	}
	if pin != nil {
		// InsecureSkipVerify only turns off the chain and name checks so
		// that a self-signed certificate gets as far as VerifyConnection,
		// which crypto/tls runs on every handshake (resumptions included)
		// whatever InsecureSkipVerify says, and which is then the check.
		conf.InsecureSkipVerify = true
		conf.VerifyConnection = func(st tls.ConnectionState) error {
			if len(st.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			leaf := st.PeerCertificates[0]
			if got := sha256.Sum256(leaf.Raw); got != *pin {
				return fmt.Errorf("server certificate %q has SHA-256 fingerprint %s, not the pinned %s",
					leaf.Subject, Fingerprint(got), Fingerprint(*pin))
			}
			return nil
		}
		return conf, nil
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate found", cfg.CAFile)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

// tlsNote describes the TLS session for the transcript, loudly when the
// certificate was not checked.
func tlsNote(tc *tls.Conn, cfg Config) string {
	st := tc.ConnectionState()
	note := "tls: " + tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
	switch {
	case cfg.InsecureSkipVerify:
		note += ", certificate NOT verified (insecure skip verify)"
	case cfg.PinSHA256 != "" && len(st.PeerCertificates) > 0:
		note += ", certificate pinned, SHA-256 " + Fingerprint(sha256.Sum256(st.PeerCertificates[0].Raw))
	}
	return note
}

// pin parses and checks PinSHA256; nil means no pin.
func (cfg Config) pin() (*[sha256.Size]byte, error) {
	if cfg.PinSHA256 == "" {
		return nil, nil
	}
	pin, err := ParsePin(cfg.PinSHA256)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.InsecureSkipVerify:
		return nil, errors.New("a certificate pin and insecure skip verify exclude each other: the pin is the safe choice")
	case cfg.CAFile != "":
		return nil, errors.New("a certificate pin and a CA file exclude each other: the pin trusts one certificate, not a CA")
	case cfg.Security == SecurityNone:
		return nil, errors.New("a certificate pin needs security tls or starttls, not none")
	}
	return &pin, nil
}

// ParsePin parses the SHA-256 fingerprint of a certificate: 64 hex digits
// in either case, with or without colons between them.
func ParsePin(s string) ([sha256.Size]byte, error) {
	var pin [sha256.Size]byte
	digits := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	if len(digits) != 2*sha256.Size {
		return pin, fmt.Errorf("parse certificate pin %q: want a SHA-256 fingerprint, 64 hex digits (colons allowed)", s)
	}
	if _, err := hex.Decode(pin[:], []byte(digits)); err != nil {
		return pin, fmt.Errorf("parse certificate pin %q: %w", s, err)
	}
	return pin, nil
}

// Fingerprint formats a SHA-256 certificate fingerprint as openssl does:
// upper-case hex pairs separated by colons.
func Fingerprint(sum [sha256.Size]byte) string {
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// startTLS runs greeting, CAPABILITY and STARTTLS by hand, then the TLS
// handshake, and leaves w ready for go-imap behind a stand-in greeting. It
// returns the kind of failure with the error.
func startTLS(ctx context.Context, w *wire, conf *tls.Config) (Kind, error) {
	br := bufio.NewReaderSize(w, 16<<10)
	greeting, err := readLine(br)
	if err != nil {
		return KindConnect, fmt.Errorf("read greeting: %w", err)
	}
	cond, code, text := parseStatus(strings.TrimPrefix(greeting, "* "))
	switch {
	case !strings.HasPrefix(greeting, "* "):
		return KindProtocol, fmt.Errorf("read greeting: unexpected %q", greeting)
	case cond == "PREAUTH":
		// RFC 9051 section 7.1.4: the session is already authenticated,
		// so it can never be encrypted.
		return KindTLS, errors.New("server sent PREAUTH on a connection that must use STARTTLS")
	case cond == "BYE":
		return KindConnect, &imap.Error{Type: imap.StatusResponseTypeBye, Code: imap.ResponseCode(code), Text: text}
	case cond != "OK":
		return KindProtocol, fmt.Errorf("read greeting: unexpected %q", greeting)
	}

	caps := map[string]bool{}
	if name, list, _ := strings.Cut(code, " "); strings.EqualFold(name, "CAPABILITY") {
		for _, c := range strings.Fields(list) {
			caps[strings.ToUpper(c)] = true
		}
	} else {
		lines, err := command(w, br, "P1", "CAPABILITY")
		if err != nil {
			return KindProtocol, fmt.Errorf("capability: %w", err)
		}
		for _, l := range lines {
			if rest, ok := cutPrefixFold(l, "* CAPABILITY "); ok {
				for _, c := range strings.Fields(rest) {
					caps[strings.ToUpper(c)] = true
				}
			}
		}
	}
	if !caps["STARTTLS"] {
		return KindTLS, errors.New("server does not offer STARTTLS")
	}
	if _, err := command(w, br, "P2", "STARTTLS"); err != nil {
		return KindTLS, err
	}
	// Bytes after the OK were sent in clear but would be read as if they
	// came over TLS: the STARTTLS injection attack (RFC 9051 section 11.1).
	if br.Buffered() > 0 {
		return KindTLS, errors.New("server sent data after its STARTTLS reply")
	}
	tc := tls.Client(w.raw, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		return KindTLS, fmt.Errorf("tls handshake: %w", err)
	}
	// go-imap expects a greeting; the server does not send a second one.
	// Without capabilities in it, go-imap asks for them, as RFC 9051
	// section 6.2.1 requires after STARTTLS.
	w.upgrade(tc, []byte("* OK TLS established\r\n"))
	return 0, nil
}

// command sends one command and returns the untagged lines before its
// tagged reply, or the reply as *imap.Error when it is not OK.
func command(w *wire, br *bufio.Reader, tag, cmd string) ([]string, error) {
	if _, err := io.WriteString(w, tag+" "+cmd+"\r\n"); err != nil {
		return nil, err
	}
	var untagged []string
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, err
		}
		rest, ok := strings.CutPrefix(line, tag+" ")
		if !ok {
			untagged = append(untagged, line)
			continue
		}
		cond, code, text := parseStatus(rest)
		if cond != "OK" {
			return nil, &imap.Error{Type: imap.StatusResponseType(cond), Code: imap.ResponseCode(code), Text: text}
		}
		return untagged, nil
	}
}

// readLine reads one line without its CRLF; a line longer than br's buffer
// is a protocol error, not a reason to grow memory without bound.
func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", errors.New("line too long")
		}
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// parseStatus splits "OK [CODE args] text" into its parts; cond is upper case.
func parseStatus(s string) (cond, code, text string) {
	cond, text, _ = strings.Cut(s, " ")
	if rest, ok := strings.CutPrefix(text, "["); ok {
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			code, text = rest[:i], strings.TrimPrefix(rest[i+1:], " ")
		}
	}
	return strings.ToUpper(cond), code, text
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// Close sends LOGOUT, waits for the reply at most logoutTimeout, and closes
// the socket. It never hangs: go-imap's reader can stay blocked when a FETCH
// was left unconsumed (STACK.md catch 2), so Close waits closeTimeout for it
// and then gives up on it with an error.
func (c *Conn) Close() error {
	select {
	case <-c.Client.Closed():
	default:
		logout := make(chan struct{})
		go func() {
			// Logout itself can block while another command holds the
			// encoder; closing the socket below frees it.
			_ = c.Client.Logout().Wait()
			close(logout)
		}()
		t := time.NewTimer(logoutTimeout)
		select {
		case <-logout:
		case <-t.C:
		}
		t.Stop()
	}
	_ = c.wire.Close()

	closed := make(chan struct{})
	go func() {
		// Its error is the reason the connection ended, already seen by the
		// commands that were pending; Close has nothing to add.
		_ = c.Client.Close()
		close(closed)
	}()
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	select {
	case <-closed:
		return nil
	case <-t.C:
		return fmt.Errorf("close %s connection to %s for %s: go-imap reader still blocked (unconsumed FETCH?)",
			c.cfg.Side, c.cfg.Addr, c.cfg.User)
	}
}

// Abort closes the socket at once, without LOGOUT: for a stream broken in
// the middle of a literal, or a caller that gives up. Pending commands fail
// and Err reports the abort. Call Close afterwards to release go-imap.
func (c *Conn) Abort() { c.wire.kill(errAborted) }

// Err returns why this package cut the connection: the idle watchdog
// (wrapping ErrIdleTimeout), the read-only guard (wrapping ErrReadOnly), or
// Abort. It is nil while the connection is open or when the server closed it.
// go-imap flattens I/O errors into text, so this is how to tell these apart.
func (c *Conn) Err() error { return c.wire.Err() }

// Unmappable reports whether name, a mailbox name that go-imap returned in
// LIST or STATUS data, stands in for a name the server sent that go-imap
// could not decode (invalid modified UTF-7, RFC 3501 section 5.1.3). raw is
// that name as the server sent it. Such a folder cannot be opened through
// go-imap: its name cannot be sent back. See mailboxname.go.
func (c *Conn) Unmappable(name string) (raw string, ok bool) {
	return c.wire.unmappableName(name)
}
