package imapconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func testConfig(addr string, sec Security) Config {
	return Config{
		Addr:        addr,
		Security:    sec,
		User:        testUser,
		Password:    testPassword,
		DialTimeout: 5 * time.Second,
		Side:        "destination",
	}
}

func mustDial(t *testing.T, cfg Config) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial(%s) = %v", cfg.Addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wantKind checks that err is an *Error of kind want that never shows the
// password.
func wantKind(t *testing.T, err error, want Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("Dial succeeded; want a %v error", want)
	}
	if got, ok := KindOf(err); !ok || got != want {
		t.Fatalf("KindOf(%v) = %v, %v; want %v", err, got, ok, want)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestDialTLS(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name     string
		cert     *tls.Certificate
		caFile   string
		insecure bool
		pin      string
		wantErr  func(error) bool // nil: Dial must succeed
	}{
		{name: "CAFile", cert: &p.leaf, caFile: p.caFile},
		{name: "UnknownAuthority", cert: &p.leaf, wantErr: isUnknownAuthority},
		{name: "SelfSigned", cert: &p.selfSigned, wantErr: isUnknownAuthority},
		{name: "SelfSignedInsecureSkipVerify", cert: &p.selfSigned, insecure: true},
		{name: "WrongHost", cert: &p.wrongHost, caFile: p.caFile, wantErr: func(err error) bool {
			var he x509.HostnameError
			return errors.As(err, &he)
		}},
		{name: "Expired", cert: &p.expired, caFile: p.caFile, wantErr: func(err error) bool {
			var ce x509.CertificateInvalidError
			return errors.As(err, &ce) && ce.Reason == x509.Expired
		}},
		// A pin trusts that one certificate: no chain, expiry or name check.
		{name: "PinnedSelfSigned", cert: &p.selfSigned, pin: fingerprintOf(p.selfSigned)},
		{name: "PinnedWrongHost", cert: &p.wrongHost, pin: strings.ToLower(fingerprintOf(p.wrongHost))},
		{name: "PinnedExpired", cert: &p.expired, pin: strings.ReplaceAll(fingerprintOf(p.expired), ":", "")},
		{name: "PinMismatch", cert: &p.leaf, pin: fingerprintOf(p.selfSigned), wantErr: func(err error) bool {
			return strings.Contains(err.Error(), "fingerprint "+fingerprintOf(p.leaf)+", not the pinned "+fingerprintOf(p.selfSigned))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := startMem(t, memOptions{implicitTLS: tt.cert})
			cfg := testConfig(addr, SecurityTLS)
			cfg.CAFile, cfg.InsecureSkipVerify, cfg.PinSHA256 = tt.caFile, tt.insecure, tt.pin
			c, err := Dial(context.Background(), cfg)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Dial = %v; want success", err)
				}
				defer c.Close()
				if err := c.Noop().Wait(); err != nil {
					t.Errorf("Noop = %v", err)
				}
				return
			}
			wantKind(t, err, KindTLS)
			if !tt.wantErr(err) {
				t.Errorf("Dial = %v (%#v); wrong certificate error", err, errors.Unwrap(errors.Unwrap(err)))
			}
		})
	}
}

func isUnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

func TestDialStartTLS(t *testing.T) {
	p := newPKI(t)
	addr := startMem(t, memOptions{startTLS: &p.leaf})
	var trace syncBuffer
	cfg := testConfig(addr, SecurityStartTLS)
	cfg.CAFile, cfg.Trace, cfg.TraceLabel = p.caFile, &trace, "source"
	c := mustDial(t, cfg)
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("Noop = %v", err)
	}
	tr := trace.String()
	for _, want := range []string{"source C: P2 STARTTLS\n", "source -- tls: TLS 1.3", "AUTHENTICATE PLAIN ***"} {
		if !strings.Contains(tr, want) {
			t.Errorf("transcript lacks %q:\n%s", want, tr)
		}
	}
	if i, j := strings.Index(tr, "STARTTLS\n"), strings.Index(tr, "AUTHENTICATE"); j < i {
		t.Errorf("AUTHENTICATE before STARTTLS:\n%s", tr)
	}
}

