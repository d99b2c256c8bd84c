package service

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
)

// Verification in the service: VerifyBatch queues one River job per user
// (queue "verify"), and each job runs mailsync.Verify, the engine's
// read-only comparison of the destination with the source, with the
// options the user's passes use (syncOptions), under the user's lease.
//
// Jobs rather than goroutines of the API process: a verification of a
// large mailbox takes minutes, and as a job it survives a restart of
// `serve`, runs on `worker` processes like the passes (serve --workers 0
// does no IMAP work itself), and is retried when a server is briefly away.
// The lease keeps it from running beside a pass of the same mailbox (each
// waits for the other) and counts it towards the endpoints'
// MaxConcurrentMigrations, so a verification of a whole batch cannot
// overload a server the passes are already using to its cap.

// Verification states.
const (
	VerifyQueued  = "queued"
	VerifyRunning = "running"
	VerifyDone    = "done"
	// VerifyFailed: the last verification asked for could not run (a
	// login refused, a server out of reach, the batch stopped); Error says
	// why. An earlier verification's figures stay.
	VerifyFailed = "failed"
)

// MaxVerificationItems is how many items of each list of differences
// (missing, extra, flags, dates, skipped) are kept per user: enough to act
// on, while a mailbox verified against the wrong destination, with every
// message missing, stays a few hundred kilobytes. The totals count them
// all.
const MaxVerificationItems = 1000

// verifyTimeout bounds one verification. It is not sliced like a pass (it
// compares one moment of both mailboxes, and cannot resume); an hour reads
// the headers of several hundred thousand messages at both ends. River may
// take a job running longer than RescueStuckJobsAfter for stuck and run it
// again meanwhile: that copy waits for the lease, then finds its request
// answered and does nothing.
const verifyTimeout = time.Hour

// verifiable are the batch states in which users can be verified: mail has
// been copied, and the batch has not been stopped or removed.
var verifiable = []string{BatchSyncing, BatchSynced, BatchSyncedWithErrors, BatchCompleting, BatchCompleted}

// Verification is a user's last verification as the service keeps it.
type Verification struct {
	// State is that of the last request: VerifyQueued, VerifyRunning,
	// VerifyDone or VerifyFailed.
	State       string    `json:"state"`
	RequestedAt time.Time `json:"requested_at"`
	// Error says why the last request could not run (VerifyFailed), or
	// why its last attempt failed while it is retried.
	Error string `json:"error,omitempty"`
	// VerifiedAt is when the last verification that ran finished; the
	// fields below are its own. Nil when none has run yet.
	VerifiedAt  *time.Time            `json:"verified_at,omitempty"`
	Duration    float64               `json:"duration_seconds,omitempty"`
	Grade       mailsync.Grade        `json:"grade,omitempty"`
	GradeReason string                `json:"grade_reason,omitempty"`
	Totals      *mailsync.CheckTotals `json:"totals,omitempty"`
	// Details holds the folders and the lists of differences, each list
	// cut at MaxVerificationItems (Totals counts them all). Only with a
	// user's details: user status and the batch report.
	Details *mailsync.Verification `json:"details,omitempty"`
}

// Where a grade comes from (UserGrade.From).
const (
	GradeFromVerification = "verification"
	GradeFromStatistics   = "statistics"
)

// UserGrade is a user's consistency grade and where it comes from.
type UserGrade struct {
	Grade  mailsync.Grade `json:"grade"`
	Reason string         `json:"reason"`
	// From is GradeFromVerification (At is when it finished) or
	// GradeFromStatistics (the figures of the user's passes).
	From string     `json:"from"`
	At   *time.Time `json:"at,omitempty"`
}

