package apitest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// SetDNS makes BatchDNS answer d for the batch, as the checks of its
// domains would.
func (f *Fake) SetDNS(batch string, d *service.BatchDNS) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dns == nil {
		f.dns = map[string]*service.BatchDNS{}
	}
	f.dns[batch] = d
}

// VerifyBatch queues a verification of the batch's users that have been
// synced (a user with a LastSync), as the service does; the fake never
// runs it: PutUser with a Verification says how it ended.
func (f *Fake) VerifyBatch(ctx context.Context, batch, user string) (*service.BatchGrades, error) {
	f.mu.Lock()
	if err := f.lookup(batch); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	found := false
	for i := range f.users {
		u := &f.users[i]
		if u.Batch != batch || (user != "" && !strings.EqualFold(u.EmailAddress, user)) {
			continue
		}
		found = true
		if u.LastSync == nil {
			continue
		}
		v := &service.Verification{}
		if u.Verification != nil {
			*v = *u.Verification
		}
		v.State, v.RequestedAt, v.Error = service.VerifyQueued, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), ""
		u.Verification = v
	}
	f.mu.Unlock()
	if user != "" && !found {
		return nil, fmt.Errorf("verify %s: not a user of batch %q: %w", user, batch, service.ErrNotFound)
	}
	return f.BatchGrades(ctx, batch)
}

// BatchGrades grades the users as the service does (service.GradeUser).
func (f *Fake) BatchGrades(ctx context.Context, batch string) (*service.BatchGrades, error) {
	us, err := f.Users(ctx, batch)
	if err != nil {
		return nil, err
	}
	g := &service.BatchGrades{Batch: batch, Users: us}
	var grades []mailsync.Grade
	for i := range us {
		us[i].Grade = service.GradeUser(us[i])
		grades = append(grades, us[i].Grade.Grade)
		if v := us[i].Verification; v != nil && (v.State == service.VerifyQueued || v.State == service.VerifyRunning) {
			g.Verifying++
		}
	}
	g.Grade, g.Reason = mailsync.BatchGrade(grades)
	return g, nil
}

// CompleteBatchWith applies the grade bar and the warnings as the service
// does; AfterMXSwitch only records the cut-over.
func (f *Fake) CompleteBatchWith(ctx context.Context, batch string, o service.CompleteOptions) (*service.Completion, error) {
	g, err := f.BatchGrades(ctx, batch)
	if err != nil {
		return nil, err
	}
	worse := func(bar mailsync.Grade) []service.GradeNote {
		order := []mailsync.Grade{mailsync.GradePerfect, mailsync.GradeGood, mailsync.GradeInvestigate, mailsync.GradePoor}
		notes := []service.GradeNote{}
		for _, u := range g.Users {
			if slices.Index(order, u.Grade.Grade) > slices.Index(order, bar) {
				notes = append(notes, service.GradeNote{User: u.EmailAddress, UserGrade: u.Grade})
			}
		}
		return notes
	}
	if o.RequireGrade != "" {
		bar, err := service.ParseGrade(o.RequireGrade)
		if err != nil {
			return nil, err
		}
		if below := worse(bar); len(below) > 0 {
			return nil, &service.GradeError{Batch: batch, Bar: bar, Users: below}
		}
	}
	if o.AfterMXSwitch {
		f.mu.Lock()
		f.batches[batch].Cutover = &service.Cutover{RequestedAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
			RequireGrade: o.RequireGrade, ExpectMX: o.ExpectMX, Status: "waiting for the first DNS check"}
		b := f.batch(batch)
		f.mu.Unlock()
		return &service.Completion{Batch: *b, Warnings: worse(mailsync.GradeGood)}, nil
	}
	b, err := f.CompleteBatch(ctx, batch)
	if err != nil {
		return nil, err
	}
	return &service.Completion{Batch: *b, Warnings: worse(mailsync.GradeGood)}, nil
}

// BatchDNS answers what SetDNS gave, else the batch's domains unchecked.
func (f *Fake) BatchDNS(ctx context.Context, batch string) (*service.BatchDNS, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lookup(batch); err != nil {
		return nil, err
	}
	if d := f.dns[batch]; d != nil {
		c := *d
		return &c, nil
	}
	d := &service.BatchDNS{Batch: batch, ExpectMX: []string{}, Domains: []service.DomainDNS{}}
	for _, u := range f.users {
		if u.Batch != batch {
			continue
		}
		_, domain, _ := strings.Cut(u.EmailAddress, "@")
		if i := slices.IndexFunc(d.Domains, func(x service.DomainDNS) bool { return x.Domain == domain }); i >= 0 {
			d.Domains[i].Users++
		} else {
			d.Domains = append(d.Domains, service.DomainDNS{Domain: domain, Users: 1, Error: "no DNS server in the fake"})
		}
	}
	return d, nil
}