func TestDialStartTLSRefused(t *testing.T) {
	tests := []struct {
		name     string
		greeting string
		handlers map[string]rawHandler
		want     string
	}{
		{name: "CapsInGreeting", greeting: "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi",
			want: "server does not offer STARTTLS"},
		{name: "CapsOnRequest", greeting: "* OK hi",
			want: "server does not offer STARTTLS"},
		{name: "PreAuth", greeting: "* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] hi",
			want: "PREAUTH"},
		{name: "StartTLSNo", greeting: "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi",
			handlers: map[string]rawHandler{"STARTTLS": func(rc *rawConn, tag, _, _ string) {
				rc.send(tag + " NO [UNAVAILABLE] not today")
			}},
			want: "imap: NO [UNAVAILABLE] not today"},
		{name: "Injection", greeting: "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi",
			handlers: map[string]rawHandler{"STARTTLS": func(rc *rawConn, tag, _, _ string) {
				rc.send(tag+" OK begin TLS", "* OK [CAPABILITY IMAP4rev1 LOGIN] injected")
			}},
			want: "server sent data after its STARTTLS reply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs := startRaw(t, tt.greeting, "IMAP4rev1 AUTH=PLAIN", tt.handlers)
			_, err := Dial(context.Background(), testConfig(rs.addr, SecurityStartTLS))
			wantKind(t, err, KindTLS)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial = %v; want it to say %q", err, tt.want)
			}
			for _, cmd := range rs.commands(t) {
				if _, name := commandName([]byte(cmd)); name == "LOGIN" || name == "AUTHENTICATE" {
					t.Errorf("server received %q in clear", cmd)
				}
			}
		})
	}
}

func TestDialAuth(t *testing.T) {
	t.Run("WrongPassword", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(startMem(t, memOptions{insecureAuth: true}), SecurityNone)
		cfg.Password = "Wrong-Secret-1"
		_, err := Dial(context.Background(), cfg)
		wantKind(t, err, KindAuth)
		var ie *imap.Error
		if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAuthenticationFailed {
			t.Errorf("Dial = %v; want AUTHENTICATIONFAILED", err)
		}
		want := "destination " + cfg.Addr + ": login as alice@example.com: imap: NO [AUTHENTICATIONFAILED]"
		if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), cfg.Password) {
			t.Errorf("Dial = %q; want prefix %q and no password", err, want)
		}
	})
	t.Run("LoginDisabled", func(t *testing.T) {
		t.Parallel()
		_, err := Dial(context.Background(), testConfig(startMem(t, memOptions{}), SecurityNone))
		wantKind(t, err, KindAuth)
		if !strings.Contains(err.Error(), "LOGINDISABLED") {
			t.Errorf("Dial = %v; want it to name LOGINDISABLED", err)
		}
	})
	t.Run("PasswordEchoed", func(t *testing.T) {
		t.Parallel()
		rs := startRaw(t, "* OK [CAPABILITY IMAP4rev1] hi", "IMAP4rev1", map[string]rawHandler{
			"LOGIN": func(rc *rawConn, tag, _, cmd string) { rc.send(tag + " BAD Invalid arguments: " + cmd) },
		})
		_, err := Dial(context.Background(), testConfig(rs.addr, SecurityNone))
		wantKind(t, err, KindAuth)
	})
	t.Run("AdminWithoutPlain", func(t *testing.T) {
		t.Parallel()
		rs := startRaw(t, "* OK [CAPABILITY IMAP4rev1] hi", "IMAP4rev1", nil)
		cfg := testConfig(rs.addr, SecurityNone)
		cfg.AuthUser = "admin"
		_, err := Dial(context.Background(), cfg)
		wantKind(t, err, KindAuth)
		for _, cmd := range rs.commands(t) {
			if strings.Contains(cmd, "LOGIN") {
				t.Errorf("server received %q; want no login without AUTH=PLAIN", cmd)
			}
		}
	})
}

