package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/config"
	"github.com/imapmigrate/imapmigrate/internal/secret"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/store"
)

func newAdminCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Maintenance run on the service's machine, against its data directory or database",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newRotateKeyCmd(stdout, stderr), newAdminSetPasswordCmd(stdout, stderr))
	return cmd
}

func newRotateKeyCmd(stdout, stderr io.Writer) *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Encrypt the stored passwords with a new secret key",
		Long: `Make a new secret key and encrypt every stored password with it: the
endpoints' admin passwords and the batch users' source and destination
passwords, in one database transaction. If any of them does not open with the
current key, nothing changes.

The new key replaces the key file (--secret-key-file, default
<data>/secret.key); the old one is kept beside it as
secret.key.old-<UTC time>, to delete once no backup of the database that needs
it is kept. A key given in IMAPMIGRATE_SECRET_KEY cannot be rotated by this
command: put it in a key file first.

Stop the service first. With the embedded SQLite database, rotate-key refuses
to run while 'imapmigrate serve' uses the data directory. With PostgreSQL it
cannot tell: stop serve and every worker, and copy the new key file to each
machine before starting them again.

If rotate-key is interrupted, run it again: it finds secret.key.new and
finishes or undoes the interrupted rotation.`,
		Args: cobra.NoArgs,
	}
	getenv := config.Flags(cmd.Flags(), os.Getenv)
	cmd.Flags().StringVar(&configFile, "config", "", "TOML settings file (env IMAPMIGRATE_CONFIG)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if configFile == "" {
			configFile = os.Getenv("IMAPMIGRATE_CONFIG")
		}
		return runRotateKey(cmd.Context(), stdout, configFile, getenv)
	}
	return cmd
}

// noEnv makes secret.LoadKey read the key file even when
// IMAPMIGRATE_SECRET_KEY is set.
func noEnv(string) string { return "" }

// runRotateKey replaces the secret key. The order of the steps makes sure
// that, wherever the process stops (crash, power cut), one of the key files
// opens the database, and that a second run can tell which:
//
//  1. The new key is written to <keyfile>.new and synced, with its
//     directory entry. Until step 3 commits, the database is sealed with
//     the key in <keyfile>; the next run sees .new, finds that the
//     database still opens with <keyfile> and removes .new.
//  2. <keyfile> is hard-linked to <keyfile>.old-<time>: a copy of the old
//     key that outlives step 4, made before the database changes so that a
//     failure here changes nothing.
//  3. One transaction re-seals every value with the new key, committed
//     durably (service.RotateKey). If it fails, .new and .old-* are
//     removed and nothing has changed. If the process dies after the commit,
//     the database opens only with .new; the next run finds that and
//     finishes with step 4.
//  4. <keyfile>.new is renamed over <keyfile>, which is atomic: <keyfile>
//     is never missing (serve would make a fresh key in its place), and
//     holds either the old or the new key.
func runRotateKey(ctx context.Context, stdout io.Writer, configFile string, getenv func(string) string) error {
	cfg, err := config.Load(configFile, getenv)
	if err != nil {
		return exitf(ExitUsage, "%v", err)
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return exitf(ExitUsage, "settings: %v", errors.Join(errs...))
	}
	if getenv("IMAPMIGRATE_SECRET_KEY") != "" {
		return exitf(ExitUsage, "rotate secret key: the key comes from IMAPMIGRATE_SECRET_KEY, which this command cannot change; "+
			"write it to a key file (mode 0600), unset the variable and run again with --secret-key-file FILE "+
			"(or rotate by hand: re-enter every password after changing the variable)")
	}
	keyFile := cfg.SecretKeyFile
	if _, err := os.Stat(keyFile); err != nil {
		return exitf(ExitUsage, "rotate secret key: %v (nothing is sealed with a key there; check --data or --secret-key-file)", err)
	}
	dsn := cfg.Database
	if !cfg.IsPostgres() {
		dsn = cfg.DatabasePath()
		if _, err := os.Stat(dsn); err != nil {
			return exitf(ExitUsage, "rotate secret key: %v (check --data)", err)
		}
		unlock, err := lockDataDir(cfg.Data)
		if err != nil {
			return exitf(ExitUsage, "%v: stop it before rotating the secret key", err)
		}
		defer unlock()
	}
	oldKey, err := secret.LoadKey(keyFile, noEnv)
	if err != nil {
		return exitf(ExitUsage, "%v", err)
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return exitf(ExitInternal, "%v", err)
	}
	defer db.Close()

	newFile := keyFile + ".new"
	if _, err := os.Stat(newFile); err == nil {
		finished, err := resumeRotation(ctx, stdout, cfg, db, oldKey, newFile)
		if err != nil || finished {
			return err
		}
	}

	// Step 1.
	if err := writeNewKeyFile(newFile); err != nil {
		return exitf(ExitInternal, "rotate secret key: %v", err)
	}
	newKey, err := secret.LoadKey(newFile, noEnv) // read back as serve will read it
	if err != nil {
		os.Remove(newFile)
		return exitf(ExitInternal, "rotate secret key: %v", err)
	}
	// Step 2.
	oldFile, err := keepOldKey(keyFile)
	if err != nil {
		os.Remove(newFile)
		return exitf(ExitInternal, "rotate secret key: %v", err)
	}
	// Step 3.
	n, err := service.RotateKey(ctx, db, oldKey, newKey)
	if err != nil {
		os.Remove(newFile)
		os.Remove(oldFile)
		return exitf(ExitInternal, "%v; nothing was changed", err)
	}
	// Step 4.
	if err := installKey(newFile, keyFile); err != nil {
		return exitf(ExitInternal, "rotate secret key: the passwords are sealed with the new key in %s, but it could not replace %s: %v; "+
			"run rotate-key again, or move it there by hand (mv %s %s)", newFile, keyFile, err, newFile, keyFile)
	}
	fmt.Fprintf(stdout, "Re-sealed %d stored passwords with a new secret key, now in %s.\n", n, keyFile)
	printRotationNotes(stdout, cfg, oldFile)
	return nil
}

