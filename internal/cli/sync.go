package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/store"
)

const syncHelp = `Copy one mailbox from a source IMAP server to a destination IMAP server.

The source is only read (EXAMINE, BODY.PEEK): no flag, message or folder
changes there. Folders are mapped (separators, namespace prefixes, special-use
folders such as Sent and Trash onto the destination's own); calendars,
contacts, tasks and notes that some servers show as folders are left out.
Messages keep their bytes, flags and dates and move newest first.

Run it again to copy only what is new and carry flag changes over: the state
database (--state) remembers what was copied, and messages already at the
destination are recognised by content when the state is lost or a run was
killed, so nothing is copied twice.

Passwords come from a file (--source-password-file) or from the environment
(IMAPMIGRATE_SOURCE_PASSWORD, IMAPMIGRATE_DEST_PASSWORD), never from the
command line.

Exit status: 0 everything that should move has moved (skipped items are
reported, not failures); 2 bad usage or configuration; 3 connection or TLS
failure, or a login refused for now ([LIMIT], [UNAVAILABLE]); 4
authentication failure; 5 some items or folders failed or were refused by
the destination; 1 any other failure; 130 interrupted (run again: nothing
is lost or copied twice).`

const syncExample = `  imapmigrate sync \
    --source old.example.com:993 --source-user alice@example.com --source-password-file pw1 \
    --dest   new.example.com:993 --dest-user   alice@example.com --dest-password-file   pw2`

// sideFlags are the flags that describe one server.
type sideFlags struct {
	name         string // "source" or "dest"
	addr         string
	user         string
	passwordFile string
	security     string
	authUser     string
	caFile       string
	insecure     bool
	certSHA256   string
}

func (sf *sideFlags) register(cmd *cobra.Command, label string) {
	f := cmd.Flags()
	n := sf.name
	f.StringVar(&sf.addr, n, "", label+" server as HOST:PORT")
	f.StringVar(&sf.user, n+"-user", "", "mailbox user at the "+label+" server")
	f.StringVar(&sf.passwordFile, n+"-password-file", "", "file holding the "+label+" password (or env IMAPMIGRATE_"+strings.ToUpper(n)+"_PASSWORD); with --"+n+"-auth-user, the admin's password")
	f.StringVar(&sf.security, n+"-security", "", "tls, starttls or none (default tls on port 993, starttls elsewhere)")
	f.StringVar(&sf.authUser, n+"-auth-user", "", "log in as this admin and act for --"+n+"-user (SASL PLAIN authorization identity)")
	f.StringVar(&sf.caFile, n+"-ca-file", "", "PEM file of certificate authorities to trust for the "+label+" server (private CA, self-signed)")
	f.BoolVar(&sf.insecure, n+"-insecure-skip-verify", false, "do not verify the "+label+" server's certificate (unsafe)")
	f.StringVar(&sf.certSHA256, n+"-cert-sha256", "", "trust only the "+label+" server certificate with this SHA-256 fingerprint, as openssl x509 -fingerprint -sha256 prints it (self-signed; the safe alternative to --"+n+"-insecure-skip-verify)")
}

// config turns the flags into a connection config. Errors are usage errors.
func (sf *sideFlags) config(label string) (imapconn.Config, error) {
	var cfg imapconn.Config
	if sf.addr == "" {
		return cfg, fmt.Errorf("--%s is required (HOST:PORT)", sf.name)
	}
	if !strings.Contains(sf.addr, ":") {
		return cfg, fmt.Errorf("--%s %q: want HOST:PORT", sf.name, sf.addr)
	}
	if sf.user == "" {
		return cfg, fmt.Errorf("--%s-user is required", sf.name)
	}
	sec, err := imapconn.ParseSecurity(sf.security)
	if err != nil {
		return cfg, fmt.Errorf("--%s-security: %w", sf.name, err)
	}
	pw, err := sf.password()
	if err != nil {
		return cfg, err
	}
	if sf.caFile != "" {
		if _, err := os.Stat(sf.caFile); err != nil {
			return cfg, fmt.Errorf("--%s-ca-file: %w", sf.name, err)
		}
	}
	if sf.certSHA256 != "" {
		if _, err := imapconn.ParsePin(sf.certSHA256); err != nil {
			return cfg, fmt.Errorf("--%s-cert-sha256: %w", sf.name, err)
		}
		switch {
		case sf.insecure || sf.caFile != "":
			return cfg, fmt.Errorf("--%s-cert-sha256 excludes --%s-insecure-skip-verify and --%s-ca-file", sf.name, sf.name, sf.name)
		case sec == imapconn.SecurityNone:
			return cfg, fmt.Errorf("--%s-cert-sha256 needs --%s-security tls or starttls", sf.name, sf.name)
		}
	}
	return imapconn.Config{
		Addr: sf.addr, Security: sec, User: sf.user, Password: pw, AuthUser: sf.authUser,
		CAFile: sf.caFile, InsecureSkipVerify: sf.insecure, PinSHA256: sf.certSHA256, Side: label,
	}, nil
}

