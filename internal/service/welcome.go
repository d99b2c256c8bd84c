package service

// Welcome letters: a letter to each user of a batch that says their
// mailbox is moving and how to set up their mail program (package notify
// renders it). The admin previews it, sends it when they choose, or lets
// the batch send it at completion. Each letter is a row of welcome_letters
// written before it is sent (see notify.go for how a row becomes a mail):
// the record of what was sent to whom, and the guard that no user gets a
// second letter unless the admin asks for it again.
//
// A letter goes to the user's EmailAddress, the address the user already
// has: before the cut-over it reaches the old mailbox, after it the new
// one, either way one the user reads.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/imapmigrate/imapmigrate/internal/notify"
)

// WelcomeOptions are a batch's welcome letter settings (BatchOptions.Welcome).
type WelcomeOptions struct {
	// Language of the default letter: en or fr. Empty means en.
	Language string `json:"language,omitempty"`
	// Template replaces the default letter: Go text/template text whose
	// first line is "Subject: ..." (see notify.Render).
	Template string `json:"template,omitempty"`
	// Message is the admin's own words, a paragraph of the letter.
	Message string `json:"message,omitempty"`
	// Organization is who the letter is from.
	Organization string `json:"organization,omitempty"`
	// IMAP is the server users set up for reading mail. Empty fields are
	// the destination endpoint's host and security; its port too when the
	// host is the endpoint's, else the usual port for the security.
	IMAP WelcomeServer `json:"imap,omitzero"`
	// SMTP is the server for sending mail; nil leaves it out of the
	// letter (the service cannot know it).
	SMTP       *WelcomeServer `json:"smtp,omitempty"`
	WebmailURL string         `json:"webmail_url,omitempty"`
	// AtCompletion sends the letter to every Completed user, once, when
	// the batch completes.
	AtCompletion bool `json:"at_completion,omitempty"`
}

// WelcomeServer is a mail server as users type it into a mail program.
type WelcomeServer struct {
	Host string `json:"host,omitempty"`
	// Port 0 means the usual one for Security.
	Port int `json:"port,omitempty"`
	// Security is tls, starttls or none.
	Security string `json:"security,omitempty"`
}

// WelcomeStatus is a batch's welcome letter settings and, per user, the
// last letter queued.
type WelcomeStatus struct {
	Batch   string         `json:"batch"`
	Options WelcomeOptions `json:"options"`
	// IMAP is the server the letters name, defaults filled in.
	IMAP WelcomeServer `json:"imap"`
	// MailConfigured says whether the service can send mail (SMTP
	// settings); without it letters can be previewed only.
	MailConfigured bool            `json:"mail_configured"`
	Letters        []WelcomeLetter `json:"letters"`
}