// resumeRotation handles the <keyfile>.new that an interrupted rotation
// left: when the database still opens with the current key it was not used
// and is removed (finished false: go on and rotate); when the database
// opens only with it, the rotation had committed, and the key files are
// put in place now (finished true).
func resumeRotation(ctx context.Context, stdout io.Writer, cfg config.Config, db *store.DB, oldKey *secret.Key, newFile string) (finished bool, err error) {
	keyFile := cfg.SecretKeyFile
	if service.CheckKey(ctx, db, oldKey) == nil {
		if err := os.Remove(newFile); err != nil {
			return false, exitf(ExitInternal, "rotate secret key: remove the unused key of an interrupted rotation: %v", err)
		}
		fmt.Fprintf(stdout, "Removed %s, left unused by an interrupted rotation.\n", newFile)
		return false, nil
	}
	pending, err := secret.LoadKey(newFile, noEnv)
	if err != nil {
		return false, exitf(ExitInternal, "rotate secret key: the stored passwords do not open with %s, and %s, left by an interrupted rotation, is not a key: %v",
			keyFile, newFile, err)
	}
	if err := service.CheckKey(ctx, db, pending); err != nil {
		return false, exitf(ExitInternal, "rotate secret key: the stored passwords open neither with %s nor with %s (left by an interrupted rotation): %v",
			keyFile, newFile, err)
	}
	oldFile, err := keepOldKey(keyFile)
	if err == nil {
		err = installKey(newFile, keyFile)
	}
	if err != nil {
		return false, exitf(ExitInternal, "rotate secret key: finish an interrupted rotation: the passwords are sealed with the key in %s: %v; "+
			"move it by hand (mv %s %s)", newFile, err, newFile, keyFile)
	}
	fmt.Fprintf(stdout, "Finished an interrupted rotation: the stored passwords were sealed with %s, now moved to %s.\n", newFile, keyFile)
	printRotationNotes(stdout, cfg, oldFile)
	return true, nil
}

func printRotationNotes(w io.Writer, cfg config.Config, oldFile string) {
	fmt.Fprintf(w, "The old key is in %s: delete it once no backup of the database that needs it is kept.\n", oldFile)
	if cfg.IsPostgres() {
		fmt.Fprintf(w, "Copy %s to every machine that runs imapmigrate serve or worker on this database (or set IMAPMIGRATE_SECRET_KEY there to its contents) before starting them again.\n", cfg.SecretKeyFile)
	}
}

// writeNewKeyFile writes a random key to path in the format of the key file
// that secret.LoadKey creates, and makes it durable. A file already at path
// is an error: resumeRotation deals with it first.
func writeNewKeyFile(path string) error {
	raw := make([]byte, 32)
	rand.Read(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write new key file: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write new key file %s: %w", path, err)
	}
	return nil
}

// keepOldKey links keyFile to keyFile.old-<UTC time> and returns that name;
// two rotations in one second get -2, -3… appended.
func keepOldKey(keyFile string) (string, error) {
	base := keyFile + ".old-" + time.Now().UTC().Format("20060102T150405Z")
	name := base
	for i := 2; ; i++ {
		err := os.Link(keyFile, name)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i > 100 {
			return "", fmt.Errorf("keep the old key: %w", err)
		}
		name = base + "-" + strconv.Itoa(i)
	}
	if err := syncDir(filepath.Dir(keyFile)); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("keep the old key: %w", err)
	}
	return name, nil
}

// installKey renames newFile over keyFile and makes the rename durable.
func installKey(newFile, keyFile string) error {
	if err := os.Rename(newFile, keyFile); err != nil {
		return err
	}
	return syncDir(filepath.Dir(keyFile))
}

// syncDir makes the creation, linking or renaming of files in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
