package secret_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/secret"
)

// MustKey returns a key made of n repeated; different n give different keys.
func MustKey(tb testing.TB, n byte) *secret.Key {
	tb.Helper()
	k, err := secret.NewKey(bytes.Repeat([]byte{n}, 32))
	if err != nil {
		tb.Fatalf("NewKey: %v", err)
	}
	return k
}

const ad = "batch/users/alice@example.com/source"

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	k := MustKey(t, 1)
	tests := []struct {
		name, plaintext string
	}{
		{"Simple", "hunter2"},
		{"Spaces", "  leading and trailing  "},
		{"Unicode", "pässwörd ✓"},
		{"Binaryish", "a\x00b\xffc"},
		{"Long", strings.Repeat("x", 10000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sealed, err := k.Seal(tt.plaintext, ad)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if !strings.HasPrefix(sealed, "v1:") {
				t.Errorf("Seal(%q) = %q; want a v1: prefix", tt.plaintext, sealed)
			}
			if strings.Contains(sealed, tt.plaintext) {
				t.Errorf("Seal(%q) = %q contains the plaintext", tt.plaintext, sealed)
			}
			got, err := k.Open(sealed, ad)
			if err != nil || got != tt.plaintext {
				t.Errorf("Open(Seal(%q)) = %q, %v; want the plaintext", tt.plaintext, got, err)
			}
		})
	}
}

func TestSealEmpty(t *testing.T) {
	t.Parallel()
	k := MustKey(t, 1)
	sealed, err := k.Seal("", ad)
	if sealed != "" || err != nil {
		t.Errorf(`Seal("") = %q, %v; want "", nil`, sealed, err)
	}
	opened, err := k.Open("", ad)
	if opened != "" || err != nil {
		t.Errorf(`Open("") = %q, %v; want "", nil`, opened, err)
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	t.Parallel()
	k := MustKey(t, 1)
	seen := map[string]bool{}
	nonces := map[string]bool{}
	for range 100 {
		sealed, err := k.Seal("hunter2", ad)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if seen[sealed] {
			t.Fatalf("Seal gave %q twice", sealed)
		}
		seen[sealed] = true
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
		if err != nil {
			t.Fatalf("decode %q: %v", sealed, err)
		}
		nonce := string(raw[:24])
		if nonces[nonce] {
			t.Fatalf("nonce %x used twice", nonce)
		}
		nonces[nonce] = true
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	const plaintext = "hunter2"
	k := MustKey(t, 1)
	sealed, err := k.Seal(plaintext, ad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
	tamper := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return "v1:" + base64.StdEncoding.EncodeToString(b)
	}
	tests := []struct {
		name    string
		key     *secret.Key
		sealed  string
		ad      string
		decrypt bool // want ErrDecrypt
	}{
		{"WrongKey", MustKey(t, 2), sealed, ad, true},
		{"WrongOwner", k, sealed, "batch/users/bob@example.com/source", true},
		{"WrongSide", k, sealed, "batch/users/alice@example.com/destination", true},
		{"TamperedNonce", k, tamper(0), ad, true},
		{"TamperedCiphertext", k, tamper(24), ad, true},
		{"TamperedTag", k, tamper(len(raw) - 1), ad, true},
		{"Truncated", k, "v1:" + base64.StdEncoding.EncodeToString(raw[:len(raw)-1]), ad, true},
		{"TooShort", k, "v1:" + base64.StdEncoding.EncodeToString(raw[:30]), ad, false},
		{"NoPrefix", k, strings.TrimPrefix(sealed, "v1:"), ad, false},
		{"UnknownVersion", k, "v2:" + strings.TrimPrefix(sealed, "v1:"), ad, false},
		{"NotBase64", k, "v1:***", ad, false},
		{"Plaintext", k, plaintext, ad, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.key.Open(tt.sealed, tt.ad)
			if err == nil {
				t.Fatalf("Open(%q, %q) = %q, nil; want an error", tt.sealed, tt.ad, got)
			}
			if got != "" {
				t.Errorf("Open(%q, %q) returned %q along with an error", tt.sealed, tt.ad, got)
			}
			if errors.Is(err, secret.ErrDecrypt) != tt.decrypt {
				t.Errorf("Open(%q, %q) = %v; ErrDecrypt wanted: %v", tt.sealed, tt.ad, err, tt.decrypt)
			}
			if strings.Contains(err.Error(), plaintext) || strings.Contains(err.Error(), "AQEB") {
				t.Errorf("Open error %q shows the plaintext or the key", err)
			}
			if !strings.Contains(err.Error(), tt.ad) {
				t.Errorf("Open error %q does not name the owner %q", err, tt.ad)
			}
		})
	}
}

func TestZeroKey(t *testing.T) {
	t.Parallel()
	var k secret.Key
	if _, err := k.Seal("x", ad); err == nil {
		t.Error("Seal with a zero Key succeeded")
	}
	if _, err := k.Open("v1:AAAA", ad); err == nil {
		t.Error("Open with a zero Key succeeded")
	}
	var nilKey *secret.Key
	if _, err := nilKey.Seal("x", ad); err == nil {
		t.Error("Seal with a nil *Key succeeded")
	}
}

func TestNewKeyLength(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := secret.NewKey(make([]byte, n)); err == nil {
			t.Errorf("NewKey(%d bytes) succeeded", n)
		}
	}
}