func (sf *sideFlags) password() (string, error) {
	env := "IMAPMIGRATE_" + strings.ToUpper(sf.name) + "_PASSWORD"
	if sf.passwordFile != "" {
		b, err := os.ReadFile(sf.passwordFile)
		if err != nil {
			return "", fmt.Errorf("--%s-password-file: %w", sf.name, err)
		}
		// One trailing line end is the file's, not the password's.
		s := strings.TrimSuffix(string(b), "\n")
		return strings.TrimSuffix(s, "\r"), nil
	}
	if pw, ok := os.LookupEnv(env); ok {
		return pw, nil
	}
	return "", fmt.Errorf("no %s password: give --%s-password-file or set %s", sf.name, sf.name, env)
}

func newSyncCmd(stdout, stderr io.Writer) *cobra.Command {
	src := &sideFlags{name: "source"}
	dst := &sideFlags{name: "dest"}
	var (
		statePath string
		include   []string
		exclude   []string
		maxSize   string
		maxItems  int
		conns     int
		dryRun    bool
		report    string
		trace     bool
		cpuProf   string
		memProf   string
	)
	cmd := &cobra.Command{
		Use:     "sync",
		Short:   "Copy one mailbox between two IMAP servers",
		Long:    syncHelp,
		Example: syncExample,
		Args:    cobra.NoArgs,
	}
	src.register(cmd, "source")
	dst.register(cmd, "destination")
	f := cmd.Flags()
	f.StringVar(&statePath, "state", "", "state database (SQLite) (default: one per mailbox pair under $XDG_STATE_HOME/imapmigrate)")
	f.StringArrayVar(&include, "include-folder", nil, "copy only folders matching this pattern (repeatable; * matches anything, % anything but /; names as the user sees them, e.g. 'Archive/*')")
	f.StringArrayVar(&exclude, "exclude-folder", nil, "do not copy folders matching this pattern (repeatable)")
	f.StringVar(&maxSize, "max-message-size", "35MiB", "skip (and report) larger messages: bytes or with a unit (KiB, MiB, GiB, KB, MB, GB); 0 = no limit")
	f.IntVar(&maxItems, "max-items", mailsync.DefaultMaxItems, "copy at most the newest N messages of the mailbox; 0 = no cap")
	f.IntVar(&conns, "connections", mailsync.DefaultConnections, "parallel connections per side")
	f.BoolVar(&dryRun, "dry-run", false, "print the plan (folder mapping, counts, sizes) and change nothing")
	f.StringVar(&report, "report", "", "write the report as JSON to this file")
	f.BoolVarP(&trace, "trace", "v", false, "print the IMAP protocol transcript to stderr (passwords redacted)")
	f.StringVar(&cpuProf, "cpuprofile", "", "write a CPU profile (pprof) to this file")
	f.StringVar(&memProf, "memprofile", "", "write a heap profile (pprof) to this file at the end of the copy")
	f.MarkHidden("cpuprofile")
	f.MarkHidden("memprofile")

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		srcCfg, err := src.config("source")
		if err != nil {
			return exitf(ExitUsage, "%w", err)
		}
		dstCfg, err := dst.config("destination")
		if err != nil {
			return exitf(ExitUsage, "%w", err)
		}
		size, err := parseSize(maxSize)
		if err != nil {
			return exitf(ExitUsage, "--max-message-size: %w", err)
		}
		if maxItems < 0 || conns < 1 {
			return exitf(ExitUsage, "--max-items must be 0 or more and --connections 1 or more")
		}
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		if trace {
			log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			srcCfg.Trace, srcCfg.TraceLabel = stderr, "source"
			dstCfg.Trace, dstCfg.TraceLabel = stderr, "dest"
		}
		for _, c := range []imapconn.Config{srcCfg, dstCfg} {
			if c.InsecureSkipVerify {
				fmt.Fprintf(stderr, "warning: the %s server's certificate is not verified: anyone on the path can read the password and the mail\n", c.Side)
			}
		}
		if statePath == "" {
			if statePath, err = defaultStatePath(srcCfg, dstCfg); err != nil {
				return exitf(ExitUsage, "--state: %w", err)
			}
		}
		db, err := store.Open(cmd.Context(), statePath)
		if err != nil {
			return exitf(ExitInternal, "%w", err)
		}
		defer db.Close()

		stopProfiles, err := startProfiles(cpuProf, memProf)
		if err != nil {
			return exitf(ExitUsage, "%w", err)
		}
		defer stopProfiles()
		prog := newProgress(stderr)
		rep, err := mailsync.Sync(cmd.Context(), mailsync.Options{
			Source: srcCfg, Dest: dstCfg, State: db,
			Folders:        folder.Rules{Include: include, Exclude: exclude},
			MaxMessageSize: size, MaxItems: maxItems, Connections: conns,
			DryRun: dryRun, Progress: prog.update, Logger: log,
		})
		prog.done()
		if err != nil {
			return exitf(exitCode(err), "%w", err)
		}
		if report != "" {
			if err := writeReport(report, rep); err != nil {
				return exitf(ExitInternal, "write report: %w", err)
			}
		}
		printReport(stdout, rep)
		if !rep.OK() {
			return &exitError{code: ExitPartial}
		}
		return nil
	}
	return cmd
}

