package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	serverprobe "github.com/imapmigrate/imapmigrate/internal/probe"
)

// The batch Validate step: for each user (or a sample), log in at both
// endpoints as a pass would, and look at what a pass would meet, without
// copying or changing anything (both connections read-only): the logins,
// the folder mapping the engine would use, the messages and bytes to copy,
// the messages over the size limit, and the destination's quota against
// them. Each user's result is stored in batch_users.validation, so that
// the API, the CLI and the console show it later; running it again
// replaces it.
//
// It does not stand for the preflight of the first pass (see work), which
// still logs in at both sides when the batch starts: passwords change, and
// mailboxes get created, between a validation and a start.

// Results of a user's validation.
const (
	ValidationOK       = "ok"
	ValidationWarnings = "warnings"
	ValidationErrors   = "errors"
)

// validateParallel is how many users are validated at once (less when an
// endpoint's cap is lower): each holds one connection to each server.
const validateParallel = 4

// ValidateOptions tune ValidateBatch.
type ValidateOptions struct {
	// Sample validates at most this many users, spread evenly over the
	// batch in the CSV's order; 0 validates them all.
	Sample int `json:"sample,omitempty"`
}

// Validation is what the Validate step found for one user.
type Validation struct {
	At     time.Time `json:"at"`
	Result string    `json:"result"` // ok, warnings or errors
	// Errors keep the user from migrating: a login refused (a wrong
	// password, or a destination mailbox that does not exist yet), a
	// server out of reach.
	Errors []string `json:"errors,omitempty"`
	// Warnings let it migrate with a loss or a surprise: a quota too small
	// for the source's size, messages over the size limit, folders
	// renamed because the destination keeps their names, folders that
	// cannot be copied.
	Warnings []string `json:"warnings,omitempty"`
	// Folders, Messages and Bytes are what a pass would copy: the source
	// folders kept by the mapping and the batch's folder patterns.
	Folders  int   `json:"folders"`
	Messages int   `json:"messages"`
	Bytes    int64 `json:"bytes"`
	// TooLarge counts the messages over SizeLimit, the largest message
	// the destination takes (the batch's or the destination endpoint's
	// limit, or the server's APPENDLIMIT when lower).
	TooLarge  int   `json:"too_large"`
	SizeLimit int64 `json:"size_limit"`
	// QuotaFree is the room left in the destination mailbox's STORAGE
	// quota, when it has one.
	QuotaFree *int64 `json:"destination_quota_free,omitempty"`
	// Mapping is the folder mapping a pass would use.
	Mapping []serverprobe.Mapping `json:"mapping,omitempty"`
	Seconds float64               `json:"seconds"`
}

// UserValidation is one user of a BatchValidation.
type UserValidation struct {
	EmailAddress string `json:"email_address"`
	SourceUser   string `json:"source_user"`
	DestUser     string `json:"destination_user"`
	// Validation is nil for a user never validated (left out of a
	// sample).
	Validation *Validation `json:"validation,omitempty"`
}

// BatchValidation is the stored validation of a batch's users.
type BatchValidation struct {
	Batch string           `json:"batch"`
	Users []UserValidation `json:"users"`
	// Counts of the users validated, by result.
	Validated int `json:"validated"`
	OK        int `json:"ok"`
	Warnings  int `json:"warnings"`
	Errors    int `json:"errors"`
}

