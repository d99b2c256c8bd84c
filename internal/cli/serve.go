package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/config"
	"github.com/imapmigrate/imapmigrate/internal/secret"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/store"
	"github.com/imapmigrate/imapmigrate/internal/web"
)

// stopGrace is how long running mailbox jobs get to finish their current
// step when the service stops; the rest resume at the next start.
const stopGrace = 20 * time.Second

func newServeCmd(stdout, stderr io.Writer) *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the migration service: web console, REST API, scheduler and workers",
		Long: `Run the migration service in one process: the web console at /
(sign in with the password set by 'imapmigrate admin set-password', or the
admin token), the REST API under /api/v1/, the scheduler (queued users, incremental syncs every 24 hours, complete-after
times, removals) and the workers that migrate mailboxes.

By default everything lives in the data directory: the SQLite database, the
key that encrypts stored passwords (secret.key) and the admin token
(admin.token), created at first start. With --database postgres://... the
queue and the tables are in PostgreSQL, and 'imapmigrate worker' processes on
other machines share the work (--workers 0 leaves all of it to them).

Settings come from --config FILE (TOML), then IMAPMIGRATE_* variables, then
flags. GET /healthz answers without a token; GET /metrics serves Prometheus
metrics (no e-mail addresses in them).`,
		Args: cobra.NoArgs,
	}
	getenv := config.Flags(cmd.Flags(), os.Getenv)
	cmd.Flags().StringVar(&configFile, "config", "", "TOML settings file (env IMAPMIGRATE_CONFIG)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runService(cmd.Context(), stderr, configFile, getenv, true)
	}
	return cmd
}

func newWorkerCmd(stdout, stderr io.Writer) *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker that migrates mailboxes queued in PostgreSQL",
		Long: `Run a worker: it takes mailbox jobs from the queue in PostgreSQL and runs
them, under the endpoints' caps, which hold across all workers. Start as many
as you like on several machines, beside one 'imapmigrate serve' with the same
--database and the same secret key (copy secret.key, or set
IMAPMIGRATE_SECRET_KEY). A worker killed mid-mailbox loses nothing: another
takes the mailbox over once its lease expires.

With the embedded SQLite database, 'serve' does the work itself.`,
		Args: cobra.NoArgs,
	}
	getenv := config.Flags(cmd.Flags(), os.Getenv)
	cmd.Flags().StringVar(&configFile, "config", "", "TOML settings file (env IMAPMIGRATE_CONFIG)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runService(cmd.Context(), stderr, configFile, getenv, false)
	}
	return cmd
}

