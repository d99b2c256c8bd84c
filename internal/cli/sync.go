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
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/oauth"
	"github.com/imapmigrate/imapmigrate/internal/provider"
	"github.com/imapmigrate/imapmigrate/internal/secret"
	"github.com/imapmigrate/imapmigrate/internal/size"
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

--source-profile and --dest-profile name the kind of server on each side
(gmail, office365, exchange, dovecot, ...; imapmigrate probe shows what it
finds): the profile gives the server of a hosted service, the connections,
the message size limit, the folders that are not mail and the names the
destination keeps for itself. Flags given win.

Passwords come from a file (--source-password-file) or from the environment
(IMAPMIGRATE_SOURCE_PASSWORD, IMAPMIGRATE_DEST_PASSWORD), never from the
command line. Office 365 and Google Workspace log in with OAuth 2.0 tokens
instead (--source-oauth, --dest-oauth: microsoft, google or refresh), whose
secrets also come only from files or the environment.

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
	profile      string
	oauth        oauthFlags
}

func (sf *sideFlags) register(cmd *cobra.Command, label string) {
	f := cmd.Flags()
	n := sf.name
	f.StringVar(&sf.addr, n, "", label+" server as HOST:PORT (default: the --"+n+"-profile's server, if it has one)")
	f.StringVar(&sf.profile, n+"-profile", "", "the kind of "+label+" server, whose defaults apply unless given: "+strings.Join(provider.Names(), ", ")+" (default generic)")
	f.StringVar(&sf.user, n+"-user", "", "mailbox user at the "+label+" server")
	f.StringVar(&sf.passwordFile, n+"-password-file", "", "file holding the "+label+" password (or env IMAPMIGRATE_"+strings.ToUpper(n)+"_PASSWORD); with --"+n+"-auth-user, the admin's password")
	f.StringVar(&sf.security, n+"-security", "", "tls, starttls or none (default tls on port 993, starttls elsewhere)")
	f.StringVar(&sf.authUser, n+"-auth-user", "", "log in as this admin and act for --"+n+"-user (SASL PLAIN authorization identity)")
	f.StringVar(&sf.caFile, n+"-ca-file", "", "PEM file of certificate authorities to trust for the "+label+" server (private CA, self-signed)")
	f.BoolVar(&sf.insecure, n+"-insecure-skip-verify", false, "do not verify the "+label+" server's certificate (unsafe)")
	f.StringVar(&sf.certSHA256, n+"-cert-sha256", "", "trust only the "+label+" server certificate with this SHA-256 fingerprint, as openssl x509 -fingerprint -sha256 prints it (self-signed; the safe alternative to --"+n+"-insecure-skip-verify)")
	sf.oauth.register(cmd, n, label)
}

