// Package service is the migration service: endpoints, batches of users
// from a CSV file, the batch lifecycle of Exchange Online's IMAP migration
// (Created, Syncing, Synced, Completing, Completed, Stopped, ...), and the
// workers that migrate each user's mailbox with the engine (package
// mailsync), the same code as `imapmigrate sync`.
//
// How the work is spread:
//   - Every mailbox pass (initial, incremental, final) is a River job, one
//     per user at a time (a unique job). River runs on the same database as
//     our tables: SQLite by default, PostgreSQL for several workers.
//   - A job works for at most Config.JobSlice, then snoozes itself and the
//     next slice resumes: River has no heartbeat, so a job that runs longer
//     than RescueStuckJobsAfter would be run twice. The engine's state
//     (copied messages, recorded after each destination OK) makes a slice
//     cut anywhere lose and duplicate nothing.
//   - A lease row per user, renewed while the job runs, keeps a mailbox to
//     one worker even if River runs a job twice; counting the live leases
//     per endpoint keeps MaxConcurrentMigrations and
//     MaxConcurrentIncrementalSyncs across all workers (River's worker
//     limits are per process). A job that finds no free slot snoozes.
//   - The scheduler (in `imapmigrate serve` only) queues users that need a
//     pass, runs incremental syncs when due, completes batches whose
//     complete-after time has come, moves batch states along, and removes
//     batches.
package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/secret"
	"github.com/imapmigrate/imapmigrate/internal/store"
)

// Defaults of Config.
const (
	DefaultWorkers      = 10
	DefaultJobSlice     = 5 * time.Minute
	DefaultLeaseTTL     = 30 * time.Second
	DefaultPoll         = 2 * time.Second
	DefaultInterval     = 24 * time.Hour
	DefaultBlockedRetry = time.Hour
	DefaultStorageRetry = 15 * time.Second
	DefaultStaleAfter   = 14 * 24 * time.Hour
	// DefaultRecoverPasses is how many throttle-free passes through an
	// endpoint win one connection back (see adjustConnections).
	DefaultRecoverPasses = 5
	defaultMaxAttempts   = 5
)

// Config configures a Service.
type Config struct {
	DB  *store.DB
	Key *secret.Key
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Workers is how many mailboxes this process migrates at once.
	// Defaults to DefaultWorkers.
	Workers int
	// Connections per side per mailbox; 0 means the engine's default
	// (mailsync.DefaultConnections). It is the most a mailbox opens: the
	// count towards a server that throttles is lowered from it, and won
	// back up to it (see adjustConnections).
	Connections int
	// RecoverPasses is how many passes through an endpoint without a
	// throttling answer win one of its lowered connections back. Defaults
	// to DefaultRecoverPasses.
	RecoverPasses int
	// JobSlice is the longest one job works on a mailbox before handing
	// over to the next. Defaults to 5 minutes.
	JobSlice time.Duration
	// LeaseTTL is how long a dead worker's claim on a mailbox (and an
	// endpoint slot) outlives it. Defaults to 30 seconds.
	LeaseTTL time.Duration
	// Poll is the scheduler's period. Defaults to 2 seconds.
	Poll time.Duration
	// ThrottleBackoff is the first wait after a server's throttling
	// answer ([LIMIT], [UNAVAILABLE], [INUSE]); it doubles with each one
	// in a row, up to 15 minutes. Defaults to 30 seconds.
	ThrottleBackoff time.Duration
	// BlockedRetry is how long a Blocked user (destination over quota)
	// waits before it is tried again by itself: the admin has to raise
	// the quota, so trying sooner only costs the server a login. Defaults
	// to an hour.
	BlockedRetry time.Duration
	// StorageRetry is how long a mailbox waits after the database refused
	// a write for a reason of its surroundings (see store.Fault: SQLite
	// locked by another process or on a full disk, PostgreSQL out of
	// reach) before its pass is tried again. Defaults to 15 seconds.
	StorageRetry time.Duration
	// StaleAfter is how long a Synced batch may go without an admin
	// action before it is flagged as stale (Batch.Stale): incremental
	// syncs forever are usually a batch someone forgot to complete. It is
	// only a flag; the batch goes on syncing. Defaults to 14 days.
	StaleAfter time.Duration
	// Trace logs the IMAP transcript of every connection the service
	// opens, at LevelTrace: passwords and SASL payloads replaced by ***,
	// message bodies by their size (imapconn's redacting trace, as
	// `imapmigrate sync --trace` prints it).
	Trace bool
	// Scheduler runs the scheduler in this process: true for `serve`,
	// false for `worker`.
	Scheduler bool
	// NoWork makes a process that only answers the API and schedules,
	// leaving the mailboxes to `imapmigrate worker` processes.
	NoWork bool
	// Metrics receives figures; nil means none.
	Metrics *Metrics
	// SoleProcess says that no other process uses this SQLite database
	// (`serve` holds a lock on its data directory): mailbox jobs that the
	// queue says are running were left by a process that died, and are
	// made available again at once instead of after River's rescue time.
	SoleProcess bool
	// Mail is the SMTP server for batch reports and welcome letters (see
	// notify.go); without a host, no mail is sent.
	Mail Mail
	// DNSResolver is the DNS server (HOST:PORT) that BatchDNS and the
	// cut-over checks ask; empty means the first nameserver of
	// /etc/resolv.conf. Ask the domains' own servers for their TTLs as
	// configured rather than what is left of them in a cache.
	DNSResolver string
	// DNSCheckInterval is how often the scheduler checks the domains of a
	// batch waiting to complete after its MX switch. Defaults to
	// DefaultDNSCheckInterval.
	DNSCheckInterval time.Duration
}

