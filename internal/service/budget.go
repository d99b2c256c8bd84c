package service

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
)

// Daily byte budgets (issue 6). Some providers cap what one account moves
// over IMAP in a day (Gmail: about 2.5 GB read, 500 MB written) and refuse
// more with [OVERQUOTA]. Rather than meet that refusal, a pass copies at
// most what is left of the budget over the last 24 hours, as the user's
// pass history counts it, and stops there: the user is Synced but behind,
// says so in its last error, and its next pass is due when enough of the
// window has passed. Neither a failure nor an attempt.

// defaultBudgetWindow is the span a daily budget counts over.
const defaultBudgetWindow = 24 * time.Hour

// budgetOverrides holds, per Service, a budget and window that replace
// the profiles' (set by tests: a tiny budget and a window of seconds,
// instead of gigabytes and a day). Keyed by *Service so that tests running
// in parallel each have their own.
var budgetOverrides sync.Map // *Service → budgetOverride

type budgetOverride struct {
	bytes  int64
	window time.Duration
}

// budget is what a user's pass may copy under its endpoints' daily
// budgets.
type budget struct {
	limit  int64         // bytes per window; 0: no budget
	window time.Duration // the window the limit counts over
	left   int64         // limit minus the bytes copied within the window
	// passes are the user's passes within the window that moved bytes,
	// oldest first: when they leave the window, their bytes are free again.
	passes []spent
}

type spent struct {
	at    time.Time
	bytes int64
}

// dailyLimit is the budget of a pass from src to dst: the lower of the
// source's download and the destination's upload budget, where set.
func (s *Service) dailyLimit(src, dst *endpoint) (int64, time.Duration) {
	if o, ok := budgetOverrides.Load(s); ok {
		o := o.(budgetOverride)
		return o.bytes, o.window
	}
	limit := src.prof.DailyDownload
	if up := dst.prof.DailyUpload; up > 0 && (limit == 0 || up < limit) {
		limit = up
	}
	return limit, defaultBudgetWindow
}

// passBudget reads what user u's pass p may copy now: the endpoints'
// daily limit minus the bytes its passes copied within the window. The
// final pass has no budget: it runs after the mail was switched over, and
// a user it left behind would be Completed without its newest mail; a
// provider that refuses more says so with [OVERQUOTA], which is retried
// as throttling.
func (s *Service) passBudget(ctx context.Context, u *userRow, p pass, src, dst *endpoint) (*budget, error) {
	b := &budget{}
	if p == passFinal {
		return b, nil
	}
	b.limit, b.window = s.dailyLimit(src, dst)
	if b.limit <= 0 {
		return b, nil
	}
	since := time.Now().Add(-b.window).UnixMilli()
	rows, err := s.db.QueryContext(ctx, `SELECT finished_at, bytes FROM pass_history
		WHERE user_id = $1 AND finished_at > $2 AND bytes > 0 ORDER BY finished_at`, u.ID, since)
	if err != nil {
		return nil, fmt.Errorf("read the bytes %s copied in the last %v: %w", u.Email, b.window, err)
	}
	defer rows.Close()
	b.left = b.limit
	for rows.Next() {
		var at, n int64
		if err := rows.Scan(&at, &n); err != nil {
			return nil, fmt.Errorf("read the bytes %s copied in the last %v: %w", u.Email, b.window, err)
		}
		b.passes = append(b.passes, spent{time.UnixMilli(at), n})
		b.left -= n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the bytes %s copied in the last %v: %w", u.Email, b.window, err)
	}
	return b, nil
}

// maxBytes is the engine's Options.MaxBytes for the pass: 0 (no cap)
// without a budget.
func (b *budget) maxBytes() int64 {
	if b.limit <= 0 {
		return 0
	}
	return b.left
}

// spentUp reports whether nothing is left to copy with.
func (b *budget) spentUp() bool { return b.limit > 0 && b.left <= 0 }

// freeAt is when the window will have freed need bytes more than are left
// now: the time the oldest passes leave it. need is capped by the limit, so
// a large backlog waits for the whole budget, never longer.
func (b *budget) freeAt(need int64) time.Time {
	need = min(max(need, 1), b.limit)
	left := b.left
	for _, p := range b.passes {
		left += p.bytes
		if left >= need {
			return p.at.Add(b.window)
		}
	}
	return time.Now().Add(b.window)
}

// waitForBudget puts off a pass whose budget is spent before it starts
// (sync-now, or an interval shorter than the window): the job comes back
// when the window frees some, without using an attempt.
func (s *Service) waitForBudget(ctx context.Context, u *userRow, b *budget, log *slog.Logger) error {
	at := b.freeAt(1)
	msg := fmt.Sprintf("daily budget reached (%s in %v); continuing at %s", megabytes(b.limit), b.window, at.UTC().Format("2006-01-02 15:04:05 MST"))
	log.Info("Daily budget spent; the pass waits.", "until", at.UTC().Format(time.RFC3339))
	if err := s.setUser(context.WithoutCancel(ctx), u.ID, "last_error = $1", msg); err != nil {
		return err
	}
	return river.JobSnooze(max(time.Until(at), time.Second))
}

// budgetReached follows a pass the budget stopped short (rep.BudgetReached,
// after finishPass recorded it as finished): the user stays Synced, its last
// error says how much is left and when the next pass goes on, and that
// pass is due when the window frees what is left, or the whole budget.
func (s *Service) budgetReached(ctx context.Context, u *userRow, b *budget, rep *mailsync.Report, log *slog.Logger) error {
	// The pass just recorded counts against the window too.
	b.passes = append(b.passes, spent{time.Now(), rep.Totals.Bytes})
	b.left -= rep.Totals.Bytes
	at := b.freeAt(rep.Totals.DeferredBytes)
	msg := fmt.Sprintf("daily budget reached; %d messages left (%s), continuing at %s",
		rep.Totals.Deferred, megabytes(rep.Totals.DeferredBytes), at.UTC().Format("2006-01-02 15:04:05 MST"))
	log.Info("Daily budget reached; the rest waits for the next pass.", "deferred", rep.Totals.Deferred, "next", at.UTC().Format(time.RFC3339))
	return s.setUser(context.WithoutCancel(ctx), u.ID, "last_error = $1, next_sync_at = $2", msg, at.UnixMilli())
}

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