// GradeUser is u's grade: its last verification's, when one has run,
// since it measured the servers themselves; else StatisticsGrade.
func GradeUser(u User) UserGrade {
	if v := u.Verification; v != nil && v.VerifiedAt != nil && v.Grade != "" {
		return UserGrade{Grade: v.Grade, Reason: v.GradeReason, From: GradeFromVerification, At: v.VerifiedAt}
	}
	g, why := StatisticsGrade(u)
	return UserGrade{Grade: g, Reason: why, From: GradeFromStatistics}
}

// missingReasons are the skip reasons that count as missing in a grade:
// the destination refused the message (rejected), or would have
// (over_append_limit, refused before sending: see mailsync's
// appendlimit.go). The other reasons (too large, over the item cap,
// received before the cut-off date, expunged at the source during the
// pass) were the admin's policy or the user's doing.
var missingReasons = []struct{ reason, words string }{
	{mailsync.ReasonRejected, "rejected by the destination"},
	{mailsync.ReasonOverAppendLimit, "over the destination's APPENDLIMIT"},
}

// CountsAsMissing reports whether items skipped for reason count as
// missing in a grade.
func CountsAsMissing(reason string) bool {
	return slices.ContainsFunc(missingReasons, func(m struct{ reason, words string }) bool { return m.reason == reason })
}

