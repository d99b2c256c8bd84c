package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/imapmigrate/imapmigrate/internal/config"
	"github.com/imapmigrate/imapmigrate/internal/web"
)

const adminSetPasswordHelp = `Set the password that signs in to the web console.

The password is read from the first line of --password-file, or else from
the first line of standard input; never from a flag, which would show in ps
and in the shell's history. It needs at least 12 characters (and at most 72
bytes, all that bcrypt reads).

Only its bcrypt hash is stored, in <data>/admin.password (mode 0600). A
running 'imapmigrate serve' reads that file at each sign-in, so the new
password works at once, without a restart. The admin token (admin.token)
keeps working as a sign-in password too.`

const adminSetPasswordExample = `  imapmigrate admin set-password --password-file /root/console-password
  openssl rand -base64 18 | tee /dev/tty | imapmigrate admin set-password --data /var/lib/imapmigrate`

func newAdminSetPasswordCmd(stdout, stderr io.Writer) *cobra.Command {
	var configFile, pwFile string
	cmd := &cobra.Command{
		Use:     "set-password",
		Short:   "Set the web console's admin password",
		Long:    adminSetPasswordHelp,
		Example: adminSetPasswordExample,
		Args:    cobra.NoArgs,
	}
	getenv := config.Flags(cmd.Flags(), os.Getenv)
	// Of the service's settings only the data directory matters here; the
	// others stay accepted (a shared env file may set them) but unlisted.
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "data" {
			f.Hidden = true
		}
	})
	cmd.Flags().StringVar(&configFile, "config", "", "TOML settings file (env IMAPMIGRATE_CONFIG)")
	cmd.Flags().StringVar(&pwFile, "password-file", "", "file whose first line is the new password (default: standard input)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if configFile == "" {
			configFile = os.Getenv("IMAPMIGRATE_CONFIG")
		}
		// The data directory must be the one serve uses, so the settings
		// are read the way serve reads them: file, environment, flags.
		cfg, err := config.Load(configFile, getenv)
		if err != nil {
			return exitf(ExitUsage, "%v", err)
		}
		if cfg.Data == "" {
			return exitf(ExitUsage, "no data directory: give --data or set IMAPMIGRATE_DATA (or HOME)")
		}
		in := cmd.InOrStdin()
		source := "standard input"
		if pwFile != "" {
			f, err := os.Open(pwFile)
			if err != nil {
				return exitf(ExitUsage, "--password-file: %v", err)
			}
			defer f.Close()
			in, source = f, pwFile
		} else if f, ok := in.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			fmt.Fprint(stderr, "New console password (it shows as you type; use --password-file to avoid that): ")
		}
		pw, err := readLine(in)
		if err != nil {
			return exitf(ExitUsage, "read the new password from %s: %v", source, err)
		}
		path := filepath.Join(cfg.Data, web.PasswordFileName)
		if err := web.SetPassword(path, pw); err != nil {
			if errors.Is(err, web.ErrWeakPassword) {
				return exitf(ExitUsage, "%v", err)
			}
			return exitf(ExitInternal, "%v", err)
		}
		fmt.Fprintf(stdout, "Console password set: its bcrypt hash is in %s. It works at the next sign-in; no restart needed.\n", path)
		return nil
	}
	return cmd
}

// readLine returns the first line of r without its line end.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password (an empty first line)")
	}
	return line, nil
}
