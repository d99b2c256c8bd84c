package service

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/batch"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
)

// userAD binds a sealed password to its user and column.
func userAD(email, column string) string { return "batch_users/" + email + "/" + column }

// batchRow is a batch as stored.
type batchRow struct {
	ID, SourceID, DestID int64
	Name, State          string
	Options              BatchOptions
	Created              int64
	Started, Completed   sql.NullInt64
	// LastAction is when the admin last acted on the batch (its creation
	// at first), in Unix milliseconds.
	LastAction int64
}

func (b *batchRow) interval() time.Duration {
	if b.Options.IncrementalIntervalSeconds > 0 {
		return time.Duration(b.Options.IncrementalIntervalSeconds) * time.Second
	}
	return DefaultInterval
}

const batchColumns = `id, source_endpoint_id, dest_endpoint_id, name, state, options, created_at, started_at, completed_at,
	COALESCE(last_action_at, created_at)`

func scanBatch(row interface{ Scan(...any) error }) (*batchRow, error) {
	var b batchRow
	var opts string
	if err := row.Scan(&b.ID, &b.SourceID, &b.DestID, &b.Name, &b.State, &opts, &b.Created, &b.Started, &b.Completed, &b.LastAction); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(opts), &b.Options); err != nil {
		return nil, fmt.Errorf("batch %q options: %w", b.Name, err)
	}
	return &b, nil
}

func (s *Service) batchByName(ctx context.Context, name string) (*batchRow, error) {
	b, err := scanBatch(s.db.QueryRowContext(ctx, `SELECT `+batchColumns+` FROM batches WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("batch %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read batch %q: %w", name, err)
	}
	return b, nil
}

func (s *Service) batchByID(ctx context.Context, id int64) (*batchRow, error) {
	b, err := scanBatch(s.db.QueryRowContext(ctx, `SELECT `+batchColumns+` FROM batches WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("batch %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read batch %d: %w", id, err)
	}
	return b, nil
}

// checkOptions validates batch options and fills nothing: zero values mean
// the defaults, so that a later change of a default applies.
func checkOptions(o BatchOptions) error {
	var problems []string
	if o.MaxMessageSize < 0 {
		problems = append(problems, "max_message_size: cannot be negative")
	}
	if o.MaxItems < 0 {
		problems = append(problems, "max_items: cannot be negative")
	}
	if o.IncrementalIntervalSeconds < 0 || (o.IncrementalIntervalSeconds > 0 && o.IncrementalIntervalSeconds < 10) {
		problems = append(problems, "incremental_interval_seconds: at least 10 seconds")
	}
	for _, a := range o.NotificationEmails {
		if !strings.Contains(a, "@") || strings.ContainsAny(a, " <>") {
			problems = append(problems, fmt.Sprintf("notification_emails: %q is not an address", a))
		}
	}
	if o.GmailLabels != "" && o.GmailLabels != mailsync.GmailLabelsFolders && o.GmailLabels != mailsync.GmailLabelsKeywords {
		problems = append(problems, fmt.Sprintf("gmail_labels: %q is not folders or keywords", o.GmailLabels))
	}
	problems = append(problems, scheduleProblems(o)...)
	problems = append(problems, checkWelcome(o.Welcome)...)
	problems = append(problems, mxHostProblems(o.ExpectMX)...)
	if len(problems) > 0 {
		return fmt.Errorf("batch options: %s: %w", strings.Join(problems, "; "), ErrInvalid)
	}
	return nil
}

// parseUsers checks a CSV file against the batch's endpoints and the
// users already in any batch: everything wrong is reported at once.
func (s *Service) parseUsers(ctx context.Context, csv string, src, dst *endpoint) ([]batch.Row, error) {
	rows, problems := batch.Parse([]byte(csv), batch.Options{PasswordOptional: src.Credentials != CredentialsPerUser})
	if len(problems) == 0 {
		problems = refreshProblems(rows, src, dst)
	}
	if len(problems) == 0 && dst.Credentials == CredentialsPerUser {
		for _, r := range rows {
			if r.DestUserName == "" || r.DestPassword == "" {
				problems = append(problems, batch.Problem{Line: r.Line, Column: "DestinationUserName",
					Message: fmt.Sprintf("destination endpoint %q logs in per user: DestinationUserName and DestinationPassword are needed (or give the endpoint admin credentials)", dst.Name)})
			}
		}
	}
	if len(problems) == 0 {
		for _, r := range rows {
			var other string
			err := s.db.QueryRowContext(ctx,
				`SELECT b.name FROM batch_users u JOIN batches b ON b.id = u.batch_id WHERE u.email = $1`,
				strings.ToLower(r.EmailAddress)).Scan(&other)
			if err == nil {
				problems = append(problems, batch.Problem{Line: r.Line, Column: "EmailAddress",
					Message: fmt.Sprintf("%s is already in batch %q (a mailbox is in one batch at a time)", r.EmailAddress, other)})
			} else if !errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("check users: %w", err)
			}
		}
	}
	if len(problems) > 0 {
		return nil, &CSVError{Problems: problems}
	}
	return rows, nil
}

