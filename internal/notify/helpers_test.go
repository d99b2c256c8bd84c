package notify_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/imapmigrate/imapmigrate/internal/config"
	"github.com/imapmigrate/imapmigrate/internal/secret"
)

// received is one message the test server stored.
type received struct {
	From     string
	To       []string
	Data     []byte
	AuthUser string // "" without AUTH
	TLS      bool
}

// smtpOptions shape the test server.
type smtpOptions struct {
	// Security is "tls" (implicit TLS), "starttls" (STARTTLS offered) or
	// "none" (no TLS at all).
	Security string
	// AllowInsecureAuth lets AUTH happen without TLS (go-smtp's server
	// refuses it, and does not even offer it, otherwise).
	AllowInsecureAuth bool
	// Mechanisms offered; nil means PLAIN. With Users empty no AUTH is
	// offered and none is required.
	Mechanisms []string
	Users      map[string]string
	// Refuse are recipients answered 550.
	Refuse map[string]bool
	// Listen is the address to listen on; empty means 127.0.0.1. The
	// certificate is for 127.0.0.1 and localhost whatever it is.
	Listen string
}

// smtpServer is go-smtp's server on 127.0.0.1 storing what it receives.
type smtpServer struct {
	Host   string
	Port   int
	CAFile string // the CA that signed its certificate

	mu       sync.Mutex
	messages []received
	auths    int // AUTH attempts, successful or not
}

// startSMTP starts a server on a free 127.0.0.1 port, stopped when the
// test ends.
func startSMTP(t *testing.T, opts smtpOptions) *smtpServer {
	t.Helper()
	s := &smtpServer{Host: opts.Listen}
	if s.Host == "" {
		s.Host = "127.0.0.1"
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{srv: s, opts: opts, tls: isTLS}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = opts.AllowInsecureAuth
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second

	ln, err := net.Listen("tcp", net.JoinHostPort(s.Host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	if opts.Security != "none" {
		var conf *tls.Config
		s.CAFile, conf = mustCertificates(t)
		if opts.Security == "tls" {
			ln = tls.NewListener(ln, conf)
		} else {
			srv.TLSConfig = conf
		}
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// config is the settings that reach s as it is set up, with a login.
func (s *smtpServer) config(security, user, password string) config.SMTP {
	return config.SMTP{
		Host: s.Host, Port: s.Port, Security: security, Username: user, Password: secret.Secret(password),
		From: "migration@example.com", CAFile: s.CAFile, Timeout: config.Duration{Duration: 10 * time.Second},
	}
}

func (s *smtpServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.messages...)
}

func (s *smtpServer) authAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auths
}

type session struct {
	srv  *smtpServer
	opts smtpOptions
	tls  bool
	user string
	msg  received
}

func (s *session) AuthMechanisms() []string {
	if len(s.opts.Users) == 0 {
		return nil
	}
	if s.opts.Mechanisms == nil {
		return []string{sasl.Plain}
	}
	return s.opts.Mechanisms
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	s.srv.mu.Lock()
	s.srv.auths++
	s.srv.mu.Unlock()
	check := func(user, pass string) error {
		if want, ok := s.opts.Users[user]; !ok || want != pass {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return smtp.ErrAuthFailed
			}
			return check(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if len(s.opts.Users) > 0 && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.msg = received{From: from, AuthUser: s.user, TLS: s.tls}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.opts.Refuse[to] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = b
	s.srv.mu.Lock()
	s.srv.messages = append(s.srv.messages, s.msg)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.msg = received{} }
func (s *session) Logout() error { return nil }

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login), which go-sasl has only as a client.
type loginServer struct {
	check    func(user, pass string) error
	user     string
	step     int
	finished bool
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if response != nil {
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(response)
		return []byte("Password:"), false, nil
	case 3:
		return nil, true, l.check(l.user, string(response))
	}
	return nil, false, errors.New("unexpected LOGIN response")
}

// mustCertificates makes a CA and a certificate it signs for 127.0.0.1 and
// localhost, writes the CA to a file and returns its path and the server's
// TLS configuration. A client that does not trust that file must fail.
func mustCertificates(t *testing.T) (caFile string, conf *tls.Config) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := func() *big.Int {
		n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "notify test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return caFile, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func itoa(n int) string { return strconv.Itoa(n) }
