package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/secret"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/store"
)

// rotateSetup makes a data directory with a key file and a database that
// holds one sealed admin password, as serve would leave them.
func rotateSetup(t *testing.T) (dir string) {
	t.Helper()
	for _, v := range []string{"IMAPMIGRATE_SECRET_KEY", "IMAPMIGRATE_SECRET_KEY_FILE", "IMAPMIGRATE_DATA",
		"IMAPMIGRATE_DATABASE", "IMAPMIGRATE_CONFIG"} {
		t.Setenv(v, "")
	}
	dir = t.TempDir()
	key, err := secret.LoadKey(filepath.Join(dir, "secret.key"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	withService(t, dir, key, func(svc *service.Service) {
		if _, err := svc.AddEndpoint(t.Context(), service.EndpointSpec{AdminPassword: "master secret", Endpoint: service.Endpoint{
			Name: "dst", Host: "imap.example", Credentials: service.CredentialsAdmin, AdminFormat: service.AdminDovecot, AdminUser: "admin"}}); err != nil {
			t.Fatal(err)
		}
	})
	return dir
}

func withService(t *testing.T, dir string, key *secret.Key, f func(svc *service.Service)) {
	t.Helper()
	db, err := store.Open(t.Context(), filepath.Join(dir, "imapmigrate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, err := service.New(t.Context(), service.Config{DB: db, Key: key, NoWork: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f(svc)
}

// runAdmin runs `imapmigrate admin args...` and returns its exit code, its
// output and its error message, as Main would.
func runAdmin(t *testing.T, args ...string) (code int, stdout, errMsg string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newAdminCmd(&out, &errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK, out.String(), ""
	case errors.As(err, &ee):
		return ee.code, out.String(), err.Error()
	}
	return ExitUsage, out.String(), err.Error()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRotateKeyCommand(t *testing.T) {
	dir := rotateSetup(t)
	keyFile := filepath.Join(dir, "secret.key")
	oldContents := readFile(t, keyFile)

	code, out, msg := runAdmin(t, "rotate-key", "--data", dir)
	if code != ExitOK {
		t.Fatalf("rotate-key = exit %d, %q", code, msg)
	}
	olds, _ := filepath.Glob(keyFile + ".old-*")
	if len(olds) != 1 || readFile(t, olds[0]) != oldContents {
		t.Fatalf("old key files = %v; want one holding the old key", olds)
	}
	for _, want := range []string{"Re-sealed 1 stored passwords", olds[0], "delete it"} {
		if !strings.Contains(out, want) {
			t.Errorf("rotate-key output = %q; want it to contain %q", out, want)
		}
	}
	if strings.Contains(out, "worker") {
		t.Errorf("rotate-key output on SQLite = %q; want no word of PostgreSQL workers", out)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("new key file mode = %04o; want 0600", fi.Mode().Perm())
	}
	if readFile(t, keyFile) == oldContents {
		t.Error("the key file still holds the old key")
	}
	if _, err := os.Stat(keyFile + ".new"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat %s.new = %v; want it gone", keyFile, err)
	}
	newKey, err := secret.LoadKey(keyFile, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	withService(t, dir, newKey, func(svc *service.Service) {
		if _, err := svc.Endpoint(t.Context(), "dst"); err != nil {
			t.Errorf("with the new key, Endpoint(dst) = %v", err)
		}
	})

	// A second rotation in the same second keeps both old keys.
	if code, _, msg := runAdmin(t, "rotate-key", "--data", dir); code != ExitOK {
		t.Fatalf("second rotate-key = exit %d, %q", code, msg)
	}
	if olds, _ := filepath.Glob(keyFile + ".old-*"); len(olds) != 2 {
		t.Errorf("after two rotations, old key files = %v; want 2", olds)
	}
}

func TestRotateKeyRefuses(t *testing.T) {
	t.Run("ServeRunning", func(t *testing.T) {
		dir := rotateSetup(t)
		unlock, err := lockDataDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		before := readFile(t, filepath.Join(dir, "secret.key"))
		code, _, msg := runAdmin(t, "rotate-key", "--data", dir)
		if code != ExitUsage || !strings.Contains(msg, "another imapmigrate serve") || !strings.Contains(msg, "stop it") {
			t.Errorf("rotate-key while serve runs = exit %d, %q; want %d and a message to stop serve", code, msg, ExitUsage)
		}
		if readFile(t, filepath.Join(dir, "secret.key")) != before {
			t.Error("the key file changed")
		}
	})
	t.Run("KeyFromEnvironment", func(t *testing.T) {
		dir := rotateSetup(t)
		t.Setenv("IMAPMIGRATE_SECRET_KEY", strings.TrimSpace(readFile(t, filepath.Join(dir, "secret.key"))))
		code, _, msg := runAdmin(t, "rotate-key", "--data", dir)
		if code != ExitUsage || !strings.Contains(msg, "IMAPMIGRATE_SECRET_KEY") || !strings.Contains(msg, "--secret-key-file") {
			t.Errorf("rotate-key with the key in the environment = exit %d, %q; want %d and a way out", code, msg, ExitUsage)
		}
	})
	t.Run("ValueDoesNotOpen", func(t *testing.T) {
		dir := rotateSetup(t)
		keyFile := filepath.Join(dir, "secret.key")
		before := readFile(t, keyFile)
		db, err := store.Open(t.Context(), filepath.Join(dir, "imapmigrate.db"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.SQL().Exec(`UPDATE endpoints SET admin_password = 'v1:AAAA' WHERE name = 'dst'`)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		code, _, msg := runAdmin(t, "rotate-key", "--data", dir)
		if code != ExitInternal || !strings.Contains(msg, `admin_password of endpoint "dst"`) || !strings.Contains(msg, "nothing was changed") {
			t.Errorf("rotate-key = exit %d, %q; want %d naming the value", code, msg, ExitInternal)
		}
		if left, _ := filepath.Glob(keyFile + ".*"); len(left) > 0 || readFile(t, keyFile) != before {
			t.Errorf("after a failed rotation, key files %v are left or the key changed", left)
		}
	})
	t.Run("NoKeyFile", func(t *testing.T) {
		dir := rotateSetup(t)
		code, _, msg := runAdmin(t, "rotate-key", "--data", dir, "--secret-key-file", filepath.Join(dir, "missing.key"))
		if code != ExitUsage {
			t.Errorf("rotate-key without a key file = exit %d, %q; want %d", code, msg, ExitUsage)
		}
		if _, err := os.Stat(filepath.Join(dir, "missing.key")); !errors.Is(err, os.ErrNotExist) {
			t.Error("rotate-key created a key file")
		}
	})
}

// TestRotateKeyResumes: a rotation that died leaves secret.key.new, and the
// next run tells from the database whether it was used.
func TestRotateKeyResumes(t *testing.T) {
	t.Run("BeforeCommit", func(t *testing.T) {
		dir := rotateSetup(t)
		keyFile := filepath.Join(dir, "secret.key")
		// Died while writing the new key: the file is not even a key.
		if err := os.WriteFile(keyFile+".new", []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, msg := runAdmin(t, "rotate-key", "--data", dir)
		if code != ExitOK || !strings.Contains(out, "Removed "+keyFile+".new") || !strings.Contains(out, "Re-sealed 1") {
			t.Fatalf("rotate-key = exit %d, %q, %q; want the unused key removed and a rotation", code, out, msg)
		}
	})
	t.Run("AfterCommit", func(t *testing.T) {
		dir := rotateSetup(t)
		keyFile := filepath.Join(dir, "secret.key")
		if err := writeNewKeyFile(keyFile + ".new"); err != nil {
			t.Fatal(err)
		}
		oldKey, err := secret.LoadKey(keyFile, noEnv)
		if err != nil {
			t.Fatal(err)
		}
		newKey, err := secret.LoadKey(keyFile+".new", noEnv)
		if err != nil {
			t.Fatal(err)
		}
		newContents := readFile(t, keyFile+".new")
		db, err := store.Open(t.Context(), filepath.Join(dir, "imapmigrate.db"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = service.RotateKey(t.Context(), db, oldKey, newKey)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		// Died here, before renaming the key files.
		code, out, msg := runAdmin(t, "rotate-key", "--data", dir)
		if code != ExitOK || !strings.Contains(out, "Finished an interrupted rotation") {
			t.Fatalf("rotate-key = exit %d, %q, %q; want the interrupted rotation finished", code, out, msg)
		}
		if readFile(t, keyFile) != newContents {
			t.Error("the key file does not hold the key the database was sealed with")
		}
		withService(t, dir, newKey, func(svc *service.Service) {
			if _, err := svc.Endpoint(t.Context(), "dst"); err != nil {
				t.Errorf("after finishing, Endpoint(dst) = %v", err)
			}
		})
	})
}