// CreateBatch checks the CSV file whole and creates the batch with its
// users, or with spec.DryRun returns what it would create.
func (s *Service) CreateBatch(ctx context.Context, spec BatchSpec) (*Batch, *BatchPlan, error) {
	spec.Name = strings.TrimSpace(spec.Name)
	if spec.Name == "" || strings.ContainsAny(spec.Name, "/ \t") {
		return nil, nil, fmt.Errorf("create batch: name: required, without spaces or slashes: %w", ErrInvalid)
	}
	if err := checkOptions(spec.Options); err != nil {
		return nil, nil, err
	}
	inUTC(&spec.Options)
	src, err := s.endpointByName(ctx, spec.SourceEndpoint)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, fmt.Errorf("create batch %q: source endpoint %q does not exist: %w", spec.Name, spec.SourceEndpoint, ErrInvalid)
	}
	if err != nil {
		return nil, nil, err
	}
	dst, err := s.endpointByName(ctx, spec.DestEndpoint)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, fmt.Errorf("create batch %q: destination endpoint %q does not exist: %w", spec.Name, spec.DestEndpoint, ErrInvalid)
	}
	if err != nil {
		return nil, nil, err
	}
	if _, err := s.batchByName(ctx, spec.Name); err == nil {
		return nil, nil, fmt.Errorf("create batch %q: a batch of that name exists: %w", spec.Name, ErrConflict)
	}
	rows, err := s.parseUsers(ctx, spec.CSV, src, dst)
	if err != nil {
		return nil, nil, err
	}
	if spec.DryRun {
		plan := &BatchPlan{Name: spec.Name, Users: []PlanUser{}}
		for _, r := range rows {
			plan.Users = append(plan.Users, PlanUser{Line: r.Line, EmailAddress: r.EmailAddress,
				SourceLogin: src.login(r.UserName, "").User, DestinationUser: dst.login(destUser(r), "").User, UserRoot: r.UserRoot})
		}
		return nil, plan, nil
	}

	opts, _ := json.Marshal(spec.Options)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO batches (name, source_endpoint_id, dest_endpoint_id, state, options, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			spec.Name, src.ID, dst.ID, BatchCreated, string(opts), now()).Scan(&id)
		if isUniqueViolation(err) {
			return fmt.Errorf("create batch %q: a batch of that name exists: %w", spec.Name, ErrConflict)
		}
		if err != nil {
			return err
		}
		return s.insertUsers(ctx, tx, id, rows)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("create batch %q: %w", spec.Name, err)
	}
	s.log.Info("Batch created.", "batch", spec.Name, "users", len(rows))
	if spec.Start {
		b, err := s.StartBatch(ctx, spec.Name)
		return b, nil, err
	}
	b, err := s.Batch(ctx, spec.Name)
	return b, nil, err
}

func destUser(r batch.Row) string {
	if r.DestUserName != "" {
		return r.DestUserName
	}
	return r.EmailAddress
}

func (s *Service) insertUsers(ctx context.Context, tx *sql.Tx, batchID int64, rows []batch.Row) error {
	for _, r := range rows {
		email := strings.ToLower(r.EmailAddress)
		srcPw, err := s.cfg.Key.Seal(r.Password, userAD(email, "source_password"))
		if err != nil {
			return err
		}
		dstPw, err := s.cfg.Key.Seal(r.DestPassword, userAD(email, "dest_password"))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO batch_users
			(batch_id, email, line, source_user, source_password, user_root, dest_user, dest_password, status, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			batchID, email, r.Line, r.UserName, srcPw, r.UserRoot, destUser(r), dstPw, UserQueued, now())
		if isUniqueViolation(err) {
			return &CSVError{Problems: []batch.Problem{{Line: r.Line, Column: "EmailAddress",
				Message: r.EmailAddress + " is already in a batch"}}}
		}
		if err != nil {
			return fmt.Errorf("add user %s: %w", email, err)
		}
		if err := s.sealRefreshTokens(ctx, tx, email, r); err != nil {
			return fmt.Errorf("add user %s: %w", email, err)
		}
	}
	return nil
}