// WelcomeLetter is a user's last welcome letter, or none (State "").
type WelcomeLetter struct {
	Address string `json:"address"`
	// State is "" (none yet), queued, sent or failed.
	State     string `json:"state"`
	Subject   string `json:"subject,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	// Response is the SMTP server's answer to the letter.
	Response string     `json:"response,omitempty"`
	Error    string     `json:"error,omitempty"`
	Attempts int        `json:"attempts"`
	Queued   *time.Time `json:"queued,omitempty"`
	Sent     *time.Time `json:"sent,omitempty"`
	// Sends counts the letters the user was sent, this one included.
	Sends int `json:"sends"`
}

// WelcomePreview is a letter rendered for one user, not sent.
type WelcomePreview struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// WelcomeRequest says whom to preview or send letters to.
type WelcomeRequest struct {
	// User is one user's e-mail address; empty means every user of the
	// batch (for a preview: the first).
	User string `json:"user,omitempty"`
	// Resend sends again to users who were sent a letter already.
	Resend bool `json:"resend,omitempty"`
}

// WelcomeSent says what SendWelcome queued.
type WelcomeSent struct {
	Queued  []string      `json:"queued"`
	Skipped []WelcomeSkip `json:"skipped"`
}

// WelcomeSkip is a user SendWelcome left out, and why.
type WelcomeSkip struct {
	Address string `json:"address"`
	Reason  string `json:"reason"`
}

// checkWelcome lists what is wrong with welcome options, for
// checkOptions. The template is rendered with sample values, so that a
// misspelt field is reported now rather than at the first letter.
func checkWelcome(o *WelcomeOptions) []string {
	if o == nil {
		return nil
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, "welcome."+fmt.Sprintf(format, args...)) }
	if _, err := notify.DefaultTemplate(o.Language); err != nil {
		add("language: %v", err)
		return problems
	}
	for _, s := range []struct {
		name string
		srv  *WelcomeServer
	}{{"imap", &o.IMAP}, {"smtp", o.SMTP}} {
		if s.srv == nil {
			continue
		}
		switch s.srv.Security {
		case "", "tls", "starttls", "none":
		default:
			add("%s.security: %q: want tls, starttls or none", s.name, s.srv.Security)
		}
		if s.srv.Port < 0 || s.srv.Port > 65535 {
			add("%s.port: %d is out of range", s.name, s.srv.Port)
		}
	}
	if o.SMTP != nil && o.SMTP.Host == "" {
		add("smtp.host: required with smtp")
	}
	if o.WebmailURL != "" {
		if u, err := url.Parse(o.WebmailURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("webmail_url: %q: want an http or https URL", o.WebmailURL)
		}
	}
	if len(problems) == 0 {
		sample := notify.WelcomeData{Address: "alice@example.com", SourceUser: "alice", IMAP: notify.Server{Host: "imap.example.com"}}
		if _, err := notify.Render(o.Language, o.Template, sample); err != nil {
			add("template: %v", err)
		}
	}
	return problems
}

// welcomeIMAP is the IMAP server the letters of a batch name: the
// options', completed from the destination endpoint.
func welcomeIMAP(o WelcomeOptions, dst *endpoint) WelcomeServer {
	s := o.IMAP
	if s.Host == "" {
		s.Host = dst.Host
		if s.Port == 0 {
			s.Port = dst.Port
		}
	}
	if s.Security == "" {
		s.Security = dst.Security
	}
	return s
}

// welcomeOf returns the batch's welcome options, or the defaults.
func welcomeOf(b *batchRow) WelcomeOptions {
	if b.Options.Welcome != nil {
		return *b.Options.Welcome
	}
	return WelcomeOptions{}
}

// renderWelcome renders the letter of user u.
func renderWelcome(o WelcomeOptions, imap WelcomeServer, u *userRow) (notify.Letter, error) {
	d := notify.WelcomeData{
		Organization: o.Organization, Address: u.Email, SourceUser: u.SourceUser, DestinationUser: u.DestUser,
		IMAP:       notify.Server{Host: imap.Host, Port: imap.Port, Security: imap.Security},
		WebmailURL: o.WebmailURL, Message: o.Message,
	}
	if o.SMTP != nil {
		d.SMTP = &notify.Server{Host: o.SMTP.Host, Port: o.SMTP.Port, Security: o.SMTP.Security}
	}
	return notify.Render(o.Language, o.Template, d)
}

// batchUsers returns the users of a batch in the order of its CSV file,
// or the one with address email ("" for all), of the given statuses (none
// for all).
func (s *Service) batchUsers(ctx context.Context, b *batchRow, email string, statuses ...string) ([]*userRow, error) {
	q, args := `SELECT `+userColumns+` FROM batch_users WHERE batch_id = $1`, []any{b.ID}
	if email != "" {
		args = append(args, strings.ToLower(strings.TrimSpace(email)))
		q += fmt.Sprintf(` AND email = $%d`, len(args))
	}
	if len(statuses) > 0 {
		var in []string
		for _, st := range statuses {
			args = append(args, st)
			in = append(in, fmt.Sprintf("$%d", len(args)))
		}
		q += ` AND status IN (` + strings.Join(in, ", ") + `)`
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY line, email`, args...)
	if err != nil {
		return nil, fmt.Errorf("list users of batch %q: %w", b.Name, err)
	}
	defer rows.Close()
	var out []*userRow
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users of batch %q: %w", b.Name, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users of batch %q: %w", b.Name, err)
	}
	if email != "" && len(out) == 0 {
		return nil, fmt.Errorf("user %s: not in batch %q: %w", email, b.Name, ErrNotFound)
	}
	return out, nil
}