// ValidateBatch validates a batch's users (see above) and returns every
// user's last validation. A batch whose passes are running is refused:
// the validation's logins would compete with them for the servers'
// connections.
func (s *Service) ValidateBatch(ctx context.Context, name string, o ValidateOptions) (*BatchValidation, error) {
	b, err := s.batchByName(ctx, name)
	if err != nil {
		return nil, err
	}
	if slices.Contains([]string{BatchSyncing, BatchCompleting, BatchStopping, BatchRemoving}, b.State) {
		return nil, fmt.Errorf("validate batch %q: not while it is %s (validate it before it starts, once it is synced, or stopped): %w",
			name, b.State, ErrConflict)
	}
	if o.Sample < 0 {
		return nil, fmt.Errorf("validate batch %q: sample: cannot be negative: %w", name, ErrInvalid)
	}
	src, err := s.endpointByID(ctx, b.SourceID)
	if err != nil {
		return nil, err
	}
	dst, err := s.endpointByID(ctx, b.DestID)
	if err != nil {
		return nil, err
	}
	users, err := s.batchUsers(ctx, b, "")
	if err != nil {
		return nil, err
	}
	users = sample(users, o.Sample)
	s.log.Info("Validating users.", "batch", name, "users", len(users))

	work := make(chan *userRow)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range min(validateParallel, src.MaxConcurrentMigrations, dst.MaxConcurrentMigrations, max(len(users), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				if err := s.validateUser(ctx, b, src, dst, u); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, u := range users {
		if ctx.Err() != nil {
			break
		}
		work <- u
	}
	close(work)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return nil, fmt.Errorf("validate batch %q: %w", name, firstErr)
	}
	return s.Validation(ctx, name)
}

// Validation returns the stored validation of a batch's users.
func (s *Service) Validation(ctx context.Context, name string) (*BatchValidation, error) {
	b, err := s.batchByName(ctx, name)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT email, source_user, dest_user, validation FROM batch_users
		WHERE batch_id = $1 ORDER BY line, email`, b.ID)
	if err != nil {
		return nil, fmt.Errorf("read validation of batch %q: %w", name, err)
	}
	defer rows.Close()
	out := &BatchValidation{Batch: b.Name, Users: []UserValidation{}}
	for rows.Next() {
		var uv UserValidation
		var stored string
		if err := rows.Scan(&uv.EmailAddress, &uv.SourceUser, &uv.DestUser, &stored); err != nil {
			return nil, fmt.Errorf("read validation of batch %q: %w", name, err)
		}
		if stored != "" {
			uv.Validation = &Validation{}
			if err := json.Unmarshal([]byte(stored), uv.Validation); err != nil {
				return nil, fmt.Errorf("read validation of %s: %w", uv.EmailAddress, err)
			}
			out.Validated++
			switch uv.Validation.Result {
			case ValidationOK:
				out.OK++
			case ValidationWarnings:
				out.Warnings++
			default:
				out.Errors++
			}
		}
		out.Users = append(out.Users, uv)
	}
	return out, rows.Err()
}

// sample picks n users spread evenly over users (the first, and every
// len/n-th after it); all of them when n is 0 or not less than len.
func sample[T any](users []T, n int) []T {
	if n <= 0 || n >= len(users) {
		return users
	}
	out := make([]T, 0, n)
	for i := range n {
		out = append(out, users[i*len(users)/n])
	}
	return out
}

// validateUser validates one user and stores the result. It returns an
// error only when the result could not be stored, or ctx ended: what the
// servers said is the result.
func (s *Service) validateUser(ctx context.Context, b *batchRow, src, dst *endpoint, u *userRow) error {
	log := s.log.With("batch", b.Name, "user", u.Email)
	v := s.check(ctx, b, src, dst, u)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	stored, _ := json.Marshal(v)
	if err := s.setUser(ctx, u.ID, "validation = $1", string(stored)); err != nil {
		return err
	}
	log.Info("User validated.", "result", v.Result, "errors", len(v.Errors), "warnings", len(v.Warnings))
	return nil
}

// check runs the probe of package probe on the user's two logins, with
// the pass's folder rules and size limit, and says what it means.
func (s *Service) check(ctx context.Context, b *batchRow, src, dst *endpoint, u *userRow) *Validation {
	start := time.Now()
	v := &Validation{At: time.Now().UTC().Truncate(time.Second)}
	defer func() {
		v.Seconds = time.Since(start).Seconds()
		switch {
		case len(v.Errors) > 0:
			v.Result = ValidationErrors
		case len(v.Warnings) > 0:
			v.Result = ValidationWarnings
		default:
			v.Result = ValidationOK
		}
	}()
	log := s.log.With("batch", b.Name, "user", u.Email)
	srcCfg, dstCfg, err := s.logins(u, src, dst, log)
	if err != nil {
		v.Errors = append(v.Errors, err.Error())
		return v
	}
	srcCfg.Side, dstCfg.Side = sideSource, sideDest
	rules, size := passRules(b.Options, src, dst)
	rep, err := serverprobe.Run(ctx, serverprobe.Options{
		Source: srcCfg, Dest: dstCfg, SourceProfile: src.prof, DestProfile: dst.prof,
		Folders: rules, SourceRoot: u.UserRoot, MaxMessageSize: size, Connections: s.passConnections(src, dst), Logger: log,
	})
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return v
	case authFailed(err):
		v.Errors = append(v.Errors, loginAdvice(err, srcCfg, dstCfg))
	case throttled(err):
		v.Errors = append(v.Errors, fmt.Sprintf("a server refused for now (throttling); validate again later: %v", err))
	default:
		v.Errors = append(v.Errors, fmt.Sprintf("validation stopped: %v", err))
	}
	if rep == nil || rep.Source == nil {
		return v
	}
	for _, f := range rep.Source.Folders {
		if f.Error != "" && f.Skip == "" {
			v.Warnings = append(v.Warnings, fmt.Sprintf("source folder %q cannot be read: %s", f.Name, f.Error))
		}
	}
	if rep.Destination == nil {
		// The source's figures still say what the user holds.
		e := serverprobe.EstimateCopy(rep.Source, nil, 1, src.prof, dst.prof)
		v.Folders, v.Messages, v.Bytes = e.Folders, e.Messages, e.Bytes
		return v
	}
	if free, _, ok := rep.Destination.StorageFree(); ok {
		v.QuotaFree = &free
	}
	v.Mapping = rep.Mapping
	for _, m := range rep.Mapping {
		switch {
		case m.Skip == "unmappable":
			v.Warnings = append(v.Warnings, fmt.Sprintf("source folder %q cannot be copied: its name is not valid modified UTF-7", m.Display))
		case m.Skip == "" && renamed(m.Note):
			v.Warnings = append(v.Warnings, fmt.Sprintf("source folder %q goes to %q: %s", m.Display, m.Destination, m.Note))
		}
	}
	if e := rep.Estimate; e != nil {
		v.Folders, v.Messages, v.Bytes, v.TooLarge, v.SizeLimit = e.Folders, e.Messages, e.Bytes, e.TooLarge, e.SizeLimit
		v.Warnings = append(v.Warnings, e.Warnings...)
	}
	return v
}

// renamed recognises the notes of package folder that say a folder gets
// another name than the source's at the destination: a name the
// destination keeps for itself, a separator inside a name, two names
// that would land on one.
func renamed(note string) bool {
	for _, s := range []string{"for itself", "replaced by", "also maps to"} {
		if strings.Contains(note, s) {
			return true
		}
	}
	return false
}
