package service

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// lease is this process's claim on one user's mailbox and on a slot at
// both of its endpoints.
type lease struct {
	s      *Service
	userID int64
}

// errNoSlot means the mailbox is being migrated elsewhere or an endpoint
// is at its cap; the job waits and tries again.
var errNoSlot = errors.New("no free slot")

// acquire claims the user's mailbox and a slot at both endpoints, within
// their caps (all migrations, and incremental ones among them). Expired
// leases, of workers that died, are cleared first.
//
// The claim fails while the batch is stopping, stopped or being removed:
// the caller read the batch before, and StopBatch may have come since.
// settle counts leases to call a batch Stopped (and remove counts them to
// delete its users), so a lease taken after that count would let a worker
// copy mail in a batch shown as Stopped, or migrate a removed user.
func (s *Service) acquire(ctx context.Context, userID int64, src, dst *endpoint, incremental bool) (*lease, error) {
	return s.claim(ctx, userID, src, dst, incremental, passMayRun)
}

// passMayRun says why a pass may not run in a batch in state for a user
// with status, or nil.
func passMayRun(state, status string) error {
	switch {
	case state != BatchSyncing && state != BatchSynced && state != BatchSyncedWithErrors && state != BatchCompleting:
		return fmt.Errorf("the batch is %s: %w", state, errNoSlot)
	case status == UserStopped:
		return fmt.Errorf("the user is %s: %w", status, errNoSlot)
	}
	return nil
}

// claim is acquire for any work on a mailbox (a pass, a verification):
// mayRun says, from the batch's state and the user's status read in the
// claim's transaction, why the work may not run now.
func (s *Service) claim(ctx context.Context, userID int64, src, dst *endpoint, incremental bool, mayRun func(state, status string) error) (*lease, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.pg {
			// One claim at a time across all workers: counting and
			// inserting must not interleave. Claims are rare (one per
			// job slice), so a table lock costs nothing that matters.
			if _, err := tx.ExecContext(ctx, `LOCK TABLE leases IN EXCLUSIVE MODE`); err != nil {
				return err
			}
		}
		// On PostgreSQL, FOR SHARE makes a concurrent StopBatch or
		// RemoveBatch wait for this claim, or this claim see their state.
		// SQLite's one connection serialises them anyway.
		q := `SELECT b.state, u.status FROM batch_users u JOIN batches b ON b.id = u.batch_id WHERE u.id = $1`
		if s.pg {
			q += ` FOR SHARE OF b`
		}
		var state, status string
		err := tx.QueryRowContext(ctx, q, userID).Scan(&state, &status)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user %d is removed: %w", userID, errNoSlot)
		}
		if err != nil {
			return err
		}
		if err := mayRun(state, status); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE expires_at < $1`, now()); err != nil {
			return err
		}
		var held int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM leases WHERE user_id = $1`, userID).Scan(&held); err != nil {
			return err
		}
		if held > 0 {
			return fmt.Errorf("mailbox is being migrated by another worker: %w", errNoSlot)
		}
		for _, e := range []*endpoint{src, dst} {
			var all, incr int
			err := tx.QueryRowContext(ctx, `SELECT count(*), COALESCE(CAST(sum(incremental) AS BIGINT), 0) FROM leases
				WHERE source_endpoint_id = $1 OR dest_endpoint_id = $1`, e.ID).Scan(&all, &incr)
			if err != nil {
				return err
			}
			if all >= e.MaxConcurrentMigrations {
				return fmt.Errorf("endpoint %q has %d migrations running (MaxConcurrentMigrations): %w", e.Name, all, errNoSlot)
			}
			if incremental && incr >= e.MaxConcurrentIncrementalSyncs {
				return fmt.Errorf("endpoint %q has %d incremental syncs running (MaxConcurrentIncrementalSyncs): %w", e.Name, incr, errNoSlot)
			}
		}
		inc := 0
		if incremental {
			inc = 1
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO leases (user_id, holder, incremental, source_endpoint_id, dest_endpoint_id, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, userID, s.holder, inc, src.ID, dst.ID, now()+s.cfg.LeaseTTL.Milliseconds())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &lease{s: s, userID: userID}, nil
}

// renew extends the lease; false means it was lost (expired and taken, or
// the user removed), and the work must stop.
func (l *lease) renew(ctx context.Context) (bool, error) {
	res, err := l.s.db.ExecContext(ctx, `UPDATE leases SET expires_at = $1 WHERE user_id = $2 AND holder = $3`,
		now()+l.s.cfg.LeaseTTL.Milliseconds(), l.userID, l.s.holder)
	if err != nil {
		return true, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// release gives the slot back. It runs even when the job's context is
// done, so that the next job does not wait for the lease to expire.
func (l *lease) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*l.s.cfg.LeaseTTL)
	defer cancel()
	if _, err := l.s.db.ExecContext(ctx, `DELETE FROM leases WHERE user_id = $1 AND holder = $2`, l.userID, l.s.holder); err != nil {
		l.s.log.Warn("Could not release a lease; it will expire.", "user_id", l.userID, "err", err)
	}
}