// TestDialAdmin checks the SASL PLAIN message of an admin login, sent as a
// continuation line because the server lacks SASL-IR, and that neither it
// nor the password reaches the transcript.
func TestDialAdmin(t *testing.T) {
	const adminPassword = "Admin-Secret-7"
	wantResp := base64.StdEncoding.EncodeToString([]byte(testUser + "\x00admin\x00" + adminPassword))
	rs := startRaw(t, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi", "IMAP4rev1 AUTH=PLAIN", map[string]rawHandler{
		"AUTHENTICATE": func(rc *rawConn, tag, _, cmd string) {
			rc.send("+ ")
			resp, err := rc.br.ReadString('\n')
			if err == nil && cmd == tag+" AUTHENTICATE PLAIN" && strings.TrimSpace(resp) == wantResp {
				rc.send(tag + " OK [CAPABILITY IMAP4rev1] welcome")
				return
			}
			rc.send(tag + " NO [AUTHENTICATIONFAILED] wrong")
		},
	})
	var trace syncBuffer
	cfg := testConfig(rs.addr, SecurityNone)
	cfg.AuthUser, cfg.Password, cfg.Trace = "admin", adminPassword, &trace
	c := mustDial(t, cfg)
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("Noop = %v", err)
	}
	tr := trace.String()
	for _, secret := range []string{adminPassword, wantResp} {
		if strings.Contains(tr, secret) {
			t.Errorf("transcript shows %q:\n%s", secret, tr)
		}
	}
	if !regexp.MustCompile(`C: T\d+ AUTHENTICATE PLAIN \*\*\*\nS: \+ ?\nC: \*\*\*\nS: T\d+ OK`).MatchString(tr) ||
		!regexp.MustCompile(`C: T\d+ NOOP\n`).MatchString(tr) {
		t.Errorf("transcript does not show the exchange redacted, then NOOP in clear:\n%s", tr)
	}
}

// TestTraceRedaction logs in with LOGIN (the server offers no AUTH=PLAIN)
// and with AUTHENTICATE and greps the transcript for every form of the
// password.
func TestTraceRedaction(t *testing.T) {
	tests := []struct {
		name     string
		password string
		hidden   []string // must not appear in the transcript
		want     string   // regexp that must match the transcript
	}{
		{name: "LoginQuoted", password: `Pa"ss\wd-42`, hidden: []string{`Pa"ss\wd-42`, `Pa\"ss\\wd-42`, "ss\\"},
			want: `C: T\d+ LOGIN \*\*\*\nS: T\d+ OK`},
		// Non-ASCII makes go-imap send a synchronizing literal.
		{name: "LoginLiteral", password: `pässwörd"-42`, hidden: []string{`pässwörd"-42`, "ssw", "<literal"},
			want: `C: T\d+ LOGIN \*\*\*\nC: \*\*\*\nS: \+ go ahead\nC: \*\*\*\nS: T\d+ OK`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var received string
			rs := startRaw(t, "* OK [CAPABILITY IMAP4rev1] hi", "IMAP4rev1", map[string]rawHandler{
				"LOGIN": func(rc *rawConn, tag, _, cmd string) {
					received = cmd
					rc.send(tag + " OK [CAPABILITY IMAP4rev1] welcome")
				},
			})
			var trace syncBuffer
			cfg := testConfig(rs.addr, SecurityNone)
			cfg.Password, cfg.Trace = tt.password, &trace
			c := mustDial(t, cfg)
			if err := c.Noop().Wait(); err != nil {
				t.Fatalf("Noop = %v", err)
			}
			c.Close()
			rs.commands(t)
			if !strings.Contains(received, "ss") {
				t.Fatalf("server received %q; the password was not sent", received)
			}
			checkTranscript(t, trace.String(), tt.hidden, tt.want)
		})
	}
	t.Run("AuthenticateInitialResponse", func(t *testing.T) {
		t.Parallel()
		var trace syncBuffer
		cfg := testConfig(startMem(t, memOptions{insecureAuth: true}), SecurityNone)
		cfg.Trace = &trace
		c := mustDial(t, cfg)
		if err := c.Noop().Wait(); err != nil {
			t.Fatalf("Noop = %v", err)
		}
		payload := base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPassword))
		checkTranscript(t, trace.String(), []string{testPassword, payload},
			`C: T\d+ AUTHENTICATE PLAIN \*\*\*\nS: T\d+ OK`)
	})
	for _, mech := range []string{"XOAUTH2", "OAUTHBEARER"} {
		t.Run("Authenticate"+mech, func(t *testing.T) {
			t.Parallel()
			oauthTraceCase(t, mech)
		})
	}
}