// Service is the running migration service. Its methods are what the REST
// API calls.
type Service struct {
	cfg    Config
	db     *sql.DB
	pg     bool
	log    *slog.Logger
	queue  queue
	holder string  // names this process in leases
	mail   *mailer // nil without SMTP settings

	poke chan struct{} // wakes the scheduler after an admin action
	// cutoverBusy is set while a round of MX checks runs (see cutovers).
	cutoverBusy atomic.Bool
	stop        context.CancelFunc
	done        sync.WaitGroup

	// tokens are the OAuth token sources of this process's logins (see
	// oauth.go).
	tokens tokenCache
}

// queue is what the service uses of a River client, whichever its driver.
type queue interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// mailboxArgs is the River job that runs passes over one user's mailbox
// until the user needs nothing more.
type mailboxArgs struct {
	UserID int64 `json:"user_id"`
}

func (mailboxArgs) Kind() string { return "mailbox" }

// oneLiveJob makes a job unique by its arguments among the jobs that are
// still to run or running: one per user (or mail row), while a finished
// one does not stop the next.
var oneLiveJob = river.UniqueOpts{
	ByArgs: true,
	ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
		rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled},
}

// InsertOpts: one live job per user, in the mailbox queue.
func (mailboxArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       "mailbox",
		MaxAttempts: defaultMaxAttempts,
		UniqueOpts:  oneLiveJob,
	}
}

type mailboxWorker struct {
	river.WorkerDefaults[mailboxArgs]
	s *Service
}

func (w *mailboxWorker) Work(ctx context.Context, job *river.Job[mailboxArgs]) error {
	err := w.s.work(ctx, job.Args.UserID, job.Attempt >= job.MaxAttempts)
	if faulted(err) {
		return w.s.storageFault(job.Args.UserID, "", err)
	}
	return err
}

// LevelTrace is the log level of the IMAP transcript (Config.Trace), below
// slog.LevelDebug.
const LevelTrace = slog.LevelDebug - 4

// traced sends the transcript of cfg's connections to log at LevelTrace,
// when Config.Trace is set. imapconn writes it already redacted.
func (s *Service) traced(cfg *imapconn.Config, log *slog.Logger, side string) {
	if s.cfg.Trace {
		cfg.Trace = &traceLog{log: log, side: side}
	}
}