// config turns the flags into a connection config, with the server and
// security of the side's profile where the flags do not say, and returns
// that profile. Errors are usage errors.
func (sf *sideFlags) config(label string) (imapconn.Config, provider.Profile, error) {
	var cfg imapconn.Config
	prof, err := provider.Lookup(sf.profile)
	if err != nil {
		return cfg, prof, fmt.Errorf("--%s-profile: %w", sf.name, err)
	}
	addr := sf.addr
	if addr == "" {
		addr = prof.Addr()
	}
	if addr == "" {
		return cfg, prof, fmt.Errorf("--%s is required (HOST:PORT)", sf.name)
	}
	if !strings.Contains(addr, ":") {
		return cfg, prof, fmt.Errorf("--%s %q: want HOST:PORT", sf.name, addr)
	}
	if sf.user == "" {
		return cfg, prof, fmt.Errorf("--%s-user is required", sf.name)
	}
	sec, err := imapconn.ParseSecurity(sf.security)
	if err != nil {
		return cfg, prof, fmt.Errorf("--%s-security: %w", sf.name, err)
	}
	if sec == "" && sf.addr == "" {
		sec = prof.Security
	}
	if sf.authUser != "" {
		// The command line logs an admin in with SASL PLAIN and an
		// authorization identity; other providers' admin logins are a
		// user name of their own, given as --X-user.
		switch {
		case prof.AdminFormat == provider.AdminExchange:
			return cfg, prof, fmt.Errorf("--%s-auth-user: an Exchange admin logs in as DOMAIN/ADMIN/USER: give that as --%s-user, with the admin's password", sf.name, sf.name)
		case prof.AdminFormat == "" && prof.Name != "generic":
			return cfg, prof, fmt.Errorf("--%s-auth-user: %s offers no admin login over IMAP; give each user's own login", sf.name, prof.Name)
		}
	}
	if sf.oauth.provider != "" && (sf.passwordFile != "" || sf.authUser != "") {
		return cfg, prof, fmt.Errorf("--%s-oauth logs in with a token: it excludes --%s-password-file and --%s-auth-user", sf.name, sf.name, sf.name)
	}
	tokens, err := sf.oauth.source(sf.name, sf.user)
	if err != nil {
		return cfg, prof, err
	}
	var pw string
	if tokens == nil {
		if pw, err = sf.password(); err != nil {
			return cfg, prof, err
		}
	}
	if sf.caFile != "" {
		if _, err := os.Stat(sf.caFile); err != nil {
			return cfg, prof, fmt.Errorf("--%s-ca-file: %w", sf.name, err)
		}
	}
	if sf.certSHA256 != "" {
		if _, err := imapconn.ParsePin(sf.certSHA256); err != nil {
			return cfg, prof, fmt.Errorf("--%s-cert-sha256: %w", sf.name, err)
		}
		switch {
		case sf.insecure || sf.caFile != "":
			return cfg, prof, fmt.Errorf("--%s-cert-sha256 excludes --%s-insecure-skip-verify and --%s-ca-file", sf.name, sf.name, sf.name)
		case sec == imapconn.SecurityNone:
			return cfg, prof, fmt.Errorf("--%s-cert-sha256 needs --%s-security tls or starttls", sf.name, sf.name)
		}
	}
	return imapconn.Config{
		Addr: addr, Security: sec, User: sf.user, Password: pw, AuthUser: sf.authUser,
		CAFile: sf.caFile, InsecureSkipVerify: sf.insecure, PinSHA256: sf.certSHA256, Side: label,
		TokenSource: tokens,
	}, prof, nil
}

// oauthFlags are one side's OAuth 2.0 login (internal/oauth). Secrets come
// from files or the environment, never from a flag's value, which anyone
// on the machine can read in the process list.
type oauthFlags struct {
	provider, tenant, clientID, tokenURL        string
	clientSecretFile, certFile, keyFile, rtFile string
}

func (of *oauthFlags) register(cmd *cobra.Command, n, label string) {
	f := cmd.Flags()
	env := "IMAPMIGRATE_" + strings.ToUpper(n) + "_OAUTH_"
	f.StringVar(&of.provider, n+"-oauth", "", "log in to the "+label+" server with an OAuth 2.0 token (XOAUTH2 or OAUTHBEARER) instead of a password: microsoft (Office 365 app-only, client credentials), google (service account with domain-wide delegation) or refresh (a refresh token)")
	f.StringVar(&of.tenant, n+"-oauth-tenant", "", "Microsoft tenant (directory) ID or domain")
	f.StringVar(&of.clientID, n+"-oauth-client-id", "", "application (client) ID, for microsoft and refresh")
	f.StringVar(&of.clientSecretFile, n+"-oauth-client-secret-file", "", "file holding the client secret (or env "+env+"CLIENT_SECRET)")
	f.StringVar(&of.certFile, n+"-oauth-cert-file", "", "microsoft: PEM certificate registered with the application, used instead of a client secret with --"+n+"-oauth-key-file")
	f.StringVar(&of.keyFile, n+"-oauth-key-file", "", "microsoft: the certificate's PEM private key; google: the service account's JSON key file")
	f.StringVar(&of.tokenURL, n+"-oauth-token-url", "", "token endpoint (default: Microsoft's global cloud for the tenant, the key file's for google, Google's for refresh)")
	f.StringVar(&of.rtFile, n+"-oauth-refresh-token-file", "", "file holding the mailbox's refresh token (or env "+env+"REFRESH_TOKEN)")
}

