package imapconn

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

const (
	testUser     = "alice@example.com"
	testPassword = "pw-Alice-9"
)

// pki holds certificates made for one test: a CA and leaves for 127.0.0.1.
type pki struct {
	caFile     string          // PEM of the CA, for Config.CAFile
	leaf       tls.Certificate // for 127.0.0.1 and localhost, signed by the CA
	expired    tls.Certificate // like leaf, but expired an hour ago
	wrongHost  tls.Certificate // signed by the CA for wrong.example only
	selfSigned tls.Certificate // for 127.0.0.1, signed by itself
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	now := time.Now()
	caKey := mustKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "imapconn test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}

	leaf := func(serial int64, notBefore, notAfter time.Time, dns []string, ips []net.IP, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) tls.Certificate {
		key := mustKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "imapconn test server"},
			NotBefore:    notBefore,
			NotAfter:     notAfter,
			DNSNames:     dns,
			IPAddresses:  ips,
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	return &pki{
		caFile:     caFile,
		leaf:       leaf(2, now.Add(-time.Hour), now.Add(time.Hour), []string{"localhost"}, loopback, ca, caKey),
		expired:    leaf(3, now.Add(-2*time.Hour), now.Add(-time.Hour), []string{"localhost"}, loopback, ca, caKey),
		wrongHost:  leaf(4, now.Add(-time.Hour), now.Add(time.Hour), []string{"wrong.example"}, nil, ca, caKey),
		selfSigned: leaf(5, now.Add(-time.Hour), now.Add(time.Hour), []string{"localhost"}, loopback, nil, nil),
	}
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// memOptions says how to run the go-imap in-memory server.
type memOptions struct {
	implicitTLS  *tls.Certificate // serve TLS from the first byte
	startTLS     *tls.Certificate // offer STARTTLS
	insecureAuth bool             // allow login without TLS
}

// startMem runs an imapmemserver on 127.0.0.1 with testUser, an INBOX and
// an Archive folder, and returns its address.
func startMem(t *testing.T, opts memOptions) string {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(testUser, testPassword)
	for _, name := range []string{"INBOX", "Archive"} {
		if err := user.Create(name, nil); err != nil {
			t.Fatal(err)
		}
	}
	mem.AddUser(user)

	srvOpts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: opts.insecureAuth,
		Logger:       log.New(io.Discard, "", 0),
	}
	if opts.startTLS != nil {
		srvOpts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*opts.startTLS}}
	}
	var ln net.Listener
	var err error
	if opts.implicitTLS != nil {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*opts.implicitTLS}})
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := imapserver.New(srvOpts)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// rawServer is a scripted IMAP server for byte-exact cases: it records
// every command it receives, literals included, and answers from handlers.
type rawServer struct {
	addr string
	// done receives, per connection, the commands it received, once the
	// client has gone.
	done chan []string
}

// rawHandler answers one command. name is upper case; cmd is the whole
// command with literal data inline.
type rawHandler func(rc *rawConn, tag, name, cmd string)

type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func (rc *rawConn) send(lines ...string) {
	rc.Write([]byte(strings.Join(lines, "\r\n") + "\r\n"))
}

var rawLiteral = regexp.MustCompile(`\{(\d+)(\+?)\}$`)

// readCommand reads one command; a synchronizing literal gets its "+".
func (rc *rawConn) readCommand() (string, error) {
	var cmd strings.Builder
	for {
		line, err := rc.br.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimRight(line, "\r\n")
		cmd.WriteString(line)
		m := rawLiteral.FindStringSubmatch(line)
		if m == nil {
			return cmd.String(), nil
		}
		if m[2] == "" {
			rc.send("+ go ahead")
		}
		n, _ := strconv.Atoi(m[1])
		data := make([]byte, n)
		if _, err := io.ReadFull(rc.br, data); err != nil {
			return "", err
		}
		cmd.Write(data)
	}
}

// startRaw runs a rawServer. Unless a handler says otherwise, CAPABILITY
// lists caps, LOGOUT says BYE and closes, and every other command gets OK.
func startRaw(t *testing.T, greeting, caps string, handlers map[string]rawHandler) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &rawServer{addr: ln.Addr().String(), done: make(chan []string, 16)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				rs.done <- rs.serve(&rawConn{Conn: conn, br: bufio.NewReader(conn)}, greeting, caps, handlers)
			}()
		}
	}()
	return rs
}

func (rs *rawServer) serve(rc *rawConn, greeting, caps string, handlers map[string]rawHandler) []string {
	defer rc.Close()
	var got []string
	rc.send(greeting)
	for {
		// Bounded, so that a test that forgets the client cannot hang.
		rc.SetReadDeadline(time.Now().Add(5 * time.Second))
		cmd, err := rc.readCommand()
		if err != nil {
			return got
		}
		got = append(got, cmd)
		tag, name := commandName([]byte(cmd))
		if h := handlers[name]; h != nil {
			h(rc, tag, name, cmd)
			continue
		}
		switch name {
		case "CAPABILITY":
			rc.send("* CAPABILITY "+caps, tag+" OK done")
		case "LOGOUT":
			rc.send("* BYE bye", tag+" OK done")
			return got
		default:
			rc.send(tag + " OK done")
		}
	}
}

// commands waits for the next finished connection's commands.
func (rs *rawServer) commands(t *testing.T) []string {
	t.Helper()
	select {
	case got := <-rs.done:
		return got
	case <-time.After(5 * time.Second):
		t.Fatal("raw server: connection did not end")
		return nil
	}
}

// syncBuffer is a concurrency-safe transcript sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
