package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/apiclient"
	"github.com/imapmigrate/imapmigrate/internal/config"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// The commands that drive a running server (endpoint, batch, user) talk to
// its REST API, found and authenticated as below.
const (
	defaultServer = "http://127.0.0.1:8080"
	serverEnv     = "IMAPMIGRATE_SERVER"
	tokenEnv      = "IMAPMIGRATE_TOKEN"
	// dataEnv is the server's data directory setting, read here too so
	// that the token is found where the server wrote it.
	dataEnv = "IMAPMIGRATE_DATA"
	// tokenFile is the API token that `imapmigrate serve` writes into its
	// data directory, so that an admin on the same host needs no setup.
	tokenFile = "admin.token"
)

// remoteFlags are the flags shared by the commands that talk to the server.
type remoteFlags struct {
	server  string
	dataDir string
	json    bool
}

// register adds the flags to a command group, for all its subcommands.
func (rf *remoteFlags) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&rf.server, "server", "", "URL of the imapmigrate server (default $"+serverEnv+", else "+defaultServer+")")
	f.StringVar(&rf.dataDir, "data", "", "the server's data directory, to read the API token from its "+tokenFile+" file (default $"+dataEnv+", else $XDG_DATA_HOME/imapmigrate, else ~/.local/share/imapmigrate); $"+tokenEnv+", when set, is used instead")
	f.BoolVar(&rf.json, "json", false, "print the API's JSON instead of tables")
}

// showHelp is the RunE of a command group: with it (and cobra.NoArgs) a
// misspelt subcommand is a usage error rather than help and exit status 0.
func showHelp(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// remote is a command's connection to the server, with what it needs to
// explain a failure.
type remote struct {
	*apiclient.Client
	server    string
	tokenFrom string // where the token was read, for the 401 message
	json      bool
	stdout    io.Writer
	stderr    io.Writer
}

// run wraps a command's work: it connects, runs fn, and turns the API's
// answers into exit codes (see fail).
func (rf *remoteFlags) run(stdout, stderr io.Writer, fn func(ctx context.Context, rc *remote, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		rc, err := rf.connect(stdout, stderr)
		if err != nil {
			return err
		}
		if err := fn(cmd.Context(), rc, args); err != nil {
			return rc.fail(err)
		}
		return nil
	}
}

func (rf *remoteFlags) connect(stdout, stderr io.Writer) (*remote, error) {
	server := rf.server
	if server == "" {
		server = os.Getenv(serverEnv)
	}
	if server == "" {
		server = defaultServer
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, exitf(ExitUsage, "--server %q: want a URL such as %s", server, defaultServer)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		fmt.Fprintf(stderr, "warning: %s is plain HTTP to another host: the API token and any password cross the network unencrypted\n", server)
	}
	token, from, err := rf.token()
	if err != nil {
		return nil, err
	}
	return &remote{Client: apiclient.New(server, token), server: server, tokenFrom: from, json: rf.json, stdout: stdout, stderr: stderr}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// token returns the API token and where it came from.
func (rf *remoteFlags) token() (token, from string, err error) {
	if t := strings.TrimSpace(os.Getenv(tokenEnv)); t != "" {
		return t, "$" + tokenEnv, nil
	}
	dir := rf.dataDir
	if dir == "" {
		dir = os.Getenv(dataEnv)
	}
	if dir == "" {
		if dir = config.DefaultData(os.Getenv); dir == "" {
			return "", "", exitf(ExitUsage, "--data: no home directory for the default data directory")
		}
	}
	path := filepath.Join(dir, tokenFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", exitf(ExitAuth, "no API token: %w; set %s, or point --data at the server's data directory (`imapmigrate serve` writes %s there)", err, tokenEnv, tokenFile)
	}
	if token = strings.TrimSpace(string(b)); token == "" {
		return "", "", exitf(ExitAuth, "no API token: %s is empty", path)
	}
	return token, path, nil
}

// fail turns an error into the exit code of the command line contract: 2
// for input the server refused (every CSV problem printed on its own
// line), 3 when the server cannot be reached or an IMAP server behind it
// refused or could not be reached, 4 when it refuses the token, 1 for
// anything else, with the server's message.
func (rc *remote) fail(err error) error {
	var (
		ee     *exitError
		connE  *apiclient.ConnectError
		csvErr *service.CSVError
		apiErr *apiclient.Error
	)
	switch {
	case errors.As(err, &ee), errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &connE):
		return exitf(ExitConnect, "%w", err)
	case errors.As(err, &csvErr):
		for _, p := range csvErr.Problems {
			fmt.Fprintln(rc.stderr, p)
		}
		return exitf(ExitUsage, "the CSV file has %d problem(s), listed above; fix them all and run the command again", len(csvErr.Problems))
	case errors.Is(err, service.ErrInvalid):
		return exitf(ExitUsage, "%w", err)
	case errors.Is(err, service.ErrRemote):
		// The message quotes an IMAP server, which may send any byte but
		// CR and LF: keep its escape sequences off the terminal.
		return &exitError{code: ExitConnect, err: cleanError{err}}
	case errors.As(err, &apiErr) && apiErr.Status == 401:
		return exitf(ExitAuth, "the server at %s refused the API token read from %s: %w", rc.server, rc.tokenFrom, err)
	}
	return exitf(ExitInternal, "%w", err)
}

// printJSON prints v indented: the API's answer as it came.
func (rc *remote) printJSON(v any) error {
	b, err := indentJSON(v)
	if err != nil {
		return err
	}
	_, err = rc.stdout.Write(b)
	return err
}

func indentJSON(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	return append(b, '\n'), err
}

// passwordFrom reads a password from file (one trailing line end is the
// file's, not the password's) or, without one, from the environment
// variable env. Passwords never come from flags: those show in ps and in
// shell history.
func passwordFrom(flag, file, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--%s: %w", flag, err)
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	}
	return os.Getenv(env), nil
}

// clean makes text from mailboxes and servers (subjects, folder names,
// error messages) safe for a table on a terminal: control characters,
// which could move the cursor or break the columns, become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// cleanError is err with its message cleaned for a terminal.
type cleanError struct{ err error }

func (e cleanError) Error() string { return clean(e.err.Error()) }
func (e cleanError) Unwrap() error { return e.err }

// orDash is s, or "-" for an empty cell.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return clean(s)
}

func formatTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// readCSV reads a batch CSV file for the server, which checks it.
func readCSV(path string) (string, error) {
	if path == "" {
		return "", exitf(ExitUsage, "--csv is required: the file of users (EmailAddress,UserName,Password)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", exitf(ExitUsage, "--csv: %w", err)
	}
	return string(b), nil
}
