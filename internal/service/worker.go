package service

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/riverqueue/river"

	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/throttle"
)

// pass is the kind of sync a user needs.
type pass int

const (
	passNone        pass = iota
	passInitial          // Syncing → Synced
	passIncremental      // IncrementalSyncing → Synced
	passFinal            // Completing → Completed
)

// Why a job's context ends early.
var (
	errSliceOver = errors.New("job slice over")
	errStopped   = errors.New("stopped by the admin")
	errLeaseLost = errors.New("lease lost")
)

// next says what a user needs, given its batch's state. A user left
// Validating or Syncing by a worker that died needs its pass still; a
// Blocked user needs the pass it was blocked in once its retry is due.
func next(b *batchRow, u *userRow, at int64) pass {
	unfinished := u.Status == UserQueued || u.Status == UserValidating || u.Status == UserSyncing || u.Status == UserIncrementalSyncing
	due := u.NextSync.Valid && u.NextSync.Int64 <= at
	retry := u.Status == UserBlocked && due
	switch b.State {
	case BatchSyncing, BatchSynced, BatchSyncedWithErrors:
		switch {
		case (unfinished || retry) && !u.InitialDone:
			return passInitial
		case unfinished, retry, u.Status == UserSynced && due:
			return passIncremental
		}
	case BatchCompleting:
		if unfinished || retry || u.Status == UserCompleting {
			return passFinal
		}
	}
	return passNone
}

// mailboxKey names a user's migration in the engine's state.
func mailboxKey(userID int64) string { return fmt.Sprintf("batch_users/%d", userID) }