// runService runs `serve` (API and scheduler) or `worker` until ctx ends.
func runService(ctx context.Context, stderr io.Writer, configFile string, getenv func(string) string, serve bool) error {
	if configFile == "" {
		configFile = os.Getenv("IMAPMIGRATE_CONFIG")
	}
	cfg, err := config.Load(configFile, getenv)
	if err != nil {
		return exitf(ExitUsage, "%v", err)
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return exitf(ExitUsage, "settings: %v", errors.Join(errs...))
	}
	if !serve && !cfg.IsPostgres() {
		return exitf(ExitUsage, "a worker shares the queue through PostgreSQL: give --database postgres://...; with the embedded SQLite database, 'serve' does the work itself")
	}
	log := newLogger(stderr, cfg)
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return exitf(ExitInternal, "create data directory: %v", err)
	}
	// One serve per embedded database: it lets a restart take over at
	// once the mailboxes that a killed serve left mid-pass.
	if !cfg.IsPostgres() {
		unlock, err := lockDataDir(cfg.Data)
		if err != nil {
			return exitf(ExitUsage, "%v", err)
		}
		defer unlock()
	}
	key, err := secret.LoadKey(cfg.SecretKeyFile, os.Getenv)
	if err != nil {
		return exitf(ExitUsage, "%v", err)
	}
	dsn := cfg.Database
	if !cfg.IsPostgres() {
		dsn = cfg.DatabasePath()
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return exitf(ExitInternal, "%v", err)
	}
	defer db.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	svc, err := service.New(ctx, service.Config{
		DB: db, Key: key, Logger: log, Workers: cfg.Workers, Connections: cfg.Connections,
		JobSlice: cfg.JobSlice.Duration, LeaseTTL: cfg.LeaseTTL.Duration, Poll: cfg.Poll.Duration,
		BlockedRetry: cfg.BlockedRetry.Duration, StaleAfter: cfg.StaleAfter.Duration, Scheduler: serve, NoWork: cfg.Workers == 0, Metrics: service.NewMetrics(reg, db.SQL()),
		SoleProcess: !cfg.IsPostgres(), Trace: cfg.LogLevel == "trace",
		Mail:        service.Mail{SMTP: cfg.SMTP, ReportCSV: api.WriteReportCSV},
		DNSResolver: cfg.DNSResolver, DNSCheckInterval: cfg.DNSCheckInterval.Duration,
	})
	if err != nil {
		return exitf(ExitInternal, "%v", err)
	}
	if err := svc.Start(ctx); err != nil {
		return exitf(ExitInternal, "%v", err)
	}
	defer func() {
		if err := svc.Stop(stopGrace); err != nil {
			log.Warn("Workers did not stop cleanly; their jobs resume at the next start.", "err", err)
		}
	}()
	where := cfg.Redacted().Database
	if where == "" {
		where = cfg.DatabasePath()
	}
	if !serve {
		log.Info("Worker started.", "database", where, "workers", cfg.Workers)
		<-ctx.Done()
		log.Info("Worker stopping.")
		return nil
	}

	token, created, err := loadOrCreateToken(cfg.TokenFile)
	if err != nil {
		return exitf(ExitUsage, "%v", err)
	}
	if created {
		log.Info("Created the admin token; the CLI reads it from there, or from IMAPMIGRATE_TOKEN.", "file", cfg.TokenFile)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", api.New(svc, token, log))
	console, err := web.New(web.Config{Service: svc, Token: token,
		PasswordFile: filepath.Join(cfg.Data, web.PasswordFileName), Logger: log})
	if err != nil {
		return exitf(ExitInternal, "%v", err)
	}
	mux.Handle("/", console)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := db.SQL().PingContext(r.Context()); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return exitf(ExitUsage, "listen on %s: %v", cfg.Listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("Service started.", "listen", ln.Addr().String(), "database", where, "data", cfg.Data, "workers", cfg.Workers)
	select {
	case <-ctx.Done():
	case err := <-errc:
		return exitf(ExitInternal, "serve HTTP: %v", err)
	}
	log.Info("Service stopping.")
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shut)
	return nil
}

// lockDataDir takes an exclusive lock on the data directory's lock file,
// held until unlock (or the process's end, whatever way it ends).
func lockDataDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, "serve.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another imapmigrate serve uses the data directory %s (%s is locked)", dir, path)
	}
	return func() { f.Close() }, nil
}

// newLogger logs JSON for a service (for log collectors) unless told
// otherwise or writing to a terminal.
func newLogger(w io.Writer, cfg config.Config) *slog.Logger {
	level := slog.LevelInfo
	if cfg.LogLevel == "trace" {
		level = service.LevelTrace
	} else {
		level.UnmarshalText([]byte(cfg.LogLevel))
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		// slog would call the transcript's level "DEBUG-4".
		if a.Key == slog.LevelKey && a.Value.Any() == service.LevelTrace {
			a.Value = slog.StringValue("TRACE")
		}
		return a
	}}
	format := cfg.LogFormat
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// loadOrCreateToken reads the admin token from IMAPMIGRATE_TOKEN or the
// token file, creating the file (32 random bytes, hex, mode 0600) at first
// start.
func loadOrCreateToken(path string) (token string, created bool, err error) {
	if t := os.Getenv("IMAPMIGRATE_TOKEN"); t != "" {
		return t, false, nil
	}
	b, err := os.ReadFile(path)
	if err == nil {
		token = strings.TrimSpace(string(b))
		if len(token) < 16 {
			return "", false, fmt.Errorf("admin token in %s: too short (at least 16 characters)", path)
		}
		return token, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("read admin token: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token = hex.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("create admin token: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("create admin token: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(token + "\n"); err != nil {
		return "", false, fmt.Errorf("create admin token: %w", err)
	}
	return token, true, nil
}