// StatisticsGrade grades a user from the figures of its passes, with the
// definition a verification uses (mailsync.GradeOf): expected = the items
// synced plus the missing ones, missing = the failed items and the skipped
// ones that CountsAsMissing. Passes compare no flags or dates, so nothing
// "differs". The user's status weighs too: Failed and Blocked (destination
// full) are Poor, whatever the figures, and a user not Synced or Completed
// is at best Good ("nothing missing so far").
func StatisticsGrade(u User) (mailsync.Grade, string) {
	missing := u.ItemsFailed
	var parts []string
	if u.ItemsFailed > 0 {
		parts = append(parts, fmt.Sprintf("%d %s failed", u.ItemsFailed, plural(u.ItemsFailed, "item", "items")))
	}
	for _, m := range missingReasons {
		if n := u.SkippedBy[m.reason]; n > 0 {
			missing += n
			parts = append(parts, fmt.Sprintf("%d %s", n, m.words))
		}
	}
	g, why := mailsync.GradeOf(mailsync.GradeFigures{Expected: int(u.ItemsSynced + missing), Missing: int(missing)})
	if missing > 0 {
		why += ": " + strings.Join(parts, ", ")
	}
	switch {
	case u.Status == UserFailed && missing == 0:
		return mailsync.GradePoor, "the migration failed"
	case u.Status == UserFailed:
		return mailsync.GradePoor, "the migration failed; " + why
	case u.Status == UserBlocked && missing == 0:
		return mailsync.GradePoor, "blocked: the destination mailbox is full"
	case u.Status == UserBlocked:
		return mailsync.GradePoor, "blocked: the destination mailbox is full; " + why
	case g == mailsync.GradePerfect && u.Status != UserSynced && u.Status != UserCompleted:
		return mailsync.GradeGood, "nothing missing so far; the user is " + u.Status
	case g == mailsync.GradePerfect:
		return g, "every item is at the destination"
	}
	return g, why
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// gradeOrder ranks the grades, best first.
var gradeOrder = []mailsync.Grade{mailsync.GradePerfect, mailsync.GradeGood, mailsync.GradeInvestigate, mailsync.GradePoor}

func gradeRank(g mailsync.Grade) int {
	if i := slices.Index(gradeOrder, g); i >= 0 {
		return i
	}
	return len(gradeOrder) // unknown: worse than any
}

// ParseGrade reads a grade an admin asks for as a bar: perfect, good or
// investigate, in any case. Poor is no bar.
func ParseGrade(s string) (mailsync.Grade, error) {
	for _, g := range gradeOrder[:3] {
		if strings.EqualFold(s, string(g)) {
			return g, nil
		}
	}
	return "", fmt.Errorf("grade %q: want perfect, good or investigate: %w", s, ErrInvalid)
}

// BatchGrades are a batch's users with their grades and verifications,
// and the batch's grade: its worst user's (mailsync.BatchGrade).
type BatchGrades struct {
	Batch  string         `json:"batch"`
	Grade  mailsync.Grade `json:"grade"`
	Reason string         `json:"reason"`
	// Verifying counts the users whose verification is queued or running.
	Verifying int `json:"verifying"`
	// Users are as Users lists them: each with its Grade and the summary
	// of its Verification.
	Users []User `json:"users"`
}

// BatchGrades returns the batch's grade and its users' grades and
// verifications.
func (s *Service) BatchGrades(ctx context.Context, name string) (*BatchGrades, error) {
	users, err := s.Users(ctx, name)
	if err != nil {
		return nil, err
	}
	out := &BatchGrades{Batch: name, Users: users}
	grades := make([]mailsync.Grade, 0, len(users))
	for _, u := range users {
		grades = append(grades, u.Grade.Grade)
		if v := u.Verification; v != nil && (v.State == VerifyQueued || v.State == VerifyRunning) {
			out.Verifying++
		}
	}
	out.Grade, out.Reason = mailsync.BatchGrade(grades)
	return out, nil
}

// VerifyBatch asks for a verification of every user of the batch that has
// had its initial pass, or of the one user with address user. A user whose
// verification is queued or running already is not asked again. The
// verifications run in the background (see the top of this file); the
// answer is the batch's grades as they are when asked.
func (s *Service) VerifyBatch(ctx context.Context, name, user string) (*BatchGrades, error) {
	b, err := s.batchByName(ctx, name)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(verifiable, b.State) {
		return nil, fmt.Errorf("verify batch %q: not possible while it is %s (possible when %s): %w",
			name, b.State, strings.Join(verifiable, ", "), ErrConflict)
	}
	q, args := `SELECT id, email, initial_done FROM batch_users WHERE batch_id = $1`, []any{b.ID}
	if user != "" {
		q, args = q+` AND email = $2`, append(args, strings.ToLower(strings.TrimSpace(user)))
	}
	type target struct {
		id    int64
		email string
	}
	var targets []target
	var notSynced int
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY line, email`, args...)
	if err != nil {
		return nil, fmt.Errorf("verify batch %q: %w", name, err)
	}
	for rows.Next() {
		var t target
		var initial int
		if err := rows.Scan(&t.id, &t.email, &initial); err != nil {
			rows.Close()
			return nil, fmt.Errorf("verify batch %q: %w", name, err)
		}
		if initial == 0 {
			notSynced++
			continue
		}
		targets = append(targets, t)
	}
	rows.Close()
	switch {
	case user != "" && notSynced > 0:
		return nil, fmt.Errorf("verify %s: nothing to verify yet, its mailbox has not been copied once: %w", user, ErrConflict)
	case user != "" && len(targets) == 0:
		return nil, fmt.Errorf("verify %s: not a user of batch %q: %w", user, name, ErrNotFound)
	}
	at := now()
	queued := 0
	for _, t := range targets {
		res, err := s.db.ExecContext(ctx, `INSERT INTO batch_user_verifications (user_id, state, requested_at) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, requested_at = excluded.requested_at, error = '', started_at = NULL
			WHERE batch_user_verifications.state NOT IN ($4, $5)`, t.id, VerifyQueued, at, VerifyQueued, VerifyRunning)
		if err != nil {
			return nil, fmt.Errorf("ask for the verification of %s: %w", t.email, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // queued or running already
		}
		if _, err := s.queue.Insert(ctx, verifyArgs{UserID: t.id, RequestedAt: at}, nil); err != nil {
			s.setVerification(context.WithoutCancel(ctx), verifyArgs{UserID: t.id, RequestedAt: at}, `state = $1, error = $2`,
				VerifyFailed, "could not be queued: "+err.Error())
			return nil, fmt.Errorf("queue the verification of %s: %w", t.email, err)
		}
		queued++
	}
	s.log.Info("Verification requested.", "batch", name, "users", queued, "not_synced_yet", notSynced)
	return s.BatchGrades(ctx, name)
}

// verifyArgs is the River job that verifies one user's mailbox for the
// request made at RequestedAt. A job whose request has been answered, or
// replaced by a newer one, does nothing.
type verifyArgs struct {
	UserID      int64 `json:"user_id"`
	RequestedAt int64 `json:"requested_at"`
}

func (verifyArgs) Kind() string { return "verify" }

func (verifyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "verify", MaxAttempts: defaultMaxAttempts}
}

type verifyWorker struct {
	river.WorkerDefaults[verifyArgs]
	s *Service
}

func (w *verifyWorker) Timeout(*river.Job[verifyArgs]) time.Duration { return verifyTimeout }

func (w *verifyWorker) Work(ctx context.Context, job *river.Job[verifyArgs]) error {
	err := w.s.verify(ctx, job.Args, job.Attempt >= job.MaxAttempts)
	if faulted(err) {
		// The database refused a write for a reason of its surroundings
		// (see storageFault): wait, without using up an attempt.
		w.s.log.Warn("The database refused a write; the verification waits.", "user_id", job.Args.UserID, "err", err)
		return river.JobSnooze(w.s.cfg.StorageRetry)
	}
	return err
}

// verifyMayRun says why a verification may not run in a batch in state for
// a user with status, or nil.
func verifyMayRun(state, status string) error {
	switch {
	case !slices.Contains(verifiable, state):
		return fmt.Errorf("the batch is %s: %w", state, errNoSlot)
	case status == UserStopped:
		return fmt.Errorf("the user is %s: %w", status, errNoSlot)
	}
	return nil
}

// verify runs one verification job: claim the mailbox as a pass does,
// compare, and record the outcome. It returns nil when the request is
// answered (verified, or failed for good), river.JobSnooze to come back (no
// free slot, a throttling server, this process stopping), or an error for
// River to retry.
func (s *Service) verify(ctx context.Context, a verifyArgs, lastAttempt bool) error {
	var state string
	var requested int64
	err := s.db.QueryRowContext(ctx, `SELECT state, requested_at FROM batch_user_verifications WHERE user_id = $1`,
		a.UserID).Scan(&state, &requested)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // the user was removed
	}
	if err != nil {
		return fmt.Errorf("read the verification request of user %d: %w", a.UserID, err)
	}
	if requested != a.RequestedAt || (state != VerifyQueued && state != VerifyRunning) {
		return nil
	}
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM batch_users WHERE id = $1`, a.UserID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read user %d: %w", a.UserID, err)
	}
	b, err := s.batchByID(ctx, u.BatchID)
	if err != nil {
		return err
	}
	log := s.log.With("batch", b.Name, "user", u.Email)
	if err := verifyMayRun(b.State, u.Status); err != nil {
		return s.verifyFailed(ctx, a, fmt.Sprintf("not verified: %s", strings.TrimSuffix(err.Error(), ": "+errNoSlot.Error())), log)
	}
	src, err := s.endpointByID(ctx, b.SourceID)
	if err != nil {
		return err
	}
	dst, err := s.endpointByID(ctx, b.DestID)
	if err != nil {
		return err
	}
	l, err := s.claim(ctx, u.ID, src, dst, false, verifyMayRun)
	if errors.Is(err, errNoSlot) {
		log.Debug("Verification waiting for a slot.", "reason", err)
		return river.JobSnooze(time.Duration(2000+rand.IntN(3000)) * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("claim mailbox of %s for its verification: %w", u.Email, err)
	}
	defer l.release()
	if ok, err := s.setVerification(ctx, a, `state = $1, started_at = $2`, VerifyRunning, now()); err != nil || !ok {
		return err
	}

	ctx, _, unwatch := s.watched(ctx, l, u.ID, b.ID)
	defer unwatch()

	srcCfg, dstCfg, err := s.logins(u, src, dst, log)
	if err != nil {
		return s.verifyFailed(ctx, a, err.Error(), log)
	}
	log.Info("Verification started.")
	started := time.Now()
	v, err := mailsync.Verify(ctx, s.syncOptions(b, u, src, dst, srcCfg, dstCfg, log))
	cause := context.Cause(ctx)
	switch {
	case err == nil:
		return s.verified(ctx, a, v, time.Since(started), log)
	case errors.Is(cause, errStopped), errors.Is(cause, errLeaseLost):
		return s.verifyFailed(ctx, a, "interrupted: "+cause.Error(), log)
	case errors.Is(cause, context.DeadlineExceeded):
		return s.verifyFailed(ctx, a, fmt.Sprintf("did not finish within %s", verifyTimeout), log)
	case ctx.Err() != nil:
		// This process is stopping: the job runs again at the next start
		// or on another worker, and finds its request still running.
		return river.JobSnooze(time.Second)
	case throttled(err):
		hint := throttleHint(err)
		wait := throttleWait(s.cfg.ThrottleBackoff, 0, hint)
		msg := fmt.Sprintf("throttled, retrying at %s: %v", time.Now().Add(wait).UTC().Format("15:04:05 MST"), err)
		log.Warn("Verification throttled by a server; waiting.", "err", err, "wait", wait.Round(time.Second).String())
		s.setVerification(context.WithoutCancel(ctx), a, `state = $1, error = $2`, VerifyQueued, msg)
		return river.JobSnooze(wait)
	case authFailed(err):
		return s.verifyFailed(ctx, a, loginAdvice(err, srcCfg, dstCfg), log)
	case lastAttempt:
		return s.verifyFailed(ctx, a, err.Error(), log)
	}
	log.Warn("Verification failed; it will be retried.", "err", err)
	s.setVerification(context.WithoutCancel(ctx), a, `state = $1, error = $2`, VerifyQueued, err.Error())
	return fmt.Errorf("verify %s: %w", u.Email, err)
}

// verified records a verification that ran.
func (s *Service) verified(ctx context.Context, a verifyArgs, v *mailsync.Verification, elapsed time.Duration, log *slog.Logger) error {
	ctx = context.WithoutCancel(ctx)
	totals, err := json.Marshal(v.Totals)
	if err != nil {
		return fmt.Errorf("record the verification of user %d: %w", a.UserID, err)
	}
	details, err := json.Marshal(capLists(v))
	if err != nil {
		return fmt.Errorf("record the verification of user %d: %w", a.UserID, err)
	}
	if _, err := s.setVerification(ctx, a, `state = $1, error = '', verified_at = $2, duration_ms = $3, grade = $4,
		grade_reason = $5, totals = $6, details = $7`, VerifyDone, v.Finished.UnixMilli(), elapsed.Milliseconds(),
		string(v.Grade), v.GradeReason, string(totals), string(details)); err != nil {
		return err
	}
	log.Info("Verification finished.", "grade", v.Grade, "expected", v.Totals.Expected, "missing", v.Totals.Missing,
		"extra", v.Totals.Extra, "flags_differ", v.Totals.FlagsDiffer, "dates_differ", v.Totals.DatesDiffer,
		"seconds", elapsed.Seconds())
	return nil
}

// verifyFailed records a request that cannot be answered; the last
// verification that ran keeps its figures.
func (s *Service) verifyFailed(ctx context.Context, a verifyArgs, msg string, log *slog.Logger) error {
	log.Warn("Verification could not run.", "err", msg)
	_, err := s.setVerification(context.WithoutCancel(ctx), a, `state = $1, error = $2`, VerifyFailed, msg)
	return err
}

// setVerification updates the verification of a's user if it is still for
// a's request: false means it is not (a newer request, or the user
// removed).
func (s *Service) setVerification(ctx context.Context, a verifyArgs, set string, args ...any) (bool, error) {
	args = append(args, a.UserID, a.RequestedAt)
	q := fmt.Sprintf(`UPDATE batch_user_verifications SET %s WHERE user_id = $%d AND requested_at = $%d`, set, len(args)-1, len(args))
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("update the verification of user %d: %w", a.UserID, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// capLists returns v with each list cut at MaxVerificationItems.
func capLists(v *mailsync.Verification) *mailsync.Verification {
	c := *v
	c.Missing = c.Missing[:min(len(c.Missing), MaxVerificationItems)]
	c.Extra = c.Extra[:min(len(c.Extra), MaxVerificationItems)]
	c.FlagsDiffer = c.FlagsDiffer[:min(len(c.FlagsDiffer), MaxVerificationItems)]
	c.DatesDiffer = c.DatesDiffer[:min(len(c.DatesDiffer), MaxVerificationItems)]
	c.Skipped = c.Skipped[:min(len(c.Skipped), MaxVerificationItems)]
	return &c
}

// verificationColumns are read by scanVerification; details last, as ”
// when not wanted.
const verificationColumns = `u.email, v.state, v.requested_at, v.error, v.verified_at, v.duration_ms, v.grade, v.grade_reason, v.totals`

// addGrades sets the Verification and Grade of users, which are those of
// the batch batchID, or the one user userID (batchID 0); details adds each
// verification's Details.
func (s *Service) addGrades(ctx context.Context, batchID, userID int64, users []User, details bool) error {
	cols := verificationColumns + `, ''`
	if details {
		cols = verificationColumns + `, v.details`
	}
	where, arg := `u.batch_id = $1`, batchID
	if batchID == 0 {
		where, arg = `u.id = $1`, userID
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+cols+` FROM batch_user_verifications v JOIN batch_users u ON u.id = v.user_id
		WHERE `+where, arg)
	if err != nil {
		return fmt.Errorf("read verifications: %w", err)
	}
	defer rows.Close()
	byEmail := map[string]*Verification{}
	for rows.Next() {
		var email, totals, det string
		var requested int64
		var verified sql.NullInt64
		var durationMS int64
		v := &Verification{}
		if err := rows.Scan(&email, &v.State, &requested, &v.Error, &verified, &durationMS, &v.Grade, &v.GradeReason,
			&totals, &det); err != nil {
			return fmt.Errorf("read verifications: %w", err)
		}
		v.RequestedAt = time.UnixMilli(requested).UTC()
		if v.VerifiedAt = fromMillis(verified); v.VerifiedAt != nil {
			v.Duration = float64(durationMS) / 1000
			v.Totals = &mailsync.CheckTotals{}
			if err := json.Unmarshal([]byte(totals), v.Totals); err != nil {
				return fmt.Errorf("read the verification of %s: %w", email, err)
			}
			if det != "" {
				v.Details = &mailsync.Verification{}
				if err := json.Unmarshal([]byte(det), v.Details); err != nil {
					return fmt.Errorf("read the verification of %s: %w", email, err)
				}
			}
		}
		byEmail[email] = v
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read verifications: %w", err)
	}
	for i := range users {
		users[i].Verification = byEmail[users[i].EmailAddress]
		users[i].Grade = GradeUser(users[i])
	}
	return nil
}

// CompleteOptions are the conditions an admin puts on completing a batch.
type CompleteOptions struct {
	// RequireGrade, when set (perfect, good or investigate), refuses to
	// complete unless every user grades at least that (GradeUser: by its
	// last verification, else by its statistics). Without it, the users
	// below Good are only warned about.
	RequireGrade string `json:"require_grade,omitempty"`
	// AfterMXSwitch does not complete now: the batch completes by itself
	// once the MX records of all its domains point at the destination and
	// every synced user has had an incremental pass that began after the
	// scheduler saw that (see BatchDNS). RequireGrade then applies at that
	// moment.
	AfterMXSwitch bool `json:"after_mx_switch,omitempty"`
	// ExpectMX, with AfterMXSwitch, names the destination's MX hosts
	// instead of the batch's expect_mx option.
	ExpectMX []string `json:"expect_mx,omitempty"`
}

// Completion answers a request to complete a batch: the batch (Completing,
// or as it was with AfterMXSwitch, with its Cutover) and the users that
// grade below Good.
type Completion struct {
	Batch
	Warnings []GradeNote `json:"warnings"`
}

// GradeNote is one user's grade, for warnings and refusals.
type GradeNote struct {
	User string `json:"user"`
	UserGrade
}

func (n GradeNote) String() string {
	from := "from sync statistics"
	if n.From == GradeFromVerification && n.At != nil {
		from = "from verification at " + n.At.UTC().Format("2006-01-02 15:04 MST")
	}
	return fmt.Sprintf("%s: %s (%s; %s)", n.User, n.Grade, n.Reason, from)
}

// GradeError is a completion refused because users grade below the bar
// asked for. It wraps ErrConflict.
type GradeError struct {
	Batch string         `json:"batch"`
	Bar   mailsync.Grade `json:"require_grade"`
	Users []GradeNote    `json:"users"`
}

// gradeErrorListed is how many users a GradeError's message names; the
// API's answer lists them all.
const gradeErrorListed = 20

func (e *GradeError) Error() string {
	var names []string
	for _, n := range e.Users[:min(len(e.Users), gradeErrorListed)] {
		names = append(names, fmt.Sprintf("%s %s", n.User, n.Grade))
	}
	more := ""
	if len(e.Users) > gradeErrorListed {
		more = fmt.Sprintf(" and %d more", len(e.Users)-gradeErrorListed)
	}
	return fmt.Sprintf("complete batch %q: %d %s below %s (%s%s): fix them (sync-now, then verify) or complete without --require-grade",
		e.Batch, len(e.Users), plural(int64(len(e.Users)), "user grades", "users grade"), e.Bar, strings.Join(names, ", "), more)
}

func (e *GradeError) Unwrap() error { return ErrConflict }

// below lists the users that grade worse than bar.
func below(users []User, bar mailsync.Grade) []GradeNote {
	out := []GradeNote{}
	for _, u := range users {
		if gradeRank(u.Grade.Grade) > gradeRank(bar) {
			out = append(out, GradeNote{User: u.EmailAddress, UserGrade: u.Grade})
		}
	}
	return out
}

// CompleteBatchWith is CompleteBatch with the admin's conditions: it
// warns of the users that grade below Good, refuses (a *GradeError) when
// one grades below o.RequireGrade, and with o.AfterMXSwitch leaves the
// completion to the scheduler (see BatchDNS).
func (s *Service) CompleteBatchWith(ctx context.Context, name string, o CompleteOptions) (*Completion, error) {
	var bar mailsync.Grade
	if o.RequireGrade != "" {
		var err error
		if bar, err = ParseGrade(o.RequireGrade); err != nil {
			return nil, fmt.Errorf("complete batch %q: require_grade: %w", name, err)
		}
	}
	b, err := s.batchByName(ctx, name)
	if err != nil {
		return nil, err
	}
	users, err := s.Users(ctx, name)
	if err != nil {
		return nil, err
	}
	if bar != "" {
		if refused := below(users, bar); len(refused) > 0 {
			return nil, &GradeError{Batch: name, Bar: bar, Users: refused}
		}
	}
	warnings := below(users, mailsync.GradeGood)
	if o.AfterMXSwitch {
		return s.scheduleCutover(ctx, b, o, warnings)
	}
	bt, err := s.CompleteBatch(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := s.dropCutover(ctx, b.ID); err != nil {
		return nil, err
	}
	bt.Cutover = nil
	if len(warnings) > 0 {
		s.log.Warn("Batch completed with users below Good.", "batch", name, "users", len(warnings))
	}
	return &Completion{Batch: *bt, Warnings: warnings}, nil
}