// work is one job slice on one user's mailbox: claim it, validate it the
// first time, run the engine, and record the outcome. It returns nil when
// the user needs nothing more for now, river.JobSnooze to come back (no
// free slot, or the slice is over), or an error for River to retry.
func (s *Service) work(ctx context.Context, userID int64, lastAttempt bool) error {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM batch_users WHERE id = $1`, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil // removed
	}
	if err != nil {
		return fmt.Errorf("read user %d: %w", userID, err)
	}
	b, err := s.batchByID(ctx, u.BatchID)
	if err != nil {
		return err
	}
	p := next(b, u, now())
	if p == passNone {
		return s.setUser(ctx, u.ID, "enqueued_at = NULL")
	}
	src, err := s.endpointByID(ctx, b.SourceID)
	if err != nil {
		return err
	}
	dst, err := s.endpointByID(ctx, b.DestID)
	if err != nil {
		return err
	}
	log := s.log.With("batch", b.Name, "user", u.Email)

	l, err := s.acquire(ctx, u.ID, src, dst, p != passInitial)
	if errors.Is(err, errNoSlot) {
		log.Debug("Waiting for a slot.", "reason", err)
		return river.JobSnooze(time.Duration(2000+rand.IntN(3000)) * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("claim mailbox of %s: %w", u.Email, err)
	}
	defer l.release()

	ctx, cancel, unwatch := s.watched(ctx, l, u.ID, b.ID)
	defer unwatch()
	slice := time.AfterFunc(s.cfg.JobSlice, func() { cancel(errSliceOver) })
	defer slice.Stop()

	srcCfg, dstCfg, err := s.logins(u, src, dst, log)
	if err != nil {
		return s.fail(ctx, u, b, err.Error())
	}

	// Preflight, once per user: both logins work and both servers speak
	// IMAP4rev1. Exchange's process wants the destination mailbox to exist
	// first; a failed destination login usually means it does not.
	if !u.Validated {
		if ok, err := s.setStatus(ctx, u.ID, "status = $1", UserValidating); err != nil || !ok {
			return err
		}
		msg, err := preflight(ctx, srcCfg, dstCfg)
		switch {
		case ctx.Err() != nil:
			return s.interrupted(ctx, u, log)
		case msg != "":
			log.Warn("User failed validation.", "err", msg)
			return s.fail(ctx, u, b, msg)
		case err != nil:
			var th throttles
			th.note("", err)
			s.adapt(ctx, src, dst, s.passConnections(src, dst), &th, false)
			return s.retry(ctx, u, b, err, lastAttempt, log)
		}
		if err := s.setUser(ctx, u.ID, "validated = 1"); err != nil {
			return err
		}
	}

	bud, err := s.passBudget(ctx, u, p, src, dst)
	if err != nil {
		return err
	}
	if bud.spentUp() {
		return s.waitForBudget(ctx, u, bud, log)
	}

	status := map[pass]string{passInitial: UserSyncing, passIncremental: UserIncrementalSyncing, passFinal: UserCompleting}[p]
	if ok, err := s.setStatus(ctx, u.ID, "status = $1, pass_to_copy = 0, pass_copied = 0, throttled_until = NULL", status); err != nil || !ok {
		return err
	}
	log.Info("Sync started.", "pass", status)
	prog := newProgress()
	stopFlush := s.flushProgress(ctx, u.ID, prog)
	started := time.Now()
	conns := s.passConnections(src, dst)
	var th throttles
	opts := s.syncOptions(b, u, src, dst, srcCfg, dstCfg, log)
	opts.Connections = conns
	opts.MaxBytes = bud.maxBytes()
	opts.Progress = prog.update
	opts.Refused = func(side string, err error) {
		if th.note(side, err) {
			s.cfg.Metrics.throttled()
		}
	}
	before, err := s.syncedCount(ctx, u.ID)
	if err != nil {
		return err
	}
	rep, err := mailsync.Sync(ctx, opts)
	if faulted(err) && ctx.Err() == nil {
		// Said at once: the pass's last figures, and the lease's release,
		// would wait for the database.
		return s.storageFault(u.ID, u.Email, err)
	}
	stopFlush()
	elapsed := time.Since(started)
	if after, cerr := s.syncedCount(context.WithoutCancel(ctx), u.ID); cerr == nil {
		s.cfg.Metrics.observe(rep, after-before, prog)
	}
	if err == nil && rep.OverQuota != nil {
		// The destination stopped the copy: its mailbox is full, or
		// Gmail said its bandwidth limit with [OVERQUOTA].
		err = rep.OverQuota
		th.note(sideDest, err)
	} else {
		th.note("", err)
	}
	var unavailable string
	if err == nil {
		if unavailable = appendUnavailable(rep); unavailable != "" {
			th.add(sideDest, unavailable)
		}
	}
	s.adapt(ctx, src, dst, conns, &th, err == nil || errors.Is(context.Cause(ctx), errSliceOver))
	s.recordPass(ctx, u, b, p, started, rep, prog, err)

	switch {
	case err == nil:
		streak, err := s.unavailableStreak(ctx, u.ID, unavailable != "")
		if err != nil {
			return err
		}
		if streak >= unavailablePasses {
			return s.block(ctx, u, b, rep, fmt.Sprintf("possibly over quota at the destination: the server of %s answered APPEND with %q in %d passes in a row, which is how Exchange says that a mailbox is full",
				dstCfg.User, unavailable, streak), log)
		}
		if err := s.finishPass(ctx, u, b, p, rep, elapsed, log); err != nil {
			return err
		}
		if rep.BudgetReached {
			if err := s.budgetReached(ctx, u, bud, rep, log); err != nil {
				return err
			}
		}
		return s.again(context.WithoutCancel(ctx), u.ID)
	case ctx.Err() != nil:
		return s.interrupted(ctx, u, log, prog)
	case throttled(err):
		// Before over quota: Gmail says its daily bandwidth limit with
		// [OVERQUOTA], and that passes by tomorrow.
		return s.retry(ctx, u, b, err, lastAttempt, log)
	case errors.Is(err, mailsync.ErrOverQuota):
		return s.block(ctx, u, b, rep, fmt.Sprintf("destination over quota: the mailbox %s is full, the server said %q%s",
			dstCfg.User, serverWords(err), notCopied(rep)), log)
	case authFailed(err):
		return s.fail(ctx, u, b, loginAdvice(err, srcCfg, dstCfg))
	}
	return s.retry(ctx, u, b, err, lastAttempt, log)
}

// logins opens the user's stored passwords and makes the logins at both
// endpoints, with their OAuth token sources, observed by the metrics and
// traced when asked. The error says, in words for the admin, which
// password or refresh token could not be read.
func (s *Service) logins(u *userRow, src, dst *endpoint, log *slog.Logger) (srcCfg, dstCfg imapconn.Config, err error) {
	srcPw, err := s.cfg.Key.Open(u.sourcePassword, userAD(u.Email, "source_password"))
	if err != nil {
		return srcCfg, dstCfg, fmt.Errorf("cannot read the stored source password (wrong secret key?): %v", err)
	}
	dstPw, err := s.cfg.Key.Open(u.destPassword, userAD(u.Email, "dest_password"))
	if err != nil {
		return srcCfg, dstCfg, fmt.Errorf("cannot read the stored destination password (wrong secret key?): %v", err)
	}
	srcCfg, dstCfg = src.login(u.SourceUser, srcPw), dst.login(u.DestUser, dstPw)
	if srcCfg.TokenSource, err = s.tokenSource(src, u, sideSource); err != nil {
		return srcCfg, dstCfg, err
	}
	if dstCfg.TokenSource, err = s.tokenSource(dst, u, sideDest); err != nil {
		return srcCfg, dstCfg, err
	}
	srcCfg.Observe, dstCfg.Observe = s.cfg.Metrics.observer("source"), s.cfg.Metrics.observer("destination")
	s.traced(&srcCfg, log, "source")
	s.traced(&dstCfg, log, "destination")
	return srcCfg, dstCfg, nil
}

// syncOptions are the engine's options for the user's mailbox under its
// batch's policy (folders, limits, received-after) and the endpoints'
// profiles (folder rules, the largest message: see passRules), the
// batch's zero values taking the defaults. The passes add what copying
// needs (connections, progress, refusals); a verification (see verify)
// takes them as they are, so that what it calls missing is what a pass
// would copy.
func (s *Service) syncOptions(b *batchRow, u *userRow, src, dst *endpoint, srcCfg, dstCfg imapconn.Config, log *slog.Logger) mailsync.Options {
	opts := mailsync.Options{
		Source:     srcCfg,
		Dest:       dstCfg,
		State:      s.cfg.DB,
		Mailbox:    mailboxKey(u.ID),
		SourceRoot: u.UserRoot,
		MaxItems:   b.Options.MaxItems,
		Logger:     log,

		DisarmReadReceipts: b.Options.DisarmReadReceipts,
		GmailLabels:        b.Options.GmailLabels,
	}
	opts.Folders, opts.MaxMessageSize = passRules(b.Options, src, dst)
	if opts.MaxItems == 0 {
		opts.MaxItems = mailsync.DefaultMaxItems
	}
	if b.Options.ReceivedAfter != nil {
		opts.ReceivedAfter = *b.Options.ReceivedAfter
	}
	return opts
}

// retry handles a pass that could not run or finish for a reason that may
// pass: a server asking to slow down (see throttled) waits, without using
// up an attempt, for throttleWait: the backoff, or longer when the server
// suggested a longer wait (Office 365's "Suggested Backoff Time"). Anything
// else is retried by River with its backoff, and fails the user after the
// last attempt.
func (s *Service) retry(ctx context.Context, u *userRow, b *batchRow, err error, lastAttempt bool, log *slog.Logger) error {
	ctx = context.WithoutCancel(ctx)
	msg := err.Error()
	if hint := throttleHint(err); hint.Throttled {
		s.cfg.Metrics.throttled()
		wait := throttleWait(s.cfg.ThrottleBackoff, u.Failures, hint)
		until := time.Now().Add(wait)
		log.Warn("Throttled by a server; waiting.", "err", msg, "until", until.UTC().Format(time.RFC3339))
		msg = fmt.Sprintf("throttled, retrying at %s: %s", until.UTC().Format("15:04:05 MST"), msg)
		if err := s.setUserError(ctx, u.ID, msg, "last_error = $1, failures = failures + 1, throttled_until = $2", msg, until.UnixMilli()); err != nil {
			return err
		}
		return river.JobSnooze(wait)
	}
	log.Warn("Sync failed; it will be retried.", "err", msg, "last_attempt", lastAttempt)
	if lastAttempt {
		return s.fail(ctx, u, b, msg)
	}
	if err := s.setUserError(ctx, u.ID, msg, "last_error = $1, failures = failures + 1", msg); err != nil {
		return err
	}
	return fmt.Errorf("sync %s: %w", u.Email, err)
}

// throttleBackoff doubles from base (30 seconds) up to 15 minutes with
// each throttling answer in a row, plus up to a fifth of jitter so that
// many mailboxes throttled together do not come back together.
func throttleBackoff(base time.Duration, failures int) time.Duration {
	d := base << min(failures, 5)
	d = min(d, 15*time.Minute)
	return d + rand.N(d/5+1)
}

// throttleWait is how long a throttled mailbox waits: throttleBackoff, or
// the server's suggested wait plus up to a fifth of jitter when that is
// longer, so that the server is never asked again sooner than it said.
// hint.Wait is at most throttle.MaxWait (an hour).
func throttleWait(base time.Duration, failures int, hint throttle.Hint) time.Duration {
	d := throttleBackoff(base, failures)
	if hint.Wait > 0 {
		d = max(d, hint.Wait+rand.N(hint.Wait/5+1))
	}
	return d
}

// watched runs watch beside the work that holds l: the returned context
// ends when the admin stops or removes the batch or the lease is lost, or
// with cancel's cause. unwatch ends it and waits for the watcher.
func (s *Service) watched(ctx context.Context, l *lease, userID, batchID int64) (_ context.Context, cancel context.CancelCauseFunc, unwatch func()) {
	ctx, cancel = context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.watch(ctx, cancel, l, userID, batchID)
	}()
	return ctx, cancel, func() {
		cancel(nil)
		wg.Wait()
	}
}

// watch renews the lease and stops the work when the admin stops or
// removes the batch, or when the lease is lost. It returns when ctx ends.
func (s *Service) watch(ctx context.Context, cancel context.CancelCauseFunc, l *lease, userID, batchID int64) {
	t := time.NewTicker(max(s.cfg.LeaseTTL/3, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := l.renew(ctx)
		if err != nil {
			continue // the database is busy or away; the lease lasts a while
		}
		if !ok {
			cancel(errLeaseLost)
			return
		}
		var state, status string
		err = s.db.QueryRowContext(ctx, `SELECT b.state, u.status FROM batch_users u JOIN batches b ON b.id = u.batch_id
			WHERE u.id = $1 AND b.id = $2`, userID, batchID).Scan(&state, &status)
		if errors.Is(err, sql.ErrNoRows) || state == BatchStopping || state == BatchStopped || state == BatchRemoving || status == UserStopped {
			cancel(errStopped)
			return
		}
	}
}

// interrupted records what a cut-short pass did. A pass cut by the slice
// (or by this process stopping) comes back as a snoozed job; one stopped
// by the admin does not.
func (s *Service) interrupted(ctx context.Context, u *userRow, log *slog.Logger, progs ...*progress) error {
	cause := context.Cause(ctx)
	db := context.WithoutCancel(ctx)
	for _, p := range progs {
		if err := s.setUser(db, u.ID, "bytes = bytes + $1", p.bytes()); err != nil {
			return err
		}
	}
	switch {
	case errors.Is(cause, errStopped), errors.Is(cause, errLeaseLost):
		log.Info("Sync interrupted.", "why", cause.Error())
		return s.setUser(db, u.ID, "enqueued_at = NULL")
	case errors.Is(cause, errSliceOver):
		log.Info("Job slice over; the next one resumes.")
		return river.JobSnooze(time.Second)
	}
	// This process is stopping: the job resumes at the next start or on
	// another worker.
	return river.JobSnooze(time.Second)
}

// finishPass records a completed pass.
func (s *Service) finishPass(ctx context.Context, u *userRow, b *batchRow, p pass, rep *mailsync.Report, elapsed time.Duration, log *slog.Logger) error {
	ctx = context.WithoutCancel(ctx) // the pass is done: record it whatever happens now
	synced, err := s.syncedCount(ctx, u.ID)
	if err != nil {
		return err
	}
	skipped, skippedBy, detailJSON := passDetails(rep)
	status := UserSynced
	if p == passFinal {
		status = UserCompleted
	}
	lastError := ""
	if !rep.OK() {
		lastError = summarize(rep)
	}
	at := now()
	set := `status = $1, initial_done = 1, failures = 0, items_synced = $2, items_skipped = $3,
		skipped_by = $4, items_failed = $5, bytes = bytes + $6, pass_copied = $7, last_sync_at = $8, next_sync_at = $9,
		enqueued_at = NULL, duration_ms = $10, last_error = $11, report = $12`
	args := []any{status, synced, skipped, skippedBy, rep.Totals.Failed, rep.Totals.Bytes, rep.Totals.Copied, at,
		at + b.interval().Milliseconds(), elapsed.Milliseconds(), lastError, detailJSON}
	if lastError != "" {
		err = s.setUserError(ctx, u.ID, lastError, set, args...)
	} else {
		err = s.setUser(ctx, u.ID, set, args...)
	}
	if err != nil {
		return err
	}
	log.Info("Sync finished.", "status", status, "copied", rep.Totals.Copied, "synced", synced,
		"skipped", skipped, "failed", rep.Totals.Failed, "seconds", elapsed.Seconds())
	return s.settle(ctx, b.ID)
}

// passDetails is what the user's row keeps of a pass's report: items
// skipped, by reason (JSON), and the folders and items (JSON userReport).
func passDetails(rep *mailsync.Report) (skipped int64, skippedBy, details string) {
	for _, n := range rep.Totals.Skipped {
		skipped += int64(n)
	}
	d := userReport{Skipped: toItems(rep.Skipped), Failed: toItems(rep.Failed)}
	for _, f := range rep.Folders {
		d.Folders = append(d.Folders, Folder{Source: f.Source, Destination: f.Destination, Status: f.Status,
			SourceCount: f.SourceCount, DestCount: f.DestCount, Copied: f.Copied, Skipped: f.Skipped, Failed: f.Failed,
			Bytes: f.Bytes, Error: f.Error})
	}
	by, _ := json.Marshal(rep.Totals.Skipped)
	dj, _ := json.Marshal(d)
	return skipped, string(by), string(dj)
}

// unavailablePasses is how many finished passes in a row may meet
// "Server Unavailable" on APPEND before the user is Blocked as possibly
// over quota: Exchange answers so for a full mailbox (imapsync's
// FAQ.Exchange, RELIABILITY.md row 14), but also while it is briefly
// busy, which a pass or two rides out.
const unavailablePasses = 3

// appendUnavailable returns the first answer of the pass's refused
// APPENDs that says "Server Unavailable" (Exchange's "NO Server
// Unavailable. 15"), or "".
func appendUnavailable(rep *mailsync.Report) string {
	for _, it := range rep.Skipped {
		if it.Reason == mailsync.ReasonRejected && strings.Contains(strings.ToLower(it.Detail), "server unavailable") {
			return it.Detail
		}
	}
	return ""
}

// unavailableStreak counts a finished pass into the user's run of passes
// that met "Server Unavailable" on APPEND (met) or ends it, and returns
// the run's length.
func (s *Service) unavailableStreak(ctx context.Context, userID int64, met bool) (int, error) {
	ctx = context.WithoutCancel(ctx)
	if !met {
		return 0, s.setUser(ctx, userID, "unavailable_passes = 0")
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `UPDATE batch_users SET unavailable_passes = unavailable_passes + 1 WHERE id = $1
		RETURNING unavailable_passes`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count passes refused as unavailable of user %d: %w", userID, err)
	}
	return n, nil
}

// block parks a user whose destination is full (see UserBlocked): why
// says so in the server's words. What the pass copied is kept and
// counted; nothing is retried until BlockedRetry has passed, or the admin
// asks with retry-failed or sync-now.
func (s *Service) block(ctx context.Context, u *userRow, b *batchRow, rep *mailsync.Report, why string, log *slog.Logger) error {
	ctx = context.WithoutCancel(ctx)
	at := now()
	retryAt := time.UnixMilli(at).Add(s.cfg.BlockedRetry)
	msg := fmt.Sprintf("blocked: %s. Raise the quota: the user is tried again at %s, or at once with retry-failed or sync-now",
		why, retryAt.UTC().Format("2006-01-02 15:04 MST"))
	set := `status = $1, failures = 0, next_sync_at = $2, enqueued_at = NULL, throttled_until = NULL, last_error = $3`
	args := []any{UserBlocked, retryAt.UnixMilli(), msg}
	if rep != nil {
		synced, err := s.syncedCount(ctx, u.ID)
		if err != nil {
			return err
		}
		skipped, skippedBy, details := passDetails(rep)
		set += `, items_synced = $4, items_skipped = $5, skipped_by = $6, items_failed = $7, bytes = bytes + $8,
			pass_copied = $9, report = $10`
		args = append(args, synced, skipped, skippedBy, rep.Totals.Failed, rep.Totals.Bytes, rep.Totals.Copied, details)
	}
	if err := s.setUserError(ctx, u.ID, msg, set, args...); err != nil {
		return err
	}
	log.Warn("User blocked; waiting for the admin.", "err", why, "retry_at", retryAt.UTC().Format(time.RFC3339))
	return s.settle(ctx, b.ID)
}

// serverWords is the server's answer in err's chain ("NO [OVERQUOTA]
// Quota exceeded (mailbox for user is full)"), else err's text.
func serverWords(err error) string {
	var ie *imap.Error
	if !errors.As(err, &ie) {
		return err.Error()
	}
	words := string(ie.Type)
	if ie.Code != "" {
		words += " [" + string(ie.Code) + "]"
	}
	return words + " " + ie.Text
}

// notCopied says how many messages a pass stopped by the destination left
// behind (the engine counts them as failed).
func notCopied(rep *mailsync.Report) string {
	if rep == nil || rep.Totals.Failed == 0 {
		return ""
	}
	return fmt.Sprintf("; %d messages not copied yet", rep.Totals.Failed)
}

// syncedCount is how many of the user's source messages the engine's
// state records at the destination.
func (s *Service) syncedCount(ctx context.Context, userID int64) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sync_messages m JOIN sync_folders f ON f.id = m.folder_id
		WHERE f.mailbox = $1`, mailboxKey(userID)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count synced items of user %d: %w", userID, err)
	}
	return n, nil
}