// source builds the token source of user, the side's mailbox; nil without
// --X-oauth. Errors are usage errors.
func (of *oauthFlags) source(n, user string) (oauth.TokenSource, error) {
	env := "IMAPMIGRATE_" + strings.ToUpper(n) + "_OAUTH_"
	if of.provider == "" {
		for flag, v := range map[string]string{"tenant": of.tenant, "client-id": of.clientID, "client-secret-file": of.clientSecretFile,
			"cert-file": of.certFile, "key-file": of.keyFile, "token-url": of.tokenURL, "refresh-token-file": of.rtFile} {
			if v != "" {
				return nil, fmt.Errorf("--%s-oauth-%s needs --%s-oauth", n, flag, n)
			}
		}
		return nil, nil
	}
	p, err := oauth.ParseProvider(of.provider)
	if err != nil {
		return nil, fmt.Errorf("--%s-oauth: %w", n, err)
	}
	cfg := oauth.Config{Provider: p, Tenant: of.tenant, ClientID: of.clientID, TokenURL: of.tokenURL}
	var sec oauth.Secrets
	// secretOf reads a file flag, else the environment; one trailing line
	// end is the file's, as with passwords.
	secretOf := func(flag, path, envName string, required bool) (secret.Secret, error) {
		if path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("--%s-oauth-%s: %w", n, flag, err)
			}
			return secret.Secret(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")), nil
		}
		if v, ok := os.LookupEnv(envName); ok {
			return secret.Secret(v), nil
		}
		if required {
			return "", fmt.Errorf("--%s-oauth %s: give --%s-oauth-%s or set %s", n, p, n, flag, envName)
		}
		return "", nil
	}
	readKey := func() (secret.Secret, error) {
		if of.keyFile == "" {
			return "", fmt.Errorf("--%s-oauth %s needs --%s-oauth-key-file", n, p, n)
		}
		b, err := os.ReadFile(of.keyFile)
		if err != nil {
			return "", fmt.Errorf("--%s-oauth-key-file: %w", n, err)
		}
		return secret.Secret(b), nil
	}
	switch p {
	case oauth.Microsoft:
		if of.certFile == "" {
			sec.ClientSecret, err = secretOf("client-secret-file", of.clientSecretFile, env+"CLIENT_SECRET", true)
			break
		}
		cert, rerr := os.ReadFile(of.certFile)
		if rerr != nil {
			return nil, fmt.Errorf("--%s-oauth-cert-file: %w", n, rerr)
		}
		cfg.Certificate = string(cert)
		sec.PrivateKey, err = readKey()
	case oauth.Google:
		sec.ServiceAccountKey, err = readKey()
	case oauth.Refresh:
		var rt secret.Secret
		if rt, err = secretOf("refresh-token-file", of.rtFile, env+"REFRESH_TOKEN", true); err == nil {
			sec.RefreshTokens = map[string]secret.Secret{user: rt}
			sec.ClientSecret, err = secretOf("client-secret-file", of.clientSecretFile, env+"CLIENT_SECRET", false)
		}
	}
	if err != nil {
		return nil, err
	}
	src, err := oauth.New(cfg, sec, oauth.Options{})
	if err != nil {
		return nil, fmt.Errorf("--%s-oauth: %w", n, err)
	}
	return src, nil
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

// mailboxFlags are the flags that sync and verify share: the two servers,
// the policy that says what belongs at the destination, and the trace.
type mailboxFlags struct {
	src, dst sideFlags
	include  []string
	exclude  []string
	maxSize  string
	maxItems int
	trace    bool

	cmd *cobra.Command // to tell a flag given from its default
	// partial lets a side be left out (probe looks at one server or two):
	// options then gives it a zero Config, with its profile.
	partial bool
	// srcProfile and dstProfile are the profiles options found.
	srcProfile, dstProfile provider.Profile
}

