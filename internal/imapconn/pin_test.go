package imapconn

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// fingerprintOf is the pin of cert's leaf, as openssl prints it.
func fingerprintOf(cert tls.Certificate) string {
	return Fingerprint(sha256.Sum256(cert.Certificate[0]))
}

func TestParsePin(t *testing.T) {
	const hexPin = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	var want [sha256.Size]byte
	for i := range want {
		want[i] = []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}[i%8]
	}
	colons := "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF"
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"Lower", hexPin, true},
		{"Upper", strings.ToUpper(hexPin), true},
		{"OpenSSLColons", colons, true},
		{"MixedCaseColons", strings.ToLower(colons[:48]) + colons[48:], true},
		{"Spaces", " " + colons + "\n", true},
		{"Empty", "", false},
		{"Short", hexPin[:62], false},
		{"Long", hexPin + "00", false},
		{"NotHex", "g" + hexPin[1:], false},
		{"SHA1", "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67", false},
		{"OpenSSLPrefix", "sha256 Fingerprint=" + colons, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePin(tt.in)
			if (err == nil) != tt.ok || (tt.ok && got != want) {
				t.Errorf("ParsePin(%q) = %x, %v; want %x, ok=%v", tt.in, got, err, want, tt.ok)
			}
		})
	}
	if got := Fingerprint(want); got != colons {
		t.Errorf("Fingerprint(%x) = %q; want %q", want, got, colons)
	}
}

// TestDialPinConfig checks that a pin with another certificate policy, or
// without TLS, is refused before any connection is made.
func TestDialPinConfig(t *testing.T) {
	pin := strings.Repeat("ab", sha256.Size)
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"InsecureSkipVerify", func(c *Config) { c.InsecureSkipVerify = true }, "pin and insecure skip verify exclude each other"},
		{"CAFile", func(c *Config) { c.CAFile = "ca.pem" }, "pin and a CA file exclude each other"},
		{"SecurityNone", func(c *Config) { c.Security = SecurityNone }, "pin needs security tls or starttls"},
		{"BadPin", func(c *Config) { c.PinSHA256 = "ab:cd" }, "want a SHA-256 fingerprint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Port 1 is closed: a dial attempt would fail with KindConnect.
			cfg := testConfig("127.0.0.1:1", SecurityTLS)
			cfg.PinSHA256 = pin
			tt.edit(&cfg)
			_, err := Dial(context.Background(), cfg)
			wantKind(t, err, KindTLS)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial = %v; want %q", err, tt.want)
			}
		})
	}
}

// TestDialPinnedDovecot reaches a real Dovecot with a certificate from a CA
// the client does not know, trusting it only by its pin.
func TestDialPinnedDovecot(t *testing.T) {
	d := testserver.StartDovecot(t, testserver.DovecotConfig{
		Users: map[string]string{testUser: testPassword},
		TLS:   true,
	})
	tc, err := tls.Dial("tcp", d.TLSAddr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("tls.Dial(%s) = %v", d.TLSAddr, err)
	}
	fp := Fingerprint(sha256.Sum256(tc.ConnectionState().PeerCertificates[0].Raw))
	tc.Close()
	var other [sha256.Size]byte
	otherFP := Fingerprint(other)

	tests := []struct {
		name string
		addr string
		sec  Security
		pin  string
		ok   bool
	}{
		{"TLS", d.TLSAddr, SecurityTLS, fp, true},
		{"StartTLS", d.Addr, SecurityStartTLS, strings.ToLower(strings.ReplaceAll(fp, ":", "")), true},
		{"TLSWrongPin", d.TLSAddr, SecurityTLS, otherFP, false},
		{"StartTLSWrongPin", d.Addr, SecurityStartTLS, otherFP, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var trace syncBuffer
			cfg := testConfig(tt.addr, tt.sec)
			cfg.PinSHA256, cfg.Trace = tt.pin, &trace
			c, err := Dial(context.Background(), cfg)
			if tt.ok {
				if err != nil {
					t.Fatalf("Dial(%s, pin %s) = %v; want success", tt.addr, tt.pin, err)
				}
				defer c.Close()
				if err := c.Noop().Wait(); err != nil {
					t.Errorf("Noop = %v", err)
				}
				if want := "certificate pinned, SHA-256 " + fp; !strings.Contains(trace.String(), want) {
					t.Errorf("transcript lacks %q:\n%s", want, trace.String())
				}
				return
			}
			wantKind(t, err, KindTLS)
			if want := "fingerprint " + fp + ", not the pinned " + otherFP; !strings.Contains(err.Error(), want) {
				t.Errorf("Dial = %v; want it to contain %q", err, want)
			}
			for _, line := range strings.Split(trace.String(), "\n") {
				if strings.HasPrefix(line, "C: ") && (strings.Contains(line, "AUTHENTICATE") || strings.Contains(line, "LOGIN")) {
					t.Errorf("credentials sent despite a pin mismatch:\n%s", trace.String())
				}
			}
		})
	}
}