// traceLog makes a log record of each line of an IMAP transcript. All the
// connections of one side of a pass write to the same traceLog.
type traceLog struct {
	log  *slog.Logger
	side string

	mu   sync.Mutex
	rest []byte // a line not ended yet
}

func (t *traceLog) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rest = append(t.rest, p...)
	for {
		i := bytes.IndexByte(t.rest, '\n')
		if i < 0 {
			return len(p), nil
		}
		t.log.Log(context.Background(), LevelTrace, "IMAP", "side", t.side, "line", string(t.rest[:i]))
		t.rest = t.rest[i+1:]
	}
}

// faulted reports whether err is a database fault that storageFault
// handles.
func faulted(err error) bool { return store.FaultOf(err) != store.NoFault }

// storageFault pauses a user's work after the database refused a
// statement for a reason of its surroundings: SQLite locked by another
// process past its busy timeout, SQLite on a full disk, PostgreSQL out of
// reach. These pass by themselves or by the admin's hand, and failing the
// user (or using up a River attempt, five of which fail it) would punish
// the mailbox for the disk. So the job snoozes for StorageRetry and the
// pass starts again then: the engine records a message only after the
// destination's OK and recognises at the next pass what it copied but
// could not record, so nothing is skipped or copied twice.
//
// The workers pause, job by job, rather than the process stopping: the
// API, the console and the metrics stay up to show what is wrong, and the
// work resumes without a restart once the disk has room or the lock is
// gone. The message goes to the log at error level, and to the user's
// last error when the database takes that write (a full SQLite file often
// still takes an update in place; a locked one does not).
//
// On PostgreSQL, pgx's pool replaces a connection that was lost on its
// next use, and River's producer, notifier and elector retry on their
// own; a statement that was in flight when the connection went fails and
// lands here.
//
// A pass that met the fault calls it at once with the user's address
// (email); elsewhere the fault is handled once the job returns, and the
// address is read then if the database answers.
func (s *Service) storageFault(userID int64, email string, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	f := store.FaultOf(err)
	who := email
	if who == "" && s.db.QueryRowContext(ctx, `SELECT email FROM batch_users WHERE id = $1`, userID).Scan(&who) != nil {
		who = fmt.Sprintf("user #%d", userID)
	}
	wait := s.cfg.StorageRetry + mrand.N(s.cfg.StorageRetry/5+1)
	s.log.Error("The database refused a write; this mailbox's pass stopped and resumes by itself.",
		"user", who, "advice", f.Advice(), "err", err, "retry_in", wait.Round(time.Second).String())
	msg := fmt.Sprintf("paused, retrying at %s: %s (%v)", time.Now().Add(wait).UTC().Format("15:04:05 MST"), f.Advice(), err)
	s.setUser(ctx, userID, "last_error = $1", msg)
	return river.JobSnooze(wait)
}