func (mf *mailboxFlags) register(cmd *cobra.Command) {
	mf.cmd = cmd
	mf.src.name, mf.dst.name = "source", "dest"
	mf.src.register(cmd, "source")
	mf.dst.register(cmd, "destination")
	f := cmd.Flags()
	f.StringArrayVar(&mf.include, "include-folder", nil, "copy only folders matching this pattern (repeatable; * matches anything, % anything but /; names as the user sees them, e.g. 'Archive/*')")
	f.StringArrayVar(&mf.exclude, "exclude-folder", nil, "do not copy folders matching this pattern (repeatable)")
	f.StringVar(&mf.maxSize, "max-message-size", "35MiB", "skip (and report) larger messages: bytes or with a unit (KiB, MiB, GiB, KB, MB, GB); 0 = no limit (default: the --dest-profile's limit, 35MiB for most)")
	f.IntVar(&mf.maxItems, "max-items", mailsync.DefaultMaxItems, "copy at most the newest N messages of the mailbox; 0 = no cap")
	f.BoolVarP(&mf.trace, "trace", "v", false, "print the IMAP protocol transcript to stderr (passwords redacted)")
}

// options turns the flags into the engine's options (servers, folder
// rules, limits, logger), warning on stderr about unverified certificates.
// The two profiles fill what the flags leave out: the servers, the
// destination's message size limit, and the folder rules each server
// imposes (package provider). Errors are usage errors.
func (mf *mailboxFlags) options(stderr io.Writer) (mailsync.Options, error) {
	var opts mailsync.Options
	srcCfg, srcProf, err := mf.sideConfig(&mf.src, "source")
	if err != nil {
		return opts, err
	}
	dstCfg, dstProf, err := mf.sideConfig(&mf.dst, "destination")
	if err != nil {
		return opts, err
	}
	mf.srcProfile, mf.dstProfile = srcProf, dstProf
	maxSize, err := size.Parse(mf.maxSize)
	if err != nil {
		return opts, fmt.Errorf("--max-message-size: %w", err)
	}
	if !mf.cmd.Flags().Changed("max-message-size") {
		maxSize = dstProf.MaxMessageSize
	}
	if mf.maxItems < 0 {
		return opts, errors.New("--max-items must be 0 or more")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if mf.trace {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		srcCfg.Trace, srcCfg.TraceLabel = stderr, "source"
		dstCfg.Trace, dstCfg.TraceLabel = stderr, "dest"
	}
	for _, c := range []imapconn.Config{srcCfg, dstCfg} {
		if c.InsecureSkipVerify {
			fmt.Fprintf(stderr, "warning: the %s server's certificate is not verified: anyone on the path can read the password and the mail\n", c.Side)
		}
	}
	return mailsync.Options{
		Source: srcCfg, Dest: dstCfg,
		Folders:        provider.FolderRules(srcProf, dstProf, folder.Rules{Include: mf.include, Exclude: mf.exclude}),
		MaxMessageSize: maxSize, MaxItems: mf.maxItems, Logger: log,
	}, nil
}

// sideConfig is sf.config, except that with mf.partial a side whose server
// and user are both left out is not an error: its Config is zero.
func (mf *mailboxFlags) sideConfig(sf *sideFlags, label string) (imapconn.Config, provider.Profile, error) {
	if mf.partial && sf.addr == "" && sf.user == "" {
		prof, err := provider.Lookup(sf.profile)
		if err != nil {
			return imapconn.Config{}, prof, fmt.Errorf("--%s-profile: %w", sf.name, err)
		}
		return imapconn.Config{}, prof, nil
	}
	return sf.config(label)
}

func newSyncCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		mf        mailboxFlags
		statePath string
		conns     int
		dryRun    bool
		report    string
		cpuProf   string
		memProf   string
		maxBytes  string
		disarm    bool
		gmailLbls string
	)
	cmd := &cobra.Command{
		Use:     "sync",
		Short:   "Copy one mailbox between two IMAP servers",
		Long:    syncHelp,
		Example: syncExample,
		Args:    cobra.NoArgs,
	}
	mf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&statePath, "state", "", "state database (SQLite) (default: one per mailbox pair under $XDG_STATE_HOME/imapmigrate)")
	f.IntVar(&conns, "connections", mailsync.DefaultConnections, "parallel connections per side (default: the smaller of the two profiles' figures, 4 for most)")
	f.BoolVar(&dryRun, "dry-run", false, "print the plan (folder mapping, counts, sizes) and change nothing")
	f.StringVar(&report, "report", "", "write the report as JSON to this file")
	f.StringVar(&maxBytes, "max-bytes", "", "copy at most this many bytes in this run, newest first, and leave the rest for the next run: bytes or with a unit (KiB, MiB, GiB, KB, MB, GB); 0 = no cap (default: the profiles' daily budget, the lower of the source's download and the destination's upload, e.g. 500MB into Gmail)")
	f.BoolVar(&disarm, "disarm-read-receipts", false, "add the keyword $MDNSent to copied messages that ask for a read receipt (Disposition-Notification-To), so that the destination's mail programs do not offer to send one again (Office 365); the bytes are unchanged")
	f.StringVar(&gmailLbls, "gmail-labels", mailsync.GmailLabelsFolders, "Gmail source: \"folders\" copies each label as a folder; \"keywords\" copies only All Mail, each message once (in INBOX, Drafts, Sent or Archive), its labels as keywords")
	f.StringVar(&cpuProf, "cpuprofile", "", "write a CPU profile (pprof) to this file")
	f.StringVar(&memProf, "memprofile", "", "write a heap profile (pprof) to this file at the end of the copy")
	f.MarkHidden("cpuprofile")
	f.MarkHidden("memprofile")

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if os.Getenv("GOMAXPROCS") == "" {
			// One mailbox is I/O-bound: its goroutines mostly hand messages
			// to one another. On one P those hand-offs stay on one thread;
			// with more, each wakes another thread, and idle ones spin. On
			// the benchmark (BENCHMARKS.md) this cut imapmigrate's CPU per
			// message by a quarter and left more CPU to the servers.
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		}
		opts, err := mf.options(stderr)
		if err != nil {
			return exitf(ExitUsage, "%w", err)
		}
		if conns < 1 {
			return exitf(ExitUsage, "--connections must be 1 or more")
		}
		if !cmd.Flags().Changed("connections") {
			conns = provider.Connections(mf.srcProfile, mf.dstProfile)
		}
		if opts.MaxBytes, err = runBudget(maxBytes, mf.srcProfile, mf.dstProfile); err != nil {
			return exitf(ExitUsage, "--max-bytes: %w", err)
		}
		opts.DisarmReadReceipts = disarm
		if gmailLbls != mailsync.GmailLabelsFolders && gmailLbls != mailsync.GmailLabelsKeywords {
			return exitf(ExitUsage, "--gmail-labels: %q: want folders or keywords", gmailLbls)
		}
		opts.GmailLabels = gmailLbls
		if statePath == "" {
			if statePath, err = defaultStatePath(opts.Source, opts.Dest); err != nil {
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
		opts.State, opts.Connections, opts.DryRun, opts.Progress = db, conns, dryRun, prog.update
		rep, err := mailsync.Sync(cmd.Context(), opts)
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

// runBudget is the cap on one run's bytes: --max-bytes when given, else
// the lower of the source profile's daily download budget and the
// destination profile's daily upload budget (0 when neither has one). A
// one-shot run does not know what else the account moved today, so the
// whole daily budget is its cap; a run the next day goes on.
func runBudget(flag string, src, dst provider.Profile) (int64, error) {
	if flag != "" {
		return size.Parse(flag)
	}
	budget := src.DailyDownload
	if dst.DailyUpload > 0 && (budget == 0 || dst.DailyUpload < budget) {
		budget = dst.DailyUpload
	}
	return budget, nil
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