// inTx runs f in a transaction. On SQLite the service has one connection:
// f must use tx only.
func (s *Service) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// transition moves a batch from one of the states in from to state `to`,
// then runs f (in the same transaction) to move its users.
func (s *Service) transition(ctx context.Context, name, op string, from []string, to string, f func(tx *sql.Tx, b *batchRow) error) (*Batch, error) {
	b, err := s.batchByName(ctx, name)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(from, b.State) {
		return nil, fmt.Errorf("%s batch %q: not possible while it is %s (possible when %s): %w",
			op, name, b.State, strings.Join(from, ", "), ErrConflict)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE batches SET state = $1, last_action_at = $4 WHERE id = $2 AND state = $3`,
			to, b.ID, b.State, now())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("the batch changed state meanwhile: %w", ErrConflict)
		}
		if f != nil {
			return f(tx, b)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s batch %q: %w", op, name, err)
	}
	s.log.Info("Batch "+op+".", "batch", name, "from", b.State, "to", to)
	s.wake()
	return s.Batch(ctx, name)
}

// StartBatch starts a created or stopped batch: its users are queued for
// their initial sync (or, when they had one, an incremental sync). Before
// the batch's start-after time it is Scheduled instead, and the scheduler
// starts it then (see startDue).
func (s *Service) StartBatch(ctx context.Context, name string) (*Batch, error) {
	if b, err := s.scheduleStart(ctx, name); b != nil || err != nil {
		return b, err
	}
	return s.startNow(ctx, name, "start")
}

// startNow moves a batch to Syncing and queues its users.
func (s *Service) startNow(ctx context.Context, name, op string) (*Batch, error) {
	return s.transition(ctx, name, op, []string{BatchCreated, BatchStopped, BatchFailed, BatchScheduled}, BatchSyncing,
		func(tx *sql.Tx, b *batchRow) error {
			if _, err := tx.ExecContext(ctx, `UPDATE batches SET started_at = $1 WHERE id = $2 AND started_at IS NULL`, now(), b.ID); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE batch_users SET status = $1, enqueued_at = NULL
				WHERE batch_id = $2 AND status IN ($3, $4)`, UserQueued, b.ID, UserStopped, UserQueued)
			return err
		})
}

// StopBatch stops a batch: running passes are cancelled (the next start
// resumes where they were) and no incremental sync runs until it starts
// again. Failed, Completed and Blocked users keep their status: each says
// what the admin has to know or do.
func (s *Service) StopBatch(ctx context.Context, name string) (*Batch, error) {
	return s.transition(ctx, name, "stop", []string{BatchScheduled, BatchSyncing, BatchSynced, BatchSyncedWithErrors, BatchCompleting}, BatchStopping,
		func(tx *sql.Tx, b *batchRow) error {
			_, err := tx.ExecContext(ctx, `UPDATE batch_users SET status = $1 WHERE batch_id = $2 AND status NOT IN ($3, $4, $5)`,
				UserStopped, b.ID, UserFailed, UserCompleted, UserBlocked)
			return err
		})
}

// CompleteBatch runs a final incremental sync of every synced user, after
// which the batch is Completed and syncs no more.
func (s *Service) CompleteBatch(ctx context.Context, name string) (*Batch, error) {
	return s.transition(ctx, name, "complete", []string{BatchSynced, BatchSyncedWithErrors}, BatchCompleting,
		func(tx *sql.Tx, b *batchRow) error {
			_, err := tx.ExecContext(ctx, `UPDATE batch_users SET status = $1, enqueued_at = NULL WHERE batch_id = $2 AND status = $3`,
				UserCompleting, b.ID, UserSynced)
			return err
		})
}

