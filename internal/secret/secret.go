// Package secret keeps credentials encrypted at rest and out of logs.
//
// Passwords for source and destination mailboxes must be stored, because
// incremental syncs run for days after a batch is created. They are sealed
// with XChaCha20-Poly1305 (RFC 8439 with the extended 24-byte nonce of
// draft-irtf-cfrg-xchacha): the long nonce can be drawn at random for every
// value without a realistic chance of reuse, so no counter has to be kept in
// the database. The associated data names the owner of each value (for
// example "batch/users/alice@example.com/source"), so a sealed password copied
// into another user's row, or into the destination column, fails to open
// instead of logging in as the wrong user.
//
// The key comes from IMAPMIGRATE_SECRET_KEY or from a key file that is
// created on first use; see LoadKey.
package secret

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// prefix versions the sealed format, so the cipher or encoding can change
// later while old values still open.
const prefix = "v1:"

// ErrDecrypt is returned by Open when a value does not authenticate: the key
// is not the one it was sealed with, the associated data names another
// owner, or the stored value was changed.
var ErrDecrypt = errors.New("wrong key, wrong owner, or a changed value")

var errZeroKey = errors.New("secret: use of a Key that was not made by LoadKey or NewKey")

// Key encrypts and decrypts secrets. The zero value is unusable.
type Key struct {
	aead cipher.AEAD
}

// NewKey for tests and tools: a key from 32 raw bytes.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("make secret key: got %d bytes, want %d", len(raw), chacha20poly1305.KeySize)
	}
	aead, err := chacha20poly1305.NewX(raw)
	if err != nil {
		return nil, fmt.Errorf("make secret key: %w", err)
	}
	return &Key{aead: aead}, nil
}

// Seal encrypts plaintext bound to ad. Output is "v1:" +
// base64(nonce||ciphertext). Empty plaintext seals to "" (nothing stored),
// so an optional password that was never given stays visibly absent.
func (k *Key) Seal(plaintext, ad string) (string, error) {
	if k == nil || k.aead == nil {
		return "", errZeroKey
	}
	if plaintext == "" {
		return "", nil
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plaintext)+k.aead.Overhead())
	// crypto/rand.Read never fails; it crashes the program if the system
	// has no randomness to give.
	rand.Read(nonce)
	out := k.aead.Seal(nonce, nonce, []byte(plaintext), []byte(ad))
	return prefix + base64.StdEncoding.EncodeToString(out), nil
}

// Open reverses Seal; a wrong key or wrong ad gives an error that does not
// contain the plaintext or key. "" opens to "".
//
// Errors name ad, which identifies the owner and is not secret, so the
// admin can tell which stored password needs to be entered again.
func (k *Key) Open(sealed, ad string) (string, error) {
	if k == nil || k.aead == nil {
		return "", errZeroKey
	}
	if sealed == "" {
		return "", nil
	}
	encoded, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", fmt.Errorf("open secret %q: not a sealed value (no %q prefix)", ad, prefix)
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return "", fmt.Errorf("open secret %q: %w", ad, err)
	}
	if len(raw) < chacha20poly1305.NonceSizeX+k.aead.Overhead() {
		return "", fmt.Errorf("open secret %q: sealed value too short", ad)
	}
	nonce, ciphertext := raw[:chacha20poly1305.NonceSizeX], raw[chacha20poly1305.NonceSizeX:]
	plaintext, err := k.aead.Open(nil, nonce, ciphertext, []byte(ad))
	if err != nil {
		return "", fmt.Errorf("open secret %q: %w", ad, ErrDecrypt)
	}
	return string(plaintext), nil
}
