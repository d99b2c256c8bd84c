package apitest

import (
	"context"
	"strings"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// PutValidation sets the result that ValidateBatch finds for the user
// with that address, as the servers would have answered.
func (f *Fake) PutValidation(email string, v service.Validation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.validations == nil {
		f.validations = map[string]*service.Validation{}
	}
	f.validations[strings.ToLower(email)] = &v
}

// ValidateBatch validates the batch's users (a sample as the service
// picks it: the first and every len/n-th after): those given a result with
// PutValidation keep it, the others are ok. Nothing else changes.
func (f *Fake) ValidateBatch(ctx context.Context, batch string, o service.ValidateOptions) (*service.BatchValidation, error) {
	f.mu.Lock()
	if err := f.lookup(batch); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	var emails []string
	for _, u := range f.users {
		if u.Batch == batch {
			emails = append(emails, strings.ToLower(u.EmailAddress))
		}
	}
	if n := o.Sample; n > 0 && n < len(emails) {
		picked := make([]string, 0, n)
		for i := range n {
			picked = append(picked, emails[i*len(emails)/n])
		}
		emails = picked
	}
	if f.validations == nil {
		f.validations = map[string]*service.Validation{}
	}
	for _, e := range emails {
		if f.validations[e] == nil {
			f.validations[e] = &service.Validation{At: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Result: service.ValidationOK}
		}
	}
	f.mu.Unlock()
	return f.Validation(ctx, batch)
}

// Validation returns the validations of the batch's users, counted as the
// service counts them.
func (f *Fake) Validation(ctx context.Context, batch string) (*service.BatchValidation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lookup(batch); err != nil {
		return nil, err
	}
	out := &service.BatchValidation{Batch: batch, Users: []service.UserValidation{}}
	for _, u := range f.users {
		if u.Batch != batch {
			continue
		}
		uv := service.UserValidation{EmailAddress: u.EmailAddress, SourceUser: u.SourceUser, DestUser: u.DestUser}
		if v := f.validations[strings.ToLower(u.EmailAddress)]; v != nil {
			c := *v
			uv.Validation = &c
			out.Validated++
			switch v.Result {
			case service.ValidationOK:
				out.OK++
			case service.ValidationWarnings:
				out.Warnings++
			default:
				out.Errors++
			}
		}
		out.Users = append(out.Users, uv)
	}
	return out, nil
}
