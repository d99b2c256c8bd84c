package service

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
)

// Pass is one sync pass of a user as it ended: what the HTML report draws
// progress over time from. A pass longer than the job slice is recorded
// once per slice, the slices before the last with outcome PassContinued.
type Pass struct {
	User     string    `json:"email_address"`
	Kind     string    `json:"kind"` // initial, incremental or final
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Copied, Bytes, Skipped and Failed are this pass's.
	Copied  int64 `json:"copied"`
	Bytes   int64 `json:"bytes"`
	Skipped int64 `json:"skipped"`
	Failed  int64 `json:"failed"`
	// ItemsSynced is the user's source messages recorded at the
	// destination after the pass; BytesTotal the bytes copied for the
	// user so far.
	ItemsSynced int64  `json:"items_synced"`
	BytesTotal  int64  `json:"bytes_total"`
	Outcome     string `json:"outcome"`
	// Error says what went wrong, for every outcome but PassOK.
	Error string `json:"error,omitempty"`
}

// Pass outcomes.
const (
	PassOK     = "ok"     // finished, nothing failed
	PassErrors = "errors" // finished, with failed or rejected items or folder errors
	// PassFailed: the pass stopped on an error (a server gone, throttled,
	// a refused login, a full destination); it is retried or the user
	// fails.
	PassFailed = "failed"
	// PassInterrupted: stopped by the admin, by a lost lease or by the
	// process stopping; it resumes where it was when it runs again.
	PassInterrupted = "interrupted"
	// PassContinued: the job slice ended; the next slice goes on at once.
	PassContinued = "continued"
)

var passKinds = map[pass]string{passInitial: "initial", passIncremental: "incremental", passFinal: "final"}

// maxPassHistory is how many passes are kept per user: with 24-hour
// incremental syncs, more than a year.
const maxPassHistory = 500

// maxPassError caps the error text kept with a pass.
const maxPassError = 1000

// recordPass adds the pass the engine just ran to the user's history. err
// is the engine's (with a full destination made an error), rep its report
// (nil or partial after an error), prog the progress it reported. A pass
// that could not be recorded is logged, never failed: the history is a
// record of the work, not part of it.
func (s *Service) recordPass(ctx context.Context, u *userRow, b *batchRow, p pass, started time.Time,
	rep *mailsync.Report, prog *progress, err error) {
	cut, cause := ctx.Err() != nil, context.Cause(ctx)
	ctx = context.WithoutCancel(ctx)
	rec := Pass{Kind: passKinds[p], Started: started, Finished: time.Now()}
	_, rec.Copied = prog.totals()
	rec.Bytes = prog.bytes()
	if rep != nil {
		rec.Copied, rec.Bytes, rec.Failed = int64(rep.Totals.Copied), rep.Totals.Bytes, int64(rep.Totals.Failed)
		rec.Skipped, _, _ = passDetails(rep)
	}
	// The same order as work's: a pass that finished counts as finished
	// even if its context ended just after.
	switch {
	case err == nil && rep.OK():
		rec.Outcome = PassOK
	case err == nil:
		rec.Outcome, rec.Error = PassErrors, summarize(rep)
		if rec.Error == "" {
			rec.Error = "the destination rejected some items: see the skipped items"
		}
	case cut && errors.Is(cause, errSliceOver):
		rec.Outcome, rec.Error = PassContinued, "job slice over: the next slice goes on"
	case cut && (errors.Is(cause, errStopped) || errors.Is(cause, errLeaseLost)):
		rec.Outcome, rec.Error = PassInterrupted, cause.Error()
	case cut:
		rec.Outcome, rec.Error = PassInterrupted, "the worker stopped: the pass resumes at its next start or on another worker"
	default:
		rec.Outcome, rec.Error = PassFailed, err.Error()
	}
	if len(rec.Error) > maxPassError {
		rec.Error = strings.ToValidUTF8(rec.Error[:maxPassError], "") + "…"
	}
	if err := s.insertPass(ctx, u, b, rec); err != nil {
		s.log.Warn("Could not record the pass in the user's history.", "batch", b.Name, "user", u.Email, "err", err)
	}
}

func (s *Service) insertPass(ctx context.Context, u *userRow, b *batchRow, rec Pass) error {
	synced, err := s.syncedCount(ctx, u.ID)
	if err != nil {
		return err
	}
	// Bytes count on from the user's last pass, or from the user's figure
	// when the history begins (passes run before it was kept).
	before := u.Bytes
	err = s.db.QueryRowContext(ctx, `SELECT bytes_total FROM pass_history WHERE user_id = $1 ORDER BY id DESC LIMIT 1`,
		u.ID).Scan(&before)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read pass history of %s: %w", u.Email, err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO pass_history (user_id, batch_id, kind, started_at, finished_at,
		copied, bytes, skipped, failed, items_synced, bytes_total, outcome, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		u.ID, b.ID, rec.Kind, rec.Started.UnixMilli(), rec.Finished.UnixMilli(), rec.Copied, rec.Bytes, rec.Skipped,
		rec.Failed, synced, before+rec.Bytes, rec.Outcome, rec.Error); err != nil {
		return fmt.Errorf("record pass of %s: %w", u.Email, err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM pass_history WHERE user_id = $1 AND id NOT IN
		(SELECT id FROM pass_history WHERE user_id = $1 ORDER BY id DESC LIMIT $2)`, u.ID, maxPassHistory); err != nil {
		return fmt.Errorf("trim pass history of %s: %w", u.Email, err)
	}
	return nil
}

// History lists the passes of a batch's users, oldest first (by the time
// they ended).
func (s *Service) History(ctx context.Context, batchName string) ([]Pass, error) {
	b, err := s.batchByName(ctx, batchName)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT u.email, h.kind, h.started_at, h.finished_at, h.copied, h.bytes, h.skipped,
		h.failed, h.items_synced, h.bytes_total, h.outcome, h.error
		FROM pass_history h JOIN batch_users u ON u.id = h.user_id
		WHERE h.batch_id = $1 ORDER BY h.finished_at, h.id`, b.ID)
	if err != nil {
		return nil, fmt.Errorf("read pass history of batch %q: %w", batchName, err)
	}
	defer rows.Close()
	out := []Pass{}
	for rows.Next() {
		var p Pass
		var started, finished int64
		if err := rows.Scan(&p.User, &p.Kind, &started, &finished, &p.Copied, &p.Bytes, &p.Skipped, &p.Failed,
			&p.ItemsSynced, &p.BytesTotal, &p.Outcome, &p.Error); err != nil {
			return nil, fmt.Errorf("read pass history of batch %q: %w", batchName, err)
		}
		p.Started, p.Finished = time.UnixMilli(started).UTC(), time.UnixMilli(finished).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}