// New prepares the service: it brings River's tables up to date and
// builds the River client. Start runs it.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Key == nil {
		return nil, errors.New("service: no database or no secret key")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.JobSlice <= 0 {
		cfg.JobSlice = DefaultJobSlice
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.ThrottleBackoff <= 0 {
		cfg.ThrottleBackoff = 30 * time.Second
	}
	if cfg.Connections <= 0 {
		cfg.Connections = mailsync.DefaultConnections
	}
	if cfg.RecoverPasses <= 0 {
		cfg.RecoverPasses = DefaultRecoverPasses
	}
	if cfg.BlockedRetry <= 0 {
		cfg.BlockedRetry = DefaultBlockedRetry
	}
	if cfg.StorageRetry <= 0 {
		cfg.StorageRetry = DefaultStorageRetry
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.DNSCheckInterval <= 0 {
		cfg.DNSCheckInterval = DefaultDNSCheckInterval
	}
	cfg.Metrics.configure(cfg.Connections)
	host, _ := os.Hostname()
	var rnd [4]byte
	rand.Read(rnd[:])
	s := &Service{
		cfg:    cfg,
		db:     cfg.DB.SQL(),
		pg:     cfg.DB.Dialect() == store.Postgres,
		log:    cfg.Logger,
		holder: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(rnd[:])),
		poke:   make(chan struct{}, 1),
	}
	var err error
	if s.mail, err = newMailer(cfg.Mail); err != nil {
		return nil, err
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, &mailboxWorker{s: s})
	river.AddWorker(workers, &verifyWorker{s: s})
	rc := &river.Config{
		Logger:      cfg.Logger.With("component", "river"),
		MaxAttempts: defaultMaxAttempts,
		// A job cuts its own work at JobSlice; these only catch a job that
		// does not stop, and a worker that died (its jobs stay "running"
		// until rescued).
		JobTimeout:           2 * cfg.JobSlice,
		RescueStuckJobsAfter: 3 * cfg.JobSlice,
		FetchPollInterval:    time.Second,
	}
	if !cfg.NoWork {
		// Verifications take a lease as passes do, so the endpoints' caps
		// bound both together.
		rc.Queues = map[string]river.QueueConfig{"mailbox": {MaxWorkers: cfg.Workers}, "verify": {MaxWorkers: cfg.Workers}}
		rc.Workers = workers
	}
	s.addMailWorkers(workers, rc)
	if s.pg {
		s.queue, err = newQueue(ctx, riverpgxv5.New(cfg.DB.Pool()), rc)
	} else {
		s.queue, err = newQueue(ctx, riversqlite.New(s.db), rc)
	}
	if err != nil {
		return nil, err
	}
	if cfg.SoleProcess && !s.pg {
		if err := s.recoverOrphans(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// recoverOrphans makes the mailbox and mail jobs of a process that died available
// again. River would rescue them only after RescueStuckJobsAfter (three
// job slices); with one process on the database nothing else can be
// running them. The update is River's own rescue, done early: the job
// table's state column is River's documented job state. The dead
// process's leases go too, for the same reason: they would hold its
// mailboxes for a lease TTL while nobody works on them.
func (s *Service) recoverOrphans(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM leases`); err != nil {
		return fmt.Errorf("release the leases of a stopped process: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running' AND kind IN ($1, $2, $3, $4)`,
		mailboxArgs{}.Kind(), notificationArgs{}.Kind(), welcomeArgs{}.Kind(), verifyArgs{}.Kind())
	if err != nil {
		return fmt.Errorf("recover jobs left running: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.log.Info("Resuming mailboxes that a stopped process left mid-pass.", "jobs", n)
	}
	return nil
}

func newQueue[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], rc *river.Config) (*river.Client[TTx], error) {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return nil, fmt.Errorf("prepare job queue tables: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("upgrade job queue tables: %w", err)
	}
	c, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("create job queue client: %w", err)
	}
	return c, nil
}

var _ queue = (*river.Client[pgx.Tx])(nil)
var _ queue = (*river.Client[*sql.Tx])(nil)

// Start starts the workers and, when configured, the scheduler. They run
// until Stop.
func (s *Service) Start(ctx context.Context) error {
	ctx, s.stop = context.WithCancel(context.WithoutCancel(ctx))
	if s.runsJobs() {
		if err := s.queue.Start(ctx); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
	}
	if s.cfg.Scheduler {
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			s.schedule(ctx)
		}()
	}
	return nil
}

// Stop stops the scheduler and the workers. Jobs still running are
// cancelled after grace and resume elsewhere or at the next start.
func (s *Service) Stop(grace time.Duration) error {
	if s.stop == nil {
		return nil
	}
	s.stop()
	s.done.Wait()
	if !s.runsJobs() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := s.queue.Stop(ctx); err == nil {
		return nil
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.queue.StopAndCancel(ctx)
}

// wake asks the scheduler to run now rather than at its next tick.
func (s *Service) wake() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

func now() int64 { return time.Now().UnixMilli() }

func fromMillis(ms sql.NullInt64) *time.Time {
	if !ms.Valid || ms.Int64 == 0 {
		return nil
	}
	t := time.UnixMilli(ms.Int64).UTC()
	return &t
}