// summarize says in one line what went wrong in a pass that finished.
func summarize(rep *mailsync.Report) string {
	var parts []string
	if n := len(rep.Failed); n > 0 {
		it := rep.Failed[0]
		parts = append(parts, fmt.Sprintf("%d item(s) failed, first: folder %q uid %d: %s", n, it.Folder, it.UID, it.Detail))
	}
	// A folder that could not be read, created or copied is an error of
	// the pass even though the other folders went on.
	for _, f := range rep.Folders {
		if f.Error != "" {
			parts = append(parts, fmt.Sprintf("folder %q: %s", f.Source, f.Error))
		}
	}
	parts = append(parts, rep.Errors...)
	return strings.Join(parts, "; ")
}

func toItems(in []mailsync.Item) []Item {
	out := make([]Item, 0, len(in))
	for _, it := range in {
		out = append(out, Item{Folder: it.Folder, UID: it.UID, Date: it.Date, Subject: it.Subject, Size: it.Size,
			Reason: it.Reason, Detail: it.Detail})
	}
	return out
}

// fail marks a user Failed with words an admin can act on.
func (s *Service) fail(ctx context.Context, u *userRow, b *batchRow, msg string) error {
	db := context.WithoutCancel(ctx)
	if err := s.setUserError(db, u.ID, msg, "status = $1, last_error = $2, enqueued_at = NULL", UserFailed, msg); err != nil {
		return err
	}
	return s.settle(db, b.ID)
}

