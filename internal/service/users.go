package service

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// userRow is a migration user as stored, passwords still sealed.
type userRow struct {
	ID, BatchID                  int64
	Email, SourceUser, UserRoot  string
	DestUser                     string
	sourcePassword, destPassword string
	Status                       string
	Validated, InitialDone       bool
	Failures                     int
	ItemsSynced, ItemsSkipped    int64
	SkippedBy                    string
	ItemsFailed, Bytes           int64
	PassToCopy, PassCopied       int64
	LastSync, NextSync           sql.NullInt64
	Throttled                    sql.NullInt64
	DurationMS                   int64
	LastError, Report            string
	// sourceRefresh and destRefresh are the sealed OAuth refresh tokens
	// of the CSV (see oauth.go); "" when none.
	sourceRefresh, destRefresh string
}

const userColumns = `id, batch_id, email, source_user, user_root, dest_user, source_password, dest_password, status,
	validated, initial_done, failures, items_synced, items_skipped, skipped_by, items_failed, bytes,
	pass_to_copy, pass_copied, last_sync_at, next_sync_at, throttled_until, duration_ms, last_error, report,
	source_refresh_token, dest_refresh_token`

func scanUser(row interface{ Scan(...any) error }) (*userRow, error) {
	var u userRow
	var validated, initial int
	err := row.Scan(&u.ID, &u.BatchID, &u.Email, &u.SourceUser, &u.UserRoot, &u.DestUser, &u.sourcePassword, &u.destPassword,
		&u.Status, &validated, &initial, &u.Failures, &u.ItemsSynced, &u.ItemsSkipped, &u.SkippedBy, &u.ItemsFailed, &u.Bytes,
		&u.PassToCopy, &u.PassCopied, &u.LastSync, &u.NextSync, &u.Throttled, &u.DurationMS, &u.LastError, &u.Report,
		&u.sourceRefresh, &u.destRefresh)
	u.Validated, u.InitialDone = validated != 0, initial != 0
	return &u, err
}

// userReport is what batch_users.report holds: the last pass's details.
type userReport struct {
	Folders []Folder `json:"folders"`
	Skipped []Item   `json:"skipped_items"`
	Failed  []Item   `json:"failed_items"`
}

// public turns a row into the API's User; details adds the folders and
// items of the last pass.
func (u *userRow) public(batchName string, details bool) User {
	out := User{
		Batch:          batchName,
		EmailAddress:   u.Email,
		SourceUser:     u.SourceUser,
		DestUser:       u.DestUser,
		UserRoot:       u.UserRoot,
		Status:         u.Status,
		ItemsSynced:    u.ItemsSynced,
		ItemsSkipped:   u.ItemsSkipped,
		SkippedBy:      map[string]int64{},
		ItemsFailed:    u.ItemsFailed,
		Bytes:          u.Bytes,
		ItemsToCopy:    u.PassToCopy,
		ItemsCopied:    u.PassCopied,
		LastSync:       fromMillis(u.LastSync),
		Duration:       float64(u.DurationMS) / 1000,
		LastError:      u.LastError,
		ThrottledUntil: fromMillis(u.Throttled),
	}
	if u.Status == UserSynced || u.Status == UserBlocked {
		out.NextSync = fromMillis(u.NextSync)
	}
	json.Unmarshal([]byte(u.SkippedBy), &out.SkippedBy)
	if details {
		var r userReport
		json.Unmarshal([]byte(u.Report), &r)
		out.Folders, out.SkippedItems, out.FailedItems = r.Folders, r.Skipped, r.Failed
	}
	return out
}

