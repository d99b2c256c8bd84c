package service

// Batch reports by mail, like Exchange's NotificationEmails, and the
// machinery that delivers every mail of the service (reports and welcome
// letters, see welcome.go) exactly once as far as SMTP allows.
//
// How a report goes out:
//   - An event is claimed in the database first: a row of notifications
//     under the unique key (batch, event, round), written by whichever
//     process sees the event. A second process (several workers on
//     PostgreSQL), a second call, or a restart that sees it again finds
//     the key taken and sends nothing.
//   - Then a River job per row (a unique job) sends it. A send that fails
//     is tried again by River with a backoff (Mail.Retry, times 4 at each
//     attempt, 5 attempts); its outcome is written to the row.
//   - A process that dies between the claim and the job's insert, or with
//     the job running, leaves a pending row: the scheduler inserts its job
//     again at its first tick and every minute after (the insert is unique,
//     so a live job absorbs it).
//   - The Message-ID is chosen at the claim, so the rare mail sent twice
//     (the process died after the server took it and before the row said
//     so) carries the same Message-ID, which mail programs show once.
//
// Events:
//   - initial_sync: the batch leaves Syncing for Synced, SyncedWithErrors
//     or Failed for the first time (round 0: once per batch).
//   - incremental_errors: an incremental round ended with errors. A round
//     ends when the synced batch is idle again (no user queued, in a pass,
//     or due for one) after at least one user finished a pass, or failed,
//     since the previous round ended (or since the initial sync): the
//     passes of one interval run close together and end together. The
//     round had errors when one of those users ended its pass with an
//     error or failed items, failed, or is Blocked with an error since.
//     Rounds are numbered per batch (batches.notify_round).
//   - completed: the batch is Completed.

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/riverqueue/river"

	"github.com/imapmigrate/imapmigrate/internal/config"
	"github.com/imapmigrate/imapmigrate/internal/notify"
)

// Mail configures the mail the service sends. Without an SMTP host it
// sends none: no event is claimed and welcome letters cannot be sent.
// Every process on a database (serve and workers) should get the same
// settings: the process that sees an event claims it only when it can
// send mail, and only such processes work the mail queue.
type Mail struct {
	SMTP config.SMTP
	// ReportCSV writes the batch report attached to report mails; the API
	// passes its own writer (api.WriteReportCSV), so that the attachment
	// is byte for byte what `batch report --format csv` gives. Nil attaches
	// no CSV.
	ReportCSV func(w io.Writer, users []User) error
	// Retry is the wait before a failed send is tried again; it is
	// multiplied by 4 at each attempt (1, 4, 16 and 64 minutes: over an
	// hour for an SMTP server to come back). Defaults to a minute.
	Retry time.Duration
}

// mailAttempts is how many times a mail is tried before it is recorded
// as failed.
const mailAttempts = 5

// mailWorkers is how many mails a process sends at once: SMTP servers
// take a few connections per client before they slow it down.
const mailWorkers = 2

// States of a notification or a welcome letter row.
const (
	mailPending = "pending" // notifications: claimed, not sent yet
	mailQueued  = "queued"  // welcome letters: queued, not sent yet
	mailSent    = "sent"
	mailFailed  = "failed"
)

// Notification is one batch report, as recorded.
type Notification struct {
	// Event is initial_sync, incremental_errors or completed.
	Event string `json:"event"`
	// Round numbers the batch's incremental rounds; 0 for the other
	// events.
	Round      int64     `json:"round,omitempty"`
	At         time.Time `json:"at"`
	Recipients []string  `json:"recipients"`
	// State is pending (claimed, being sent or waiting for a retry), sent
	// or failed (every attempt failed).
	State     string `json:"state"`
	MessageID string `json:"message_id"`
	// Response is the SMTP server's answer to the message, which usually
	// carries its queue ID.
	Response string     `json:"response,omitempty"`
	Error    string     `json:"error,omitempty"`
	Attempts int        `json:"attempts"`
	Sent     *time.Time `json:"sent,omitempty"`
}

// mailer is what the service needs to send mail; nil on a Service without
// SMTP settings.
type mailer struct {
	cfg  Mail
	smtp *notify.Mailer
	from mail.Address
	// swept says that the scheduler has queued the jobs of every pending
	// row once since this process started.
	swept bool
}

func newMailer(cfg Mail) (*mailer, error) {
	if !cfg.SMTP.Enabled() {
		return nil, nil
	}
	from, err := mail.ParseAddress(cfg.SMTP.From)
	if err != nil {
		return nil, fmt.Errorf("service: smtp.from %q: %w", cfg.SMTP.From, err)
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Minute
	}
	return &mailer{cfg: cfg, smtp: notify.NewMailer(cfg.SMTP), from: *from}, nil
}