// Welcome returns a batch's welcome letter settings and each user's last
// letter.
func (s *Service) Welcome(ctx context.Context, batchName string) (*WelcomeStatus, error) {
	b, err := s.batchByName(ctx, batchName)
	if err != nil {
		return nil, err
	}
	dst, err := s.endpointByID(ctx, b.DestID)
	if err != nil {
		return nil, err
	}
	o := welcomeOf(b)
	out := &WelcomeStatus{Batch: b.Name, Options: o, IMAP: welcomeIMAP(o, dst), MailConfigured: s.mail != nil, Letters: []WelcomeLetter{}}
	rows, err := s.db.QueryContext(ctx, `SELECT u.email, COALESCE(w.state, ''), COALESCE(w.subject, ''), COALESCE(w.message_id, ''),
		COALESCE(w.response, ''), COALESCE(w.error, ''), COALESCE(w.attempts, 0), w.queued_at, w.sent_at,
		(SELECT count(*) FROM welcome_letters x WHERE x.user_id = u.id AND x.state = $2)
		FROM batch_users u LEFT JOIN welcome_letters w ON w.id = (SELECT max(id) FROM welcome_letters y WHERE y.user_id = u.id)
		WHERE u.batch_id = $1 ORDER BY u.line, u.email`, b.ID, mailSent)
	if err != nil {
		return nil, fmt.Errorf("list welcome letters of batch %q: %w", batchName, err)
	}
	defer rows.Close()
	for rows.Next() {
		var l WelcomeLetter
		var queued, sent sql.NullInt64
		if err := rows.Scan(&l.Address, &l.State, &l.Subject, &l.MessageID, &l.Response, &l.Error, &l.Attempts, &queued, &sent, &l.Sends); err != nil {
			return nil, fmt.Errorf("list welcome letters of batch %q: %w", batchName, err)
		}
		l.Queued, l.Sent = fromMillis(queued), fromMillis(sent)
		out.Letters = append(out.Letters, l)
	}
	return out, rows.Err()
}

// SetWelcome replaces a batch's welcome letter settings.
func (s *Service) SetWelcome(ctx context.Context, batchName string, o WelcomeOptions) (*WelcomeStatus, error) {
	if problems := checkWelcome(&o); len(problems) > 0 {
		return nil, fmt.Errorf("welcome letter of batch %q: %s: %w", batchName, strings.Join(problems, "; "), ErrInvalid)
	}
	b, err := s.batchByName(ctx, batchName)
	if err != nil {
		return nil, err
	}
	if b.State == BatchRemoving {
		return nil, fmt.Errorf("welcome letter of batch %q: it is being removed: %w", batchName, ErrConflict)
	}
	opts := b.Options
	opts.Welcome = &o
	j, err := json.Marshal(opts)
	if err != nil {
		return nil, err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE batches SET options = $1 WHERE id = $2`, string(j), b.ID); err != nil {
		return nil, fmt.Errorf("welcome letter of batch %q: %w", batchName, err)
	}
	s.log.Info("Welcome letter settings changed.", "batch", batchName, "at_completion", o.AtCompletion)
	return s.Welcome(ctx, batchName)
}

// PreviewWelcome renders the letter of one user (the batch's first
// without req.User) and sends nothing. It works without SMTP settings.
func (s *Service) PreviewWelcome(ctx context.Context, batchName string, req WelcomeRequest) (*WelcomePreview, error) {
	b, err := s.batchByName(ctx, batchName)
	if err != nil {
		return nil, err
	}
	dst, err := s.endpointByID(ctx, b.DestID)
	if err != nil {
		return nil, err
	}
	users, err := s.batchUsers(ctx, b, req.User)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("preview the welcome letter of batch %q: the batch has no users: %w", batchName, ErrInvalid)
	}
	o := welcomeOf(b)
	l, err := renderWelcome(o, welcomeIMAP(o, dst), users[0])
	if err != nil {
		return nil, fmt.Errorf("preview the welcome letter of batch %q: %w: %w", batchName, err, ErrInvalid)
	}
	return &WelcomePreview{To: users[0].Email, Subject: l.Subject, Body: l.Body}, nil
}

// SendWelcome queues the welcome letter for every user of a batch (or for
// req.User), except those who were sent one already unless req.Resend,
// and those with a letter in the queue. Every letter is rendered before
// any is queued, so a template error queues none. The letters go out in
// the background; Welcome shows how each went.
func (s *Service) SendWelcome(ctx context.Context, batchName string, req WelcomeRequest) (*WelcomeSent, error) {
	if s.mail == nil {
		return nil, fmt.Errorf("send the welcome letters of batch %q: the service has no SMTP settings (smtp.host in the settings file, IMAPMIGRATE_SMTP_HOST or --smtp-host): %w",
			batchName, ErrConflict)
	}
	b, err := s.batchByName(ctx, batchName)
	if err != nil {
		return nil, err
	}
	if b.State == BatchRemoving {
		return nil, fmt.Errorf("send the welcome letters of batch %q: it is being removed: %w", batchName, ErrConflict)
	}
	sent, err := s.queueWelcome(ctx, b, req.User, req.Resend)
	if err != nil {
		return nil, fmt.Errorf("send the welcome letters of batch %q: %w", batchName, err)
	}
	return sent, nil
}

// queueWelcome renders and queues the letters of a batch's users (one
// user with email, of the given statuses when any), as SendWelcome says.
func (s *Service) queueWelcome(ctx context.Context, b *batchRow, email string, resend bool, statuses ...string) (*WelcomeSent, error) {
	dst, err := s.endpointByID(ctx, b.DestID)
	if err != nil {
		return nil, err
	}
	users, err := s.batchUsers(ctx, b, email, statuses...)
	if err != nil {
		return nil, err
	}
	o := welcomeOf(b)
	imap := welcomeIMAP(o, dst)
	letters := make([]notify.Letter, len(users))
	for i, u := range users {
		if letters[i], err = renderWelcome(o, imap, u); err != nil {
			return nil, fmt.Errorf("letter to %s: %w: %w", u.Email, err, ErrInvalid)
		}
	}
	// Resending still waits for a letter in the queue; otherwise a letter
	// that was sent counts too.
	blocking := []any{mailQueued, mailQueued}
	if !resend {
		blocking = []any{mailQueued, mailSent}
	}
	out := &WelcomeSent{Queued: []string{}, Skipped: []WelcomeSkip{}}
	for i, u := range users {
		at := now()
		var id int64
		err := s.db.QueryRowContext(ctx, `INSERT INTO welcome_letters (user_id, address, state, subject, body, message_id, queued_at, enqueued_at)
			SELECT CAST($1 AS BIGINT), CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS TEXT), CAST($6 AS TEXT), CAST($7 AS BIGINT), CAST($7 AS BIGINT)
			WHERE NOT EXISTS (SELECT 1 FROM welcome_letters WHERE user_id = $1 AND state IN ($8, $9))
			ON CONFLICT DO NOTHING RETURNING id`,
			u.ID, u.Email, mailQueued, letters[i].Subject, letters[i].Body, s.mail.newMessageID(), at, blocking[0], blocking[1]).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			out.Skipped = append(out.Skipped, WelcomeSkip{Address: u.Email, Reason: s.whyNoLetter(ctx, u.ID)})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("queue the letter to %s: %w", u.Email, err)
		}
		s.queueMail(ctx, welcomeArgs{ID: id})
		out.Queued = append(out.Queued, u.Email)
	}
	s.log.Info("Welcome letters queued.", "batch", b.Name, "queued", len(out.Queued), "skipped", len(out.Skipped), "resend", resend)
	return out, nil
}

// whyNoLetter says why a user's letter was not queued.
func (s *Service) whyNoLetter(ctx context.Context, userID int64) string {
	var state string
	var sent sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT state, sent_at FROM welcome_letters WHERE user_id = $1 AND state IN ($2, $3) ORDER BY id DESC LIMIT 1`,
		userID, mailQueued, mailSent).Scan(&state, &sent)
	switch {
	case err != nil:
		return "a letter is already queued or sent"
	case state == mailQueued:
		return "a letter is already queued"
	}
	return fmt.Sprintf("already sent at %s; resend to send it again", fromMillis(sent).Format(time.RFC3339))
}