// SyncNow runs an incremental sync of every synced user now, and tries
// the blocked ones again.
func (s *Service) SyncNow(ctx context.Context, name string) (*Batch, error) {
	b, err := s.batchByName(ctx, name)
	if err != nil {
		return nil, err
	}
	if !slices.Contains([]string{BatchSyncing, BatchSynced, BatchSyncedWithErrors}, b.State) {
		return nil, fmt.Errorf("sync batch %q now: not possible while it is %s (start it first): %w", name, b.State, ErrConflict)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE batch_users SET next_sync_at = $1, enqueued_at = NULL WHERE batch_id = $2 AND status IN ($3, $4)`,
			now(), b.ID, UserSynced, UserBlocked); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE batches SET last_action_at = $1 WHERE id = $2`, now(), b.ID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sync batch %q now: %w", name, err)
	}
	s.log.Info("Incremental sync requested.", "batch", name)
	s.wake()
	return s.Batch(ctx, name)
}

// RetryFailed queues the failed and the blocked users of a batch again,
// validation included; the others are left alone.
func (s *Service) RetryFailed(ctx context.Context, name string) (*Batch, error) {
	b, err := s.batchByName(ctx, name)
	if err != nil {
		return nil, err
	}
	to := b.State
	switch b.State {
	case BatchSynced, BatchSyncedWithErrors, BatchFailed, BatchSyncing:
		to = BatchSyncing
	case BatchCompleting, BatchStopped, BatchCreated, BatchScheduled:
	default:
		return nil, fmt.Errorf("retry failed users of batch %q: not possible while it is %s: %w", name, b.State, ErrConflict)
	}
	status := UserQueued
	if b.State == BatchStopped || b.State == BatchCreated || b.State == BatchScheduled {
		status = UserStopped
	}
	if b.State == BatchCompleting {
		status = UserCompleting
	}
	return s.transition(ctx, name, "retry failed users of", []string{b.State}, to, func(tx *sql.Tx, b *batchRow) error {
		_, err := tx.ExecContext(ctx, `UPDATE batch_users SET status = $1, validated = 0, failures = 0, enqueued_at = NULL
			WHERE batch_id = $2 AND status IN ($3, $4)`, status, b.ID, UserFailed, UserBlocked)
		return err
	})
}

// RemoveBatch removes a batch, its users, their stored credentials and
// sync state. Mail is never deleted, at the source or the destination. The
// removal finishes in the background once no worker holds a user.
func (s *Service) RemoveBatch(ctx context.Context, name string) error {
	b, err := s.batchByName(ctx, name)
	if err != nil {
		return err
	}
	if b.State == BatchRemoving {
		return nil
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE batches SET state = $1 WHERE id = $2`, BatchRemoving, b.ID); err != nil {
			return err
		}
		// The credentials go at once, before the rows; running passes stop.
		_, err := tx.ExecContext(ctx, `UPDATE batch_users SET source_password = '', dest_password = '',
			source_refresh_token = '', dest_refresh_token = '',
			status = CASE WHEN status IN ($1, $2) THEN status ELSE $3 END WHERE batch_id = $4`,
			UserFailed, UserCompleted, UserStopped, b.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove batch %q: %w", name, err)
	}
	s.log.Info("Batch removal started.", "batch", name)
	s.wake()
	return nil
}

// AddUsers adds the users of a CSV file to a batch; in a running batch
// they are queued at once.
func (s *Service) AddUsers(ctx context.Context, name, csv string) (int, error) {
	b, err := s.batchByName(ctx, name)
	if err != nil {
		return 0, err
	}
	status := UserQueued
	to := b.State
	switch b.State {
	case BatchCreated, BatchScheduled:
	case BatchStopped, BatchStopping:
		status = UserStopped
	case BatchSyncing, BatchSynced, BatchSyncedWithErrors, BatchFailed:
		to = BatchSyncing
	default:
		return 0, fmt.Errorf("add users to batch %q: not possible while it is %s: %w", name, b.State, ErrConflict)
	}
	src, err := s.endpointByID(ctx, b.SourceID)
	if err != nil {
		return 0, err
	}
	dst, err := s.endpointByID(ctx, b.DestID)
	if err != nil {
		return 0, err
	}
	rows, err := s.parseUsers(ctx, csv, src, dst)
	if err != nil {
		return 0, err
	}
	_, err = s.transition(ctx, name, "add users to", []string{b.State}, to, func(tx *sql.Tx, b *batchRow) error {
		if err := s.insertUsers(ctx, tx, b.ID, rows); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE batch_users SET status = $1 WHERE batch_id = $2 AND status = $3`, status, b.ID, UserQueued)
		return err
	})
	if err != nil {
		return 0, err
	}
	return len(rows), nil
}