// retryAt is when a mail whose attempt failed is tried again.
func (m *mailer) retryAt(attempt int) time.Time {
	return time.Now().Add(m.cfg.Retry << (2 * min(max(attempt-1, 0), 4)))
}

// newMessageID makes a Message-ID at the sender's domain (RFC 5322
// section 3.6.4) when the mail is claimed, so that every attempt at it
// sends the same one.
func (m *mailer) newMessageID() string {
	_, domain, _ := strings.Cut(m.from.Address, "@")
	if domain == "" {
		domain = "imapmigrate.invalid"
	}
	return rand.Text() + "@" + domain
}

// notificationArgs is the River job that sends one batch report.
type notificationArgs struct {
	ID int64 `json:"notification_id"`
}

func (notificationArgs) Kind() string { return "notification" }

func (notificationArgs) InsertOpts() river.InsertOpts { return mailInsertOpts() }

// mailInsertOpts: one live job per row, in the mail queue.
func mailInsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       "mail",
		MaxAttempts: mailAttempts,
		UniqueOpts:  oneLiveJob,
	}
}

type notificationWorker struct {
	river.WorkerDefaults[notificationArgs]
	s *Service
}

func (w *notificationWorker) Work(ctx context.Context, job *river.Job[notificationArgs]) error {
	return w.s.sendNotification(ctx, job.Args.ID, job.Attempt >= job.MaxAttempts)
}

func (w *notificationWorker) NextRetry(job *river.Job[notificationArgs]) time.Time {
	if w.s.mail == nil {
		return time.Time{}
	}
	return w.s.mail.retryAt(job.Attempt)
}

// addMailWorkers registers the mail jobs' workers, so that any process
// may insert them, and gives the River client the mail queue when this
// process sends mail.
func (s *Service) addMailWorkers(workers *river.Workers, rc *river.Config) {
	river.AddWorker(workers, &notificationWorker{s: s})
	river.AddWorker(workers, &welcomeWorker{s: s})
	if s.mail == nil {
		return
	}
	if rc.Queues == nil {
		rc.Queues = map[string]river.QueueConfig{}
	}
	rc.Queues["mail"] = river.QueueConfig{MaxWorkers: mailWorkers}
	rc.Workers = workers
}

// runsJobs says whether this process works River queues: the mailboxes
// unless NoWork, and mail when it has SMTP settings.
func (s *Service) runsJobs() bool { return !s.cfg.NoWork || s.mail != nil }

// batchEntered follows a batch into the state settle just moved it to:
// the initial sync is over (the start of the incremental rounds, and a
// report), or the batch is completed (a report, and the welcome letters
// when they are to go at completion). It is called wherever settle runs
// (the scheduler, a worker finishing a pass), maybe by two processes for
// one change; the claims make that harmless. A failure is logged: the
// state change itself is done.
func (s *Service) batchEntered(ctx context.Context, b *batchRow, to string) {
	ctx = context.WithoutCancel(ctx)
	synced := func(state string) bool {
		return state == BatchSynced || state == BatchSyncedWithErrors || state == BatchFailed
	}
	var event notify.Event
	switch {
	case synced(to) && !synced(b.State):
		// Only if the batch is still there: the round mark is set where
		// the state is checked.
		res, err := s.db.ExecContext(ctx, `UPDATE batches SET round_mark = $1 WHERE id = $2 AND state = $3`, now(), b.ID, to)
		if err != nil {
			s.log.Error("Could not mark the start of the batch's incremental rounds.", "batch", b.Name, "err", err)
			return
		}
		if n, _ := res.RowsAffected(); n != 1 || b.State != BatchSyncing {
			return
		}
		event = notify.EventInitialSync
	case to == BatchCompleted:
		event = notify.EventCompleted
		if w := b.Options.Welcome; w != nil && w.AtCompletion && s.mail != nil {
			if _, err := s.queueWelcome(ctx, b, "", false, UserCompleted); err != nil {
				s.log.Error("Could not queue the welcome letters of the completed batch.", "batch", b.Name, "err", err)
			}
		}
	default:
		return
	}
	if s.mail == nil || len(b.Options.NotificationEmails) == 0 {
		return
	}
	if err := s.claimAndQueue(ctx, b, event, 0); err != nil {
		s.log.Error("Could not claim the batch report; it is not sent.", "batch", b.Name, "event", string(event), "err", err)
	}
}