// welcomeArgs is the River job that sends one welcome letter.
type welcomeArgs struct {
	ID int64 `json:"welcome_letter_id"`
}

func (welcomeArgs) Kind() string { return "welcome_letter" }

func (welcomeArgs) InsertOpts() river.InsertOpts { return mailInsertOpts() }

type welcomeWorker struct {
	river.WorkerDefaults[welcomeArgs]
	s *Service
}

func (w *welcomeWorker) Work(ctx context.Context, job *river.Job[welcomeArgs]) error {
	return w.s.sendWelcome(ctx, job.Args.ID, job.Attempt >= job.MaxAttempts)
}

func (w *welcomeWorker) NextRetry(job *river.Job[welcomeArgs]) time.Time {
	if w.s.mail == nil {
		return time.Time{}
	}
	return w.s.mail.retryAt(job.Attempt)
}

// sendWelcome is the job that sends one letter, as it was rendered when
// queued. An address the server refuses for good fails the letter at once.
func (s *Service) sendWelcome(ctx context.Context, id int64, lastAttempt bool) error {
	if s.mail == nil {
		return errors.New("send welcome letter: this process has no SMTP settings")
	}
	var address, state, subject, body, messageID string
	err := s.db.QueryRowContext(ctx, `SELECT address, state, subject, body, message_id FROM welcome_letters WHERE id = $1`, id).
		Scan(&address, &state, &subject, &body, &messageID)
	if errors.Is(err, sql.ErrNoRows) || state != mailQueued {
		return nil // its batch was removed, or it is done
	}
	if err != nil {
		return fmt.Errorf("read welcome letter %d: %w", id, err)
	}
	msg := notify.Message{From: s.mail.from, To: []mail.Address{{Address: address}}, Subject: subject, Text: body, MessageID: messageID}
	receipt, err := s.mail.smtp.Send(ctx, msg)
	return s.recordSend(ctx, "welcome_letters", id, receipt, err, lastAttempt, true, s.log.With("user", address, "mail", "welcome letter"))
}
