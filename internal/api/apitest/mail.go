package apitest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/notify"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// The fake's mail: no report is ever sent (there is no sync), and a
// letter "sent" is one recorded as sent at once, as the real service
// records one the SMTP server took.

// sentAt is when the fake sends every letter.
var sentAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (f *Fake) Notifications(ctx context.Context, batchName string) ([]service.Notification, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lookup(batchName); err != nil {
		return nil, err
	}
	return []service.Notification{}, nil
}

func (f *Fake) Welcome(ctx context.Context, batchName string) (*service.WelcomeStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lookup(batchName); err != nil {
		return nil, err
	}
	b := f.batches[batchName]
	st := &service.WelcomeStatus{Batch: batchName, IMAP: f.welcomeIMAP(b), MailConfigured: true, Letters: []service.WelcomeLetter{}}
	if b.Options.Welcome != nil {
		st.Options = *b.Options.Welcome
	}
	for _, u := range f.users {
		if u.Batch == batchName {
			l := f.letters[u.EmailAddress]
			l.Address = u.EmailAddress
			st.Letters = append(st.Letters, l)
		}
	}
	return st, nil
}

// welcomeIMAP is the destination endpoint's server, as the real service
// fills in the letters' defaults.
func (f *Fake) welcomeIMAP(b *service.Batch) service.WelcomeServer {
	ep := f.endpoints[b.DestEndpoint]
	s := service.WelcomeServer{Host: ep.Host, Port: ep.Port, Security: ep.Security}
	if w := b.Options.Welcome; w != nil && w.IMAP.Host != "" {
		s = w.IMAP
	}
	return s
}

func (f *Fake) SetWelcome(ctx context.Context, batchName string, opts service.WelcomeOptions) (*service.WelcomeStatus, error) {
	f.mu.Lock()
	if err := f.lookup(batchName); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	if _, err := notify.Render(opts.Language, opts.Template, notify.WelcomeData{Address: "alice@example.com"}); err != nil {
		f.mu.Unlock()
		return nil, fmt.Errorf("welcome letter of batch %q: %w: %w", batchName, err, service.ErrInvalid)
	}
	f.batches[batchName].Options.Welcome = &opts
	f.mu.Unlock()
	return f.Welcome(ctx, batchName)
}

// welcomeUsers returns the batch's users, or the one with address user.
func (f *Fake) welcomeUsers(batchName, user string) ([]service.User, error) {
	var out []service.User
	for _, u := range f.users {
		if u.Batch == batchName && (user == "" || strings.EqualFold(u.EmailAddress, user)) {
			out = append(out, u)
		}
	}
	if user != "" && len(out) == 0 {
		return nil, fmt.Errorf("user %s: not in batch %q: %w", user, batchName, service.ErrNotFound)
	}
	return out, nil
}

func (f *Fake) render(batchName string, u service.User) (notify.Letter, error) {
	b := f.batches[batchName]
	var o service.WelcomeOptions
	if b.Options.Welcome != nil {
		o = *b.Options.Welcome
	}
	imap := f.welcomeIMAP(b)
	return notify.Render(o.Language, o.Template, notify.WelcomeData{Address: u.EmailAddress, SourceUser: u.SourceUser,
		DestinationUser: u.DestUser, Organization: o.Organization, Message: o.Message, WebmailURL: o.WebmailURL,
		IMAP: notify.Server{Host: imap.Host, Port: imap.Port, Security: imap.Security}})
}

func (f *Fake) PreviewWelcome(ctx context.Context, batchName string, req service.WelcomeRequest) (*service.WelcomePreview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lookup(batchName); err != nil {
		return nil, err
	}
	users, err := f.welcomeUsers(batchName, req.User)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("preview the welcome letter of batch %q: the batch has no users: %w", batchName, service.ErrInvalid)
	}
	l, err := f.render(batchName, users[0])
	if err != nil {
		return nil, fmt.Errorf("preview: %w: %w", err, service.ErrInvalid)
	}
	return &service.WelcomePreview{To: users[0].EmailAddress, Subject: l.Subject, Body: l.Body}, nil
}

func (f *Fake) SendWelcome(ctx context.Context, batchName string, req service.WelcomeRequest) (*service.WelcomeSent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lookup(batchName); err != nil {
		return nil, err
	}
	users, err := f.welcomeUsers(batchName, req.User)
	if err != nil {
		return nil, err
	}
	if f.letters == nil {
		f.letters = map[string]service.WelcomeLetter{}
	}
	out := &service.WelcomeSent{Queued: []string{}, Skipped: []service.WelcomeSkip{}}
	for _, u := range users {
		l := f.letters[u.EmailAddress]
		if l.State == "sent" && !req.Resend {
			out.Skipped = append(out.Skipped, service.WelcomeSkip{Address: u.EmailAddress,
				Reason: "already sent at " + l.Sent.Format(time.RFC3339) + "; resend to send it again"})
			continue
		}
		letter, err := f.render(batchName, u)
		if err != nil {
			return nil, fmt.Errorf("letter to %s: %w: %w", u.EmailAddress, err, service.ErrInvalid)
		}
		f.letters[u.EmailAddress] = service.WelcomeLetter{Address: u.EmailAddress, State: "sent", Subject: letter.Subject,
			MessageID: fmt.Sprintf("fake-%d@example.com", l.Sends+1), Response: "2.0.0 OK", Attempts: 1,
			Queued: &sentAt, Sent: &sentAt, Sends: l.Sends + 1}
		out.Queued = append(out.Queued, u.EmailAddress)
	}
	return out, nil
}