func checkTranscript(t *testing.T, tr string, hidden []string, want string) {
	t.Helper()
	for _, h := range hidden {
		if strings.Contains(tr, h) {
			t.Errorf("transcript contains %q:\n%s", h, tr)
		}
	}
	if !regexp.MustCompile(want).MatchString(tr) {
		t.Errorf("transcript does not match %q:\n%s", want, tr)
	}
	if !regexp.MustCompile(`C: T\d+ NOOP\n`).MatchString(tr) {
		t.Errorf("transcript does not show commands after login:\n%s", tr)
	}
}

// TestReadOnlyAllows runs a source-side session against the memory server:
// everything it needs passes the guard and no message gets \Seen.
func TestReadOnlyAllows(t *testing.T) {
	addr := startMem(t, memOptions{insecureAuth: true})
	body := "From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
	w := mustDial(t, testConfig(addr, SecurityNone))
	app := w.Append("INBOX", int64(len(body)), nil)
	if _, err := io.WriteString(app, body); err != nil {
		t.Fatal(err)
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Wait(); err != nil {
		t.Fatalf("Append = %v", err)
	}

	var trace syncBuffer
	cfg := testConfig(addr, SecurityNone)
	cfg.ReadOnly, cfg.Trace = true, &trace
	c := mustDial(t, cfg)
	if _, err := c.List("", "*", nil).Collect(); err != nil {
		t.Fatalf("List = %v", err)
	}
	if _, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
		t.Fatalf("Status = %v", err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("Examine = %v", err)
	}
	if _, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait(); err != nil {
		t.Fatalf("UIDSearch = %v", err)
	}
	msgs, err := c.Fetch(imap.UIDSetNum(1), &imap.FetchOptions{
		UID: true, Flags: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Fetch BODY.PEEK[] = %v, %v", msgs, err)
	}
	if got := string(msgs[0].FindBodySection(&imap.FetchItemBodySection{Peek: true})); got != body {
		t.Errorf("Fetch body = %q; want %q", got, body)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatalf("Unselect = %v", err)
	}
	if c.Err() != nil {
		t.Fatalf("Err() = %v; want nil", c.Err())
	}

	// A third connection checks that nothing set \Seen.
	check := mustDial(t, testConfig(addr, SecurityNone))
	if _, err := check.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err = check.Fetch(imap.UIDSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Fetch FLAGS = %v, %v", msgs, err)
	}
	for _, f := range msgs[0].Flags {
		if f == imap.FlagSeen {
			t.Errorf("message has \\Seen after a read-only session:\n%s", trace.String())
		}
	}
	if !strings.Contains(trace.String(), "EXAMINE") || !strings.Contains(trace.String(), "BODY.PEEK[]") {
		t.Errorf("transcript lacks EXAMINE or BODY.PEEK[]:\n%s", trace.String())
	}
}

// TestReadOnlyRefuses runs each mutating command on a read-only connection
// to a recording server: the command fails with ErrReadOnly, the
// connection is closed, and the server never saw it.
func TestReadOnlyRefuses(t *testing.T) {
	seen := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}
	tests := []struct {
		name string // what the server must not receive
		run  func(c *Conn) error
	}{
		{"SELECT", func(c *Conn) error { _, err := c.Select("INBOX", nil).Wait(); return err }},
		{"STORE", func(c *Conn) error { return c.Store(imap.SeqSetNum(1), seen, nil).Close() }},
		{"UID STORE", func(c *Conn) error { return c.Store(imap.UIDSetNum(1), seen, nil).Close() }},
		{"APPEND", func(c *Conn) error {
			app := c.Append("INBOX", 5, nil)
			app.Write([]byte("hello"))
			app.Close()
			_, err := app.Wait()
			return err
		}},
		{"COPY", func(c *Conn) error { _, err := c.Copy(imap.SeqSetNum(1), "Archive").Wait(); return err }},
		{"MOVE", func(c *Conn) error { _, err := c.Move(imap.UIDSetNum(1), "Archive").Wait(); return err }},
		{"EXPUNGE", func(c *Conn) error { return c.Expunge().Close() }},
		{"DELETE", func(c *Conn) error { return c.Delete("Archive").Wait() }},
		{"RENAME", func(c *Conn) error { return c.Rename("Archive", "Old", nil).Wait() }},
		{"CREATE", func(c *Conn) error { return c.Create("New", nil).Wait() }},
		{"FETCH", func(c *Conn) error {
			return c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Close()
		}},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", ""), func(t *testing.T) {
			t.Parallel()
			rs := startRaw(t, "* OK [CAPABILITY IMAP4rev1 MOVE UIDPLUS] hi", "IMAP4rev1 MOVE UIDPLUS", nil)
			cfg := testConfig(rs.addr, SecurityNone)
			cfg.ReadOnly = true
			c := mustDial(t, cfg)
			if err := tt.run(c); err == nil {
				t.Fatalf("%s succeeded on a read-only connection", tt.name)
			}
			if !errors.Is(c.Err(), ErrReadOnly) || !strings.Contains(c.Err().Error(), tt.name) {
				t.Errorf("Err() = %v; want ErrReadOnly naming %s", c.Err(), tt.name)
			}
			for _, cmd := range rs.commands(t) {
				if _, name := commandName([]byte(cmd)); name == tt.name {
					t.Errorf("server received %q", cmd)
				}
			}
		})
	}
}