// claimAndQueue claims a report outside any transaction and queues it.
func (s *Service) claimAndQueue(ctx context.Context, b *batchRow, event notify.Event, round int64) error {
	id, ok, err := s.claimNotification(ctx, s.db, b, event, round)
	if err != nil || !ok {
		return err
	}
	s.queueMail(ctx, notificationArgs{ID: id})
	return nil
}

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// claimNotification records the report of (batch, event, round) unless it
// is recorded already: ok says this call claimed it.
func (s *Service) claimNotification(ctx context.Context, q queryer, b *batchRow, event notify.Event, round int64) (id int64, ok bool, err error) {
	at := now()
	err = q.QueryRowContext(ctx, `INSERT INTO notifications (batch_id, event, round, at, recipients, state, message_id, enqueued_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $4) ON CONFLICT DO NOTHING RETURNING id`,
		b.ID, string(event), round, at, strings.Join(b.Options.NotificationEmails, ","), mailPending, s.mail.newMessageID()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("claim the %s report of batch %q: %w", event, b.Name, err)
	}
	s.log.Info("Batch report claimed.", "batch", b.Name, "event", string(event), "round", round)
	return id, true, nil
}

// queueMail inserts a mail's job. A failure is only logged: the row is
// pending, and the scheduler inserts its job again.
func (s *Service) queueMail(ctx context.Context, args river.JobArgs) {
	if _, err := s.queue.Insert(ctx, args, nil); err != nil {
		s.log.Warn("Could not queue a mail; the scheduler queues it again.", "kind", args.Kind(), "err", err)
	}
}

// mailTick is the scheduler's part for mail: it ends the incremental
// rounds that are over, and queues again the mails whose job may be gone.
func (s *Service) mailTick(ctx context.Context) error {
	if s.mail == nil {
		return nil
	}
	if err := s.endRounds(ctx); err != nil {
		return err
	}
	return s.requeueMail(ctx)
}

// endRounds ends the incremental round of every synced batch with
// notification addresses that is idle again after passes (see the top of
// this file), and claims a report when the round had errors.
func (s *Service) endRounds(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+batchColumns+`, round_mark FROM batches WHERE state IN ($1, $2)`,
		BatchSynced, BatchSyncedWithErrors)
	if err != nil {
		return fmt.Errorf("find batches in incremental rounds: %w", err)
	}
	type marked struct {
		b    *batchRow
		mark sql.NullInt64
	}
	var list []marked
	for rows.Next() {
		var mark sql.NullInt64
		b, err := scanBatch(scanAlso{rows, &mark})
		if err != nil {
			rows.Close()
			return fmt.Errorf("find batches in incremental rounds: %w", err)
		}
		if len(b.Options.NotificationEmails) > 0 {
			list = append(list, marked{b, mark})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find batches in incremental rounds: %w", err)
	}
	for _, m := range list {
		if err := s.endRound(ctx, m.b, m.mark); err != nil {
			return err
		}
	}
	return nil
}

// scanAlso scans a row of batchColumns and one more column into extra.
type scanAlso struct {
	rows  *sql.Rows
	extra any
}

func (r scanAlso) Scan(dest ...any) error { return r.rows.Scan(append(dest, r.extra)...) }

