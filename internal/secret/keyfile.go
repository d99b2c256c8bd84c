package secret

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// envKey holds the key itself, for deployments that keep secrets in the
// environment (containers, systemd credentials) rather than on disk.
const envKey = "IMAPMIGRATE_SECRET_KEY"

// LoadKey returns the key from the environment variable
// IMAPMIGRATE_SECRET_KEY (base64 std or raw-url encoded, 32 bytes) when
// getenv returns it non-empty; otherwise from the file at path, creating the
// file (mode 0600, directory 0700, 32 random bytes base64 + newline) if it
// does not exist. A key file readable by group or others is refused with an
// error telling to chmod 600. getenv is os.Getenv in production (parameter
// for tests).
//
// Losing the key file makes every stored password unreadable; admins should
// back it up with the database but not in the same place.
func LoadKey(path string, getenv func(string) string) (*Key, error) {
	if v := getenv(envKey); v != "" {
		raw, err := decodeKey(v)
		if err != nil {
			return nil, fmt.Errorf("read secret key from %s: %w", envKey, err)
		}
		return NewKey(raw)
	}
	if path == "" {
		return nil, fmt.Errorf("load secret key: no key file given and %s is not set", envKey)
	}
	raw, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw, err = createKeyFile(path)
		if errors.Is(err, fs.ErrExist) {
			// Another process (a worker starting next to the server)
			// created it first; use its key.
			raw, err = readKeyFile(path)
		}
	}
	if err != nil {
		return nil, err
	}
	return NewKey(raw)
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read secret key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the mode checked is the mode of
	// the file read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read secret key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read secret key file %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("read secret key file %s: other users can access it (mode %04o); run chmod 600 %s", path, perm, path)
	}
	// A key file is 45 bytes; reading a little more than that is enough to
	// notice a wrong file without reading a huge one.
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("read secret key file %s: %w", path, err)
	}
	raw, err := decodeKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("read secret key file %s: %w", path, err)
	}
	return raw, nil
}

// createKeyFile writes a new random key. The key is written to a temporary
// file that is then linked into place: the link fails if the file exists, so
// when two processes start at once exactly one key wins, and nobody can read
// a key file that is only half written.
func createKeyFile(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create secret key file: %w", err)
	}
	raw := make([]byte, chacha20poly1305.KeySize)
	rand.Read(raw)
	f, err := os.CreateTemp(dir, ".secret-key-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("create secret key file: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(f.Name(), path)
	}
	if err != nil {
		return nil, fmt.Errorf("create secret key file %s: %w", path, err)
	}
	return raw, nil
}

// decodeKey accepts standard and URL-safe base64, padded or not, since
// people generate keys with whichever tool is at hand (openssl rand -base64
// 32, or a URL-safe generator). The error never shows the value.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding, base64.RawStdEncoding, base64.URLEncoding} {
		raw, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(raw) != chacha20poly1305.KeySize {
			return nil, fmt.Errorf("key is %d bytes; want %d (generate one with: openssl rand -base64 32)", len(raw), chacha20poly1305.KeySize)
		}
		return raw, nil
	}
	return nil, errors.New("key is not base64 (generate one with: openssl rand -base64 32)")
}
