package service

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// requeueAfter is how long the scheduler trusts a queued job before it
// inserts it again (a unique insert: a job still there is not doubled).
const requeueAfter = time.Minute

// requeueRunning is how soon the scheduler inserts again a job that was
// absorbed by the user's job still running. That job may be ending a pass
// begun before the need arose (CompleteBatch or SyncNow just as a pass
// ends: River marks a job completed a moment after it returns), and would
// leave the need unserved for requeueAfter. Only running jobs are asked
// again so often, and there are at most as many as workers.
const requeueRunning = 2 * time.Second

// schedule runs the scheduler until ctx ends.
func (s *Service) schedule(ctx context.Context) {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		if err := s.tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("Scheduler pass failed; trying again.", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.poke:
		}
	}
}

// tick is one scheduler pass.
func (s *Service) tick(ctx context.Context) error {
	if err := s.startDue(ctx); err != nil {
		return err
	}
	if err := s.completeDue(ctx); err != nil {
		return err
	}
	if err := s.cutovers(ctx); err != nil {
		return err
	}
	if err := s.enqueue(ctx); err != nil {
		return err
	}
	ids, err := s.batchIDs(ctx, `state IN ($1, $2, $3, $4, $5)`,
		BatchSyncing, BatchSynced, BatchSyncedWithErrors, BatchCompleting, BatchStopping)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.settle(ctx, id); err != nil {
			return err
		}
	}
	if err := s.mailTick(ctx); err != nil {
		return err
	}
	ids, err = s.batchIDs(ctx, `state = $1`, BatchRemoving)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.remove(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) batchIDs(ctx context.Context, where string, args ...any) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM batches WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// completeDue completes the synced batches whose complete-after time has