func (s *Service) endRound(ctx context.Context, b *batchRow, mark sql.NullInt64) error {
	at := now()
	if !mark.Valid {
		// Synced before rounds were tracked, or by a process that could not
		// mark it: the rounds start now.
		_, err := s.db.ExecContext(ctx, `UPDATE batches SET round_mark = $1 WHERE id = $2 AND round_mark IS NULL`, at, b.ID)
		return err
	}
	var busy, took, withErrors int64
	err := s.db.QueryRowContext(ctx, `SELECT
		CAST(COALESCE(sum(CASE WHEN status IN ($2, $3, $4, $5) OR (status IN ($6, $7) AND next_sync_at <= $8) THEN 1 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(sum(CASE WHEN last_sync_at > $9 OR (status = $10 AND EXISTS
			(SELECT 1 FROM batch_user_errors e WHERE e.user_id = u.id AND e.at > $9)) THEN 1 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(sum(CASE WHEN (last_sync_at > $9 AND (last_error <> '' OR items_failed > 0)) OR (status IN ($10, $7) AND EXISTS
			(SELECT 1 FROM batch_user_errors e WHERE e.user_id = u.id AND e.at > $9)) THEN 1 ELSE 0 END), 0) AS BIGINT)
		FROM batch_users u WHERE u.batch_id = $1`,
		b.ID, UserQueued, UserValidating, UserSyncing, UserIncrementalSyncing, UserSynced, UserBlocked, at,
		mark.Int64, UserFailed).Scan(&busy, &took, &withErrors)
	if err != nil {
		return fmt.Errorf("check the incremental round of batch %q: %w", b.Name, err)
	}
	if busy > 0 || took == 0 {
		return nil
	}
	var round, id int64
	var claimed bool
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE batches SET notify_round = notify_round + 1, round_mark = $1
			WHERE id = $2 AND round_mark = $3 RETURNING notify_round`, at, b.ID, mark.Int64).Scan(&round)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // the batch changed meanwhile
		}
		if err != nil || withErrors == 0 {
			return err
		}
		id, claimed, err = s.claimNotification(ctx, tx, b, notify.EventIncrementalErrors, round)
		return err
	})
	if err != nil {
		return fmt.Errorf("end the incremental round of batch %q: %w", b.Name, err)
	}
	if round > 0 {
		s.log.Info("Incremental round over.", "batch", b.Name, "round", round, "users", took, "users_with_errors", withErrors)
	}
	if claimed {
		s.queueMail(ctx, notificationArgs{ID: id})
	}
	return nil
}

// requeueMail inserts again the jobs of the mails not sent yet whose job
// was inserted over a minute ago (at the first tick after a start: all of
// them), for a process that died before it inserted the job or while
// the job ran. A job still there absorbs the insert.
func (s *Service) requeueMail(ctx context.Context) error {
	cutoff := now() - requeueAfter.Milliseconds()
	if !s.mail.swept {
		cutoff = now() + 1
	}
	for _, q := range []struct {
		table, state string
		args         func(id int64) river.JobArgs
	}{
		{"notifications", mailPending, func(id int64) river.JobArgs { return notificationArgs{ID: id} }},
		{"welcome_letters", mailQueued, func(id int64) river.JobArgs { return welcomeArgs{ID: id} }},
	} {
		ids, err := s.ids(ctx, `SELECT id FROM `+q.table+` WHERE state = $1 AND enqueued_at < $2 ORDER BY id LIMIT 1000`, q.state, cutoff)
		if err != nil {
			return fmt.Errorf("find mails to queue again: %w", err)
		}
		for _, id := range ids {
			if _, err := s.queue.Insert(ctx, q.args(id), nil); err != nil {
				return fmt.Errorf("queue mail again: %w", err)
			}
			if _, err := s.db.ExecContext(ctx, `UPDATE `+q.table+` SET enqueued_at = $1 WHERE id = $2`, now(), id); err != nil {
				return fmt.Errorf("queue mail again: %w", err)
			}
		}
	}
	s.mail.swept = true
	return nil
}

func (s *Service) ids(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
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

// sendNotification is the job that sends one batch report: the batch as
// it is now, the CSV report attached, to the addresses recorded at the
// claim.
func (s *Service) sendNotification(ctx context.Context, id int64, lastAttempt bool) error {
	if s.mail == nil {
		return errors.New("send batch report: this process has no SMTP settings")
	}
	var batchID, at int64
	var event, recipients, state, messageID string
	var round int64
	err := s.db.QueryRowContext(ctx, `SELECT batch_id, event, round, at, recipients, state, message_id FROM notifications WHERE id = $1`, id).
		Scan(&batchID, &event, &round, &at, &recipients, &state, &messageID)
	if errors.Is(err, sql.ErrNoRows) || state != mailPending {
		return nil // its batch was removed, or it is done
	}
	if err != nil {
		return fmt.Errorf("read batch report %d: %w", id, err)
	}
	b, err := s.batchByID(ctx, batchID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	msg, err := s.reportMessage(ctx, b, notify.Event(event), time.UnixMilli(at), strings.Split(recipients, ","))
	if err != nil {
		return fmt.Errorf("write the %s report of batch %q: %w", event, b.Name, err)
	}
	msg.MessageID = messageID
	receipt, err := s.mail.smtp.Send(ctx, msg)
	log := s.log.With("batch", b.Name, "event", event, "round", round)
	return s.recordSend(ctx, "notifications", id, receipt, err, lastAttempt, false, log)
}

// reportMessage writes the report of batch b for event.
func (s *Service) reportMessage(ctx context.Context, b *batchRow, event notify.Event, at time.Time, to []string) (notify.Message, error) {
	sum, err := s.summarize(ctx, b)
	if err != nil {
		return notify.Message{}, err
	}
	users, err := s.Report(ctx, b.Name)
	if err != nil {
		return notify.Message{}, err
	}
	r := notify.BatchReport{Event: event, Batch: b.Name, State: sum.State, SourceEndpoint: sum.SourceEndpoint,
		DestEndpoint: sum.DestEndpoint, At: at}
	if sum.NextSync != nil && b.State != BatchCompleted {
		r.NextSync = *sum.NextSync
	}
	for _, u := range users {
		r.Users = append(r.Users, notify.UserRow{Address: u.EmailAddress, Status: u.Status, Synced: u.ItemsSynced,
			Skipped: u.ItemsSkipped, Failed: u.ItemsFailed, Bytes: u.Bytes, LastError: u.LastError})
	}
	if s.mail.cfg.ReportCSV != nil {
		var buf bytes.Buffer
		if err := s.mail.cfg.ReportCSV(&buf, users); err != nil {
			return notify.Message{}, fmt.Errorf("CSV report: %w", err)
		}
		r.CSV = buf.Bytes()
	}
	rcpts := make([]mail.Address, len(to))
	for i, a := range to {
		rcpts[i] = mail.Address{Address: a}
	}
	return r.Message(s.mail.from, rcpts)
}

// recordSend writes the outcome of a send to the mail's row and tells
// River what to do: nothing more once the server took the message (for
// some recipients at least), or once it refused the only recipient for
// good when refusedIsFinal (a welcome letter to an address that does not
// exist); a retry otherwise, until the last attempt marks it failed. A
// send cut short by this process stopping comes back without using up an
// attempt.
func (s *Service) recordSend(ctx context.Context, table string, id int64, r notify.Receipt, sendErr error,
	lastAttempt, refusedIsFinal bool, log *slog.Logger) error {
	db := context.WithoutCancel(ctx)
	if sendErr != nil && ctx.Err() != nil {
		log.Info("Mail interrupted; it is sent again after the restart.", "err", sendErr)
		return river.JobSnooze(time.Second)
	}
	state, msg := mailSent, ""
	var sentAt any = now()
	var se *smtp.SMTPError
	var re *notify.RecipientError
	switch {
	case sendErr == nil:
	case len(r.Accepted) > 0:
		// Sent to the others: trying again would send it twice to them.
		msg = sendErr.Error()
	case refusedIsFinal && errors.As(sendErr, &re) && errors.As(sendErr, &se) && !se.Temporary():
		state, msg, sentAt = mailFailed, sendErr.Error(), nil
	case lastAttempt:
		state, msg, sentAt = mailFailed, sendErr.Error(), nil
	default:
		state, msg, sentAt = "", sendErr.Error(), nil
	}
	set := `attempts = attempts + 1, error = $1, response = $2`
	args := []any{msg, r.Response}
	if state != "" {
		set += `, state = $3, sent_at = $4`
		args = append(args, state, sentAt)
	}
	args = append(args, id)
	if _, err := s.db.ExecContext(db, fmt.Sprintf(`UPDATE %s SET %s WHERE id = $%d`, table, set, len(args)), args...); err != nil {
		return fmt.Errorf("record mail %d of %s: %w", id, table, err)
	}
	switch state {
	case mailSent:
		if msg != "" {
			log = log.With("refused", msg)
		}
		log.Info("Mail sent.", "message_id", r.MessageID, "response", r.Response)
		return nil
	case mailFailed:
		log.Error("Mail not sent; giving up.", "err", sendErr)
		return nil
	}
	log.Warn("Mail not sent; it is tried again.", "err", sendErr)
	return sendErr
}

// Notifications lists the reports of a batch, oldest first.
func (s *Service) Notifications(ctx context.Context, batchName string) ([]Notification, error) {
	b, err := s.batchByName(ctx, batchName)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT event, round, at, recipients, state, message_id, response, error, attempts, sent_at
		FROM notifications WHERE batch_id = $1 ORDER BY id`, b.ID)
	if err != nil {
		return nil, fmt.Errorf("list reports of batch %q: %w", batchName, err)
	}
	defer rows.Close()
	out := []Notification{}
	for rows.Next() {
		var n Notification
		var at int64
		var recipients string
		var sent sql.NullInt64
		if err := rows.Scan(&n.Event, &n.Round, &at, &recipients, &n.State, &n.MessageID, &n.Response, &n.Error, &n.Attempts, &sent); err != nil {
			return nil, fmt.Errorf("list reports of batch %q: %w", batchName, err)
		}
		n.At, n.Recipients, n.Sent = time.UnixMilli(at).UTC(), strings.Split(recipients, ","), fromMillis(sent)
		out = append(out, n)
	}
	return out, rows.Err()
}