// TestIdleTimeout checks that the watchdog ignores a quiet connection with
// nothing pending and a slow but steady reply, and cuts a server that owes a
// reply and sends nothing.
func TestIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	noops := 0
	rs := startRaw(t, "* OK [CAPABILITY IMAP4rev1] hi", "IMAP4rev1", map[string]rawHandler{
		"NOOP": func(rc *rawConn, tag, _, _ string) {
			noops++
			switch noops {
			case 1: // a reply that trickles for longer than idle
				for range 4 {
					time.Sleep(idle / 2)
					rc.send("* OK still working")
				}
				rc.send(tag + " OK done")
			case 2: // no reply at all
			}
		},
		"LOGOUT": func(*rawConn, string, string, string) {}, // no reply either
	})
	cfg := testConfig(rs.addr, SecurityNone)
	cfg.IdleTimeout = idle
	c := mustDial(t, cfg)

	time.Sleep(idle + idle/2) // nothing pending: not a stall
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("slow Noop = %v; want success", err)
	}

	start := time.Now()
	err := c.Noop().Wait()
	if elapsed := time.Since(start); err == nil || elapsed < idle || elapsed > 5*idle {
		t.Fatalf("stalled Noop = %v after %v; want an error after about %v", err, elapsed, idle)
	}
	want := "idle timeout: no data from server for 300ms"
	if !errors.Is(c.Err(), ErrIdleTimeout) || c.Err().Error() != want {
		t.Errorf("Err() = %v; want %q", c.Err(), want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Noop error = %v; want it to contain %q", err, want)
	}

	start = time.Now()
	c.Close()
	if elapsed := time.Since(start); elapsed > closeTimeout {
		t.Errorf("Close took %v", elapsed)
	}
}

func TestCloseSilentServer(t *testing.T) {
	rs := startRaw(t, "* OK [CAPABILITY IMAP4rev1] hi", "IMAP4rev1", map[string]rawHandler{
		"LOGOUT": func(*rawConn, string, string, string) {},
	})
	cfg := testConfig(rs.addr, SecurityNone)
	cfg.IdleTimeout = 200 * time.Millisecond
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Close took %v against a server that ignores LOGOUT", elapsed)
	}
}

func TestDialInterrupted(t *testing.T) {
	// A server that accepts and never greets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var accepted []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range accepted {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, c)
			mu.Unlock()
		}
	}()

	t.Run("Cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := Dial(ctx, testConfig(ln.Addr().String(), SecurityNone))
		wantKind(t, err, KindConnect)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Dial = %v; want context.Canceled", err)
		}
	})
	t.Run("DialTimeout", func(t *testing.T) {
		cfg := testConfig(ln.Addr().String(), SecurityStartTLS)
		cfg.DialTimeout = 150 * time.Millisecond
		_, err := Dial(context.Background(), cfg)
		wantKind(t, err, KindConnect)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Dial = %v; want context.DeadlineExceeded", err)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		closed, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed.Close()
		_, err = Dial(context.Background(), testConfig(closed.Addr().String(), SecurityNone))
		wantKind(t, err, KindConnect)
	})
}

func TestParseSecurity(t *testing.T) {
	tests := []struct {
		in      string
		want    Security
		wantErr bool
	}{
		{"tls", SecurityTLS, false},
		{"STARTTLS", SecurityStartTLS, false},
		{"none", SecurityNone, false},
		{"", "", false},
		{"ssl", "", true},
	}
	for _, tt := range tests {
		got, err := ParseSecurity(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseSecurity(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
