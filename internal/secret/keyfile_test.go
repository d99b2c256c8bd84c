package secret_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/secret"
)

func noEnv(string) string { return "" }

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// sameKey seals a value with k and reports whether other opens it; two keys
// are the same exactly when it does.
func sameKey(t *testing.T, k, other *secret.Key) bool {
	t.Helper()
	sealed, err := k.Seal("probe", ad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	_, err = other.Open(sealed, ad)
	return err == nil
}

func TestLoadKeyCreatesFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "imapmigrate")
	path := filepath.Join(dir, "secret.key")
	k, err := secret.LoadKey(path, noEnv)
	if err != nil {
		t.Fatalf("LoadKey(%s): %v", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %04o; want 0600", perm)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("key directory mode = %04o; want 0700", perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), "\n") {
		t.Errorf("key file %q does not end in a newline", b)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != 32 {
		t.Errorf("key file %q: %d bytes, %v; want 32 bytes of base64", b, len(raw), err)
	}

	again, err := secret.LoadKey(path, noEnv)
	if err != nil {
		t.Fatalf("LoadKey(%s) again: %v", path, err)
	}
	if !sameKey(t, k, again) {
		t.Error("second LoadKey gave another key")
	}
	fromRaw, err := secret.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !sameKey(t, k, fromRaw) {
		t.Error("the key file does not hold the key LoadKey returned")
	}
}

func TestLoadKeyConcurrentCreate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret.key")
	keys := make([]*secret.Key, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := secret.LoadKey(path, noEnv)
			if err != nil {
				t.Errorf("LoadKey: %v", err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, k := range keys[1:] {
		if !sameKey(t, keys[0], k) {
			t.Fatal("processes starting at once got different keys")
		}
	}
}

func TestLoadKeyEnvWins(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret.key")
	fileKey, err := secret.LoadKey(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte("0123456789abcdef0123456789abcdef")
	want, _ := secret.NewKey(raw)
	tests := []struct {
		name, value string
	}{
		{"Std", base64.StdEncoding.EncodeToString(raw)},
		{"RawURL", base64.RawURLEncoding.EncodeToString(raw)},
		{"StdWithNewline", base64.StdEncoding.EncodeToString(raw) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := secret.LoadKey(path, env(map[string]string{"IMAPMIGRATE_SECRET_KEY": tt.value}))
			if err != nil {
				t.Fatalf("LoadKey with env %q: %v", tt.value, err)
			}
			if !sameKey(t, k, want) {
				t.Error("LoadKey did not use the key from the environment")
			}
			if sameKey(t, k, fileKey) {
				t.Error("LoadKey used the key file although the environment has a key")
			}
		})
	}
}

func TestLoadKeyEnvWithoutFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret.key")
	value := base64.StdEncoding.EncodeToString(make([]byte, 32))
	if _, err := secret.LoadKey(path, env(map[string]string{"IMAPMIGRATE_SECRET_KEY": value})); err != nil {
		t.Fatalf("LoadKey: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("LoadKey with a key in the environment created %s (stat: %v)", path, err)
	}
}

func TestLoadKeyRejects(t *testing.T) {
	t.Parallel()
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	tests := []struct {
		name    string
		env     string
		file    string // written to the key file when not empty
		mode    os.FileMode
		wantErr []string // each must appear in the error
	}{
		{name: "GroupReadable", file: base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n", mode: 0o640, wantErr: []string{"chmod 600", "0640"}},
		{name: "WorldReadable", file: base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n", mode: 0o604, wantErr: []string{"chmod 600"}},
		{name: "FileNotBase64", file: "this is not a key!\n", mode: 0o600, wantErr: []string{"not base64", "secret.key"}},
		{name: "FileShortKey", file: short + "\n", mode: 0o600, wantErr: []string{"16 bytes; want 32"}},
		{name: "FileEmpty", file: "", mode: 0o600, wantErr: []string{"secret.key"}},
		{name: "EnvNotBase64", env: "not a key!", wantErr: []string{"IMAPMIGRATE_SECRET_KEY", "not base64"}},
		{name: "EnvShortKey", env: short, wantErr: []string{"IMAPMIGRATE_SECRET_KEY", "16 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "secret.key")
			if tt.mode != 0 {
				if err := os.WriteFile(path, []byte(tt.file), tt.mode); err != nil {
					t.Fatal(err)
				}
				// WriteFile's mode is subject to the umask.
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			k, err := secret.LoadKey(path, env(map[string]string{"IMAPMIGRATE_SECRET_KEY": tt.env}))
			if err == nil {
				t.Fatalf("LoadKey = %v, nil; want an error", k)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("LoadKey error %q does not mention %q", err, w)
				}
			}
			for _, leak := range []string{tt.env, strings.TrimSpace(tt.file)} {
				if len(leak) > 8 && strings.Contains(err.Error(), leak) {
					t.Errorf("LoadKey error %q shows the key", err)
				}
			}
		})
	}
}

func TestLoadKeyDirectory(t *testing.T) {
	t.Parallel()
	path := t.TempDir()
	if err := os.Chmod(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := secret.LoadKey(path, noEnv); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("LoadKey(directory) = %v; want an error saying it is not a regular file", err)
	}
}

func TestLoadKeyNoPath(t *testing.T) {
	t.Parallel()
	if _, err := secret.LoadKey("", noEnv); err == nil || !strings.Contains(err.Error(), "IMAPMIGRATE_SECRET_KEY") {
		t.Errorf(`LoadKey("") = %v; want an error naming IMAPMIGRATE_SECRET_KEY`, err)
	}
}