// startProfiles starts CPU profiling and returns a function that stops it
// and writes the heap profile; both are for measuring imapmigrate itself.
func startProfiles(cpu, mem string) (func(), error) {
	var cpuFile *os.File
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		cpuFile = f
	}
	if mem == "" {
		return func() {
			if cpuFile != nil {
				pprof.StopCPUProfile()
				cpuFile.Close()
			}
		}, nil
	}
	// The heap profile is written when the heap in use peaks, which is what
	// a memory budget is about, rather than at the end.
	runtime.MemProfileRate = 64 << 10
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var peak uint64
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak+peak/10 {
				peak = ms.HeapInuse
				if f, err := os.Create(mem); err == nil {
					runtime.GC()
					pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		if cpuFile != nil {
			pprof.StopCPUProfile()
			cpuFile.Close()
		}
	}, nil
}

// exitCode classifies a failed run.
func exitCode(err error) int {
	if errors.Is(err, context.Canceled) {
		return ExitCanceled
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		switch ie.Code {
		case imap.ResponseCodeLimit, imap.ResponseCodeUnavailable, imap.ResponseCodeInUse:
			// A login refused for now (too many connections, server
			// busy) is not a wrong password: try again later.
			return ExitConnect
		}
	}
	if kind, ok := imapconn.KindOf(err); ok {
		switch kind {
		case imapconn.KindAuth:
			return ExitAuth
		case imapconn.KindConnect, imapconn.KindTLS:
			return ExitConnect
		}
	}
	return ExitInternal
}

func writeReport(path string, rep *mailsync.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// defaultStatePath gives each source/destination mailbox pair its own state
// file under $XDG_STATE_HOME/imapmigrate (~/.local/state/imapmigrate).
func defaultStatePath(src, dst imapconn.Config) (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no home directory for the default state file: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	name := unsafeChars.ReplaceAllString(src.User+"@"+src.Addr+"_to_"+dst.User+"@"+dst.Addr, "_")
	return filepath.Join(dir, "imapmigrate", name+".db"), nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9@._+-]`)

// parseSize reads "36700160", "35MiB", "35MB", "512KiB", "1.5GiB".
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(s), strings.ToUpper(u.suffix)) {
			s, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size (want bytes, or a number with KiB, MiB, GiB, KB, MB or GB)", s)
	}
	return int64(v * mult), nil
}