// setStatus is setUser for a status change that must not undo a stop:
// false means the admin stopped the user meanwhile, and the job ends.
func (s *Service) setStatus(ctx context.Context, userID int64, set string, args ...any) (bool, error) {
	args = append(args, userID, UserStopped)
	q := fmt.Sprintf(`UPDATE batch_users SET %s WHERE id = $%d AND status <> $%d`, set, len(args)-1, len(args))
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("update user %d: %w", userID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, s.setUser(ctx, userID, "enqueued_at = NULL")
	}
	return true, nil
}

// again keeps the job for one more pass when the user needs one already
// (the batch was completed, or sync-now asked, during this pass): the
// scheduler's insert for it may have been absorbed by this very job.
func (s *Service) again(ctx context.Context, userID int64) error {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM batch_users WHERE id = $1`, userID))
	if err != nil {
		return nil // removed, or the scheduler will see to it
	}
	b, err := s.batchByID(ctx, u.BatchID)
	if err != nil || next(b, u, now()) == passNone {
		return nil
	}
	return river.JobSnooze(time.Second)
}

// setUser updates a user's row: set is the SET clause with $1.. for args.
func (s *Service) setUser(ctx context.Context, userID int64, set string, args ...any) error {
	args = append(args, userID)
	q := fmt.Sprintf(`UPDATE batch_users SET %s WHERE id = $%d`, set, len(args))
	if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("update user %d: %w", userID, err)
	}
	return nil
}

// preflight logs in at both sides and checks the servers. msg says, in
// words for the admin, what makes the user fail for good (a refused login,
// a server that does not speak IMAP4rev1); err is a failure that may pass
// (a server down or throttling).
func preflight(ctx context.Context, src, dst imapconn.Config) (msg string, err error) {
	src.ReadOnly = true
	src.Side, dst.Side = "source", "destination"
	for _, cfg := range []imapconn.Config{src, dst} {
		c, err := imapconn.Dial(ctx, cfg)
		if authFailed(err) {
			return loginAdvice(err, src, dst), nil
		}
		if err != nil {
			return "", fmt.Errorf("validation: %w", err)
		}
		caps := c.Caps()
		c.Close()
		if !caps.Has(imap.CapIMAP4rev1) && !caps.Has(imap.CapIMAP4rev2) {
			return fmt.Sprintf("validation: the %s server %s does not speak IMAP4rev1", cfg.Side, cfg.Addr), nil
		}
	}
	return "", nil
}

// loginAdvice turns a refused login into what the admin should check.
func loginAdvice(err error, src, dst imapconn.Config) string {
	var ie *imapconn.Error
	side, user := "source", src.User
	if errors.As(err, &ie) && ie.Side == "destination" {
		side, user = "destination", dst.User
	}
	if advice := tokenAdvice(err, side, user); advice != "" {
		return advice
	}
	if side == "source" {
		return fmt.Sprintf("the source server refused the login of %s: check UserName and Password in the CSV, or the source endpoint's admin credentials (%v)", src.User, err)
	}
	return fmt.Sprintf("the destination server refused the login of %s: the mailbox may not exist yet (create it before migrating), or the destination credentials are wrong (%v)", dst.User, err)
}

// authFailed recognises a login refused for good: wrong credentials or
// no such mailbox.
func authFailed(err error) bool {
	kind, ok := imapconn.KindOf(err)
	return ok && kind == imapconn.KindAuth && !throttled(err)
}

// throttled recognises a server's answer that refuses for now rather than
// for good: an RFC 5530 code (LIMIT, UNAVAILABLE, INUSE) or a provider's
// words for it (Office 365, Exchange, Gmail, Yahoo), as read by
// throttle.Parse from the *imap.Error in err's chain.
func throttled(err error) bool { return throttleHint(err).Throttled }

// throttleHint is throttle.Parse of the *imap.Error in err's chain; it is
// the zero Hint when there is none (a network error is not throttling).
func throttleHint(err error) throttle.Hint {
	var ie *imap.Error
	if !errors.As(err, &ie) {
		return throttle.Hint{}
	}
	return throttle.Parse(string(ie.Code), ie.Text)
}

// progress adds up the engine's per-folder progress for the user's row.
type progress struct {
	mu      sync.Mutex
	folders map[string]mailsync.Progress
}

func newProgress() *progress { return &progress{folders: map[string]mailsync.Progress{}} }

func (p *progress) update(f mailsync.Progress) {
	p.mu.Lock()
	p.folders[f.Folder] = f
	p.mu.Unlock()
}

func (p *progress) totals() (toCopy, done int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.folders {
		toCopy += int64(f.Total)
		done += int64(f.Done)
	}
	return toCopy, done
}

func (p *progress) bytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, f := range p.folders {
		n += f.Bytes
	}
	return n
}

// flushProgress writes the pass's progress to the user's row every
// second until the returned function is called.
func (s *Service) flushProgress(ctx context.Context, userID int64, p *progress) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-t.C:
			}
			toCopy, copied := p.totals()
			s.setUser(ctx, userID, "pass_to_copy = $1, pass_copied = $2", toCopy, copied)
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		toCopy, copied := p.totals()
		s.setUser(context.WithoutCancel(ctx), userID, "pass_to_copy = $1, pass_copied = $2", toCopy, copied)
	}
}