// Batch returns a batch with its users' figures added up.
func (s *Service) Batch(ctx context.Context, name string) (*Batch, error) {
	b, err := s.batchByName(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.summarize(ctx, b)
}

// Batches lists the batches by name.
func (s *Service) Batches(ctx context.Context) ([]Batch, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+batchColumns+` FROM batches ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	var list []*batchRow
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list batches: %w", err)
		}
		list = append(list, b)
	}
	rows.Close()
	out := []Batch{}
	for _, b := range list {
		sb, err := s.summarize(ctx, b)
		if err != nil {
			return nil, err
		}
		out = append(out, *sb)
	}
	return out, nil
}

func (s *Service) summarize(ctx context.Context, b *batchRow) (*Batch, error) {
	src, err := s.endpointByID(ctx, b.SourceID)
	if err != nil {
		return nil, err
	}
	dst, err := s.endpointByID(ctx, b.DestID)
	if err != nil {
		return nil, err
	}
	out := &Batch{
		Name:           b.Name,
		SourceEndpoint: src.Name,
		DestEndpoint:   dst.Name,
		State:          b.State,
		Options:        b.Options,
		Created:        time.UnixMilli(b.Created).UTC(),
		Started:        fromMillis(b.Started),
		Completed:      fromMillis(b.Completed),
		Totals:         BatchTotals{UsersByState: map[string]int{}},
		LastAction:     time.UnixMilli(b.LastAction).UTC(),
	}
	s.markStale(out, time.Now())
	if out.Cutover, err = s.cutoverOf(ctx, b.ID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT status, count(*), CAST(sum(items_synced) AS BIGINT), CAST(sum(items_skipped) AS BIGINT),
		CAST(sum(items_failed) AS BIGINT), CAST(sum(bytes) AS BIGINT), CAST(sum(pass_to_copy) AS BIGINT),
		CAST(sum(pass_copied) AS BIGINT), max(last_sync_at),
		min(CASE WHEN status = $2 THEN next_sync_at END)
		FROM batch_users WHERE batch_id = $1 GROUP BY status`, b.ID, UserSynced)
	if err != nil {
		return nil, fmt.Errorf("add up batch %q: %w", b.Name, err)
	}
	defer rows.Close()
	t := &out.Totals
	for rows.Next() {
		var status string
		var n int
		var synced, skipped, failed, bytes, toCopy, copied int64
		var last, next sql.NullInt64
		if err := rows.Scan(&status, &n, &synced, &skipped, &failed, &bytes, &toCopy, &copied, &last, &next); err != nil {
			return nil, fmt.Errorf("add up batch %q: %w", b.Name, err)
		}
		t.Users += n
		t.UsersByState[status] = n
		t.ItemsSynced += synced
		t.ItemsSkipped += skipped
		t.ItemsFailed += failed
		t.Bytes += bytes
		t.ItemsToCopy += toCopy
		t.ItemsCopied += copied
		if l := fromMillis(last); l != nil && (out.LastSync == nil || l.After(*out.LastSync)) {
			out.LastSync = l
		}
		if n := fromMillis(next); n != nil && (out.NextSync == nil || n.Before(*out.NextSync)) {
			out.NextSync = n
		}
	}
	return out, rows.Err()
}

// Users lists a batch's users, without folder and item details.
func (s *Service) Users(ctx context.Context, batchName string) ([]User, error) {
	return s.users(ctx, batchName, false)
}

// Report lists a batch's users with all details.
func (s *Service) Report(ctx context.Context, batchName string) ([]User, error) {
	return s.users(ctx, batchName, true)
}

func (s *Service) users(ctx context.Context, batchName string, details bool) ([]User, error) {
	b, err := s.batchByName(ctx, batchName)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM batch_users WHERE batch_id = $1 ORDER BY line, email`, b.ID)
	if err != nil {
		return nil, fmt.Errorf("list users of batch %q: %w", batchName, err)
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users of batch %q: %w", batchName, err)
		}
		out = append(out, u.public(b.Name, details))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users of batch %q: %w", batchName, err)
	}
	return out, s.addGrades(ctx, b.ID, 0, out, details)
}

// User returns one user, by e-mail address, with all details.
func (s *Service) User(ctx context.Context, email string) (*User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM batch_users WHERE email = $1`,
		strings.ToLower(strings.TrimSpace(email))))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("user %s: in no batch: %w", email, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read user %s: %w", email, err)
	}
	b, err := s.batchByID(ctx, u.BatchID)
	if err != nil {
		return nil, err
	}
	one := []User{u.public(b.Name, true)}
	if err := s.addGrades(ctx, 0, u.ID, one, true); err != nil {
		return nil, err
	}
	out := one[0]
	if out.Errors, err = s.errorHistory(ctx, u.ID); err != nil {
		return nil, err
	}
	return &out, nil
}

// maxErrorHistory is how many errors are kept per user.
const maxErrorHistory = 50

// setUserError updates a user as setUser does and adds msg to its error
// history, in one transaction: the end of an incremental round (endRound)
// reads a Blocked or Failed user's errors with its status, and must never
// see the status without the error that came with it.
func (s *Service) setUserError(ctx context.Context, userID int64, msg, set string, args ...any) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		args = append(args, userID)
		q := fmt.Sprintf(`UPDATE batch_users SET %s WHERE id = $%d`, set, len(args))
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("update user %d: %w", userID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO batch_user_errors (user_id, at, message) VALUES ($1, $2, $3)`,
			userID, now(), msg); err != nil {
			return fmt.Errorf("record error of user %d: %w", userID, err)
		}
		// Only the newest maxErrorHistory errors are kept.
		if _, err := tx.ExecContext(ctx, `DELETE FROM batch_user_errors WHERE user_id = $1 AND id NOT IN
			(SELECT id FROM batch_user_errors WHERE user_id = $1 ORDER BY id DESC LIMIT $2)`, userID, maxErrorHistory); err != nil {
			return fmt.Errorf("trim error history of user %d: %w", userID, err)
		}
		return nil
	})
}

func (s *Service) errorHistory(ctx context.Context, userID int64) ([]ErrorEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, message FROM batch_user_errors WHERE user_id = $1 ORDER BY id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("read error history of user %d: %w", userID, err)
	}
	defer rows.Close()
	var out []ErrorEvent
	for rows.Next() {
		var at int64
		var e ErrorEvent
		if err := rows.Scan(&at, &e.Message); err != nil {
			return nil, fmt.Errorf("read error history of user %d: %w", userID, err)
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