// come.
func (s *Service) completeDue(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+batchColumns+` FROM batches WHERE state IN ($1, $2)`,
		BatchSynced, BatchSyncedWithErrors)
	if err != nil {
		return fmt.Errorf("find batches to complete: %w", err)
	}
	var due []string
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			rows.Close()
			return err
		}
		if at := b.Options.CompleteAfter; at != nil && !at.After(time.Now()) {
			due = append(due, b.Name)
		}
	}
	rows.Close()
	for _, name := range due {
		s.log.Info("Completing the batch: its complete-after time has come.", "batch", name)
		if _, err := s.CompleteBatch(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// enqueue inserts a job for every user that needs a pass: queued users of
// running batches, synced users whose incremental sync is due, blocked
// users whose retry is due, and users of completing batches.
func (s *Service) enqueue(ctx context.Context) error {
	at := now()
	// Users left Validating or Syncing by a worker that died are queued
	// again too: their job, if it still exists, absorbs the insert.
	rows, err := s.db.QueryContext(ctx, `SELECT u.id FROM batch_users u JOIN batches b ON b.id = u.batch_id
		WHERE ((b.state IN ($1, $2, $3) AND (u.status IN ($4, $10, $11, $12) OR (u.status IN ($5, $13) AND u.next_sync_at <= $6)))
			OR (b.state = $7 AND (u.status IN ($4, $8, $10, $11, $12) OR (u.status = $13 AND u.next_sync_at <= $6))))
		AND (u.enqueued_at IS NULL OR u.enqueued_at < $9)
		ORDER BY u.id LIMIT 1000`,
		BatchSyncing, BatchSynced, BatchSyncedWithErrors, UserQueued, UserSynced, at,
		BatchCompleting, UserCompleting, at-requeueAfter.Milliseconds(),
		UserValidating, UserSyncing, UserIncrementalSyncing, UserBlocked)
	if err != nil {
		return fmt.Errorf("find users to sync: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		res, err := s.queue.Insert(ctx, mailboxArgs{UserID: id}, nil)
		if err != nil {
			return fmt.Errorf("queue user %d: %w", id, err)
		}
		queued := at
		if res.UniqueSkippedAsDuplicate && res.Job != nil && res.Job.State == rivertype.JobStateRunning {
			queued = at - (requeueAfter - requeueRunning).Milliseconds()
		}
		if err := s.setUser(ctx, id, "enqueued_at = $1", queued); err != nil {
			return err
		}
	}
	return nil
}

// settle moves a batch to the state its users are in: Syncing until every
// user has had its initial pass, then Synced, SyncedWithErrors or Failed;
// Completing until every user is Completed, Failed or Blocked; Stopping
// until no worker holds one of its users.
//
// A Blocked user (destination over quota) counts as a failed one does:
// the batch is SyncedWithErrors, as Exchange calls a batch some of whose
// users need the admin, and it does not wait for the user to complete.
// But a batch whose users are all Failed or Blocked is Failed only when
// none is Blocked: a Failed batch runs nothing, and a Blocked user's
// retries must go on so that it resumes once the quota is raised.
func (s *Service) settle(ctx context.Context, batchID int64) error {
	b, err := s.batchByID(ctx, batchID)
	if err != nil {
		return err
	}
	if b.State == BatchCompleting {
		// A pass that began before the batch was completed (an incremental
		// sync, or one that read the batch just before) ends Synced; such a
		// user still needs its final pass.
		res, err := s.db.ExecContext(ctx, `UPDATE batch_users SET status = $1, enqueued_at = NULL WHERE batch_id = $2 AND status = $3`,
			UserCompleting, batchID, UserSynced)
		if err != nil {
			return fmt.Errorf("settle batch %q: %w", b.Name, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			s.log.Info("Users synced after the batch was completed need their final pass.", "batch", b.Name, "users", n)
			s.wake()
		}
	}
	counts := map[string]int{}
	var users, withErrors int
	rows, err := s.db.QueryContext(ctx, `SELECT status, count(*), CAST(sum(CASE WHEN items_failed > 0 OR last_error <> '' THEN 1 ELSE 0 END) AS BIGINT)
		FROM batch_users WHERE batch_id = $1 GROUP BY status`, batchID)
	if err != nil {
		return fmt.Errorf("settle batch %q: %w", b.Name, err)
	}
	for rows.Next() {
		var status string
		var n, e int
		if err := rows.Scan(&status, &n, &e); err != nil {
			rows.Close()
			return err
		}
		counts[status], users, withErrors = n, users+n, withErrors+e
	}
	rows.Close()
	pending := counts[UserQueued] + counts[UserValidating] + counts[UserSyncing]
	var leased int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM leases l JOIN batch_users u ON u.id = l.user_id
		WHERE u.batch_id = $1 AND l.expires_at >= $2`, batchID, now()).Scan(&leased); err != nil {
		return fmt.Errorf("settle batch %q: %w", b.Name, err)
	}

	to := b.State
	switch b.State {
	case BatchSyncing, BatchSynced, BatchSyncedWithErrors:
		switch {
		case pending > 0:
			to = BatchSyncing
		case users > 0 && counts[UserFailed] == users:
			to = BatchFailed
		case counts[UserFailed] > 0 || counts[UserBlocked] > 0 || withErrors > 0:
			to = BatchSyncedWithErrors
		default:
			to = BatchSynced
		}
	case BatchCompleting:
		if counts[UserCompleted]+counts[UserFailed]+counts[UserBlocked] == users {
			to = BatchCompleted
		}
	case BatchStopping:
		if leased == 0 {
			to = BatchStopped
		}
	}
	if to == b.State {
		return nil
	}
	set, args := `state = $1`, []any{to, b.ID, b.State}
	if to == BatchCompleted {
		set, args = `state = $1, completed_at = $4`, append(args, now())
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE batches SET `+set+` WHERE id = $2 AND state = $3`, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 || to != BatchStopped {
			return nil
		}
		// A pass stopped just after it began may have written its status
		// over the Stopped of StopBatch: no user of a stopped batch is
		// shown in a pass.
		_, err = tx.ExecContext(ctx, `UPDATE batch_users SET status = $1 WHERE batch_id = $2 AND status IN ($3, $4, $5, $6, $7)`,
			UserStopped, b.ID, UserQueued, UserValidating, UserSyncing, UserIncrementalSyncing, UserCompleting)
		return err
	})
	if err != nil {
		return fmt.Errorf("settle batch %q: %w", b.Name, err)
	}
	s.log.Info("Batch state changed.", "batch", b.Name, "from", b.State, "to", to)
	s.batchEntered(ctx, b, to)
	return nil
}

// remove deletes a Removing batch once no worker holds one of its users:
// the users, their sync state and the batch. Mail stays where it is.
func (s *Service) remove(ctx context.Context, batchID int64) error {
	var leased int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM leases l JOIN batch_users u ON u.id = l.user_id
		WHERE u.batch_id = $1 AND l.expires_at >= $2`, batchID, now()).Scan(&leased); err != nil {
		return fmt.Errorf("remove batch %d: %w", batchID, err)
	}
	if leased > 0 {
		return nil
	}
	b, err := s.batchByID(ctx, batchID)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sync_folders WHERE mailbox IN
			(SELECT 'batch_users/' || CAST(id AS TEXT) FROM batch_users WHERE batch_id = $1)`, batchID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE user_id IN (SELECT id FROM batch_users WHERE batch_id = $1)`, batchID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM batch_users WHERE batch_id = $1`, batchID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM batches WHERE id = $1`, batchID)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove batch %q: %w", b.Name, err)
	}
	s.log.Info("Batch removed.", "batch", b.Name)
	if !s.pg {
		s.checkpoint(ctx, b.Name)
	}
	return nil
}

// checkpoint empties SQLite's WAL after a batch is removed: it still holds
// the pages of the batch's users, sealed passwords included. The store
// opens the file with secure_delete, so the database itself keeps none.
func (s *Service) checkpoint(ctx context.Context, batch string) {
	var busy, frames, done int
	err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done)
	if err == nil && busy != 0 {
		err = errors.New("the database is busy")
	}
	if err != nil {
		s.log.Warn("Could not empty the database's WAL after removing a batch; the removed users' sealed passwords stay in it until the next checkpoint.",
			"batch", batch, "err", err)
	}
}
