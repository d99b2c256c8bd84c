// Package apitest holds an in-memory fake of the migration service for the
// tests of the API, its Go client and the command line, so that all three
// run against the same behaviour without IMAP servers or a database.
package apitest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/batch"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// Fake implements api.Service in memory. It answers as the real service
// would: passwords go in and never come out, errors wrap the service's
// kinds, and Users leaves out the per-user details that User and Report
// carry. Its zero value is not usable; call NewFake.
type Fake struct {
	mu        sync.Mutex
	endpoints map[string]service.Endpoint
	batches   map[string]*service.Batch
	users     []service.User
	passes    map[string][]service.Pass // by batch
	secrets   []string
	err       error
	dns       map[string]*service.BatchDNS     // by batch; see SetDNS
	letters   map[string]service.WelcomeLetter // by user address; see mail.go
	// validations are the users' last validations, by address; see
	// validate.go.
	validations map[string]*service.Validation
}

// NewFake returns an empty service.
func NewFake() *Fake {
	return &Fake{endpoints: map[string]service.Endpoint{}, batches: map[string]*service.Batch{}, passes: map[string][]service.Pass{}}
}

// Fail makes every later call return err (nil restores normal answers).
func (f *Fake) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// PutUser adds u, or replaces the user with its address, with all details
// (folders, skipped and failed items) as a sync would have left them.
func (f *Fake) PutUser(u service.User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.users {
		if f.users[i].EmailAddress == u.EmailAddress {
			f.users[i] = u
			return
		}
	}
	f.users = append(f.users, u)
}

// Secrets returns every password the fake was given, in order: endpoint
// admin passwords, endpoint test passwords and CSV passwords.
func (f *Fake) Secrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.secrets)
}

func (f *Fake) AddEndpoint(ctx context.Context, spec service.EndpointSpec) (*service.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if _, ok := f.endpoints[spec.Name]; ok {
		return nil, fmt.Errorf("add endpoint %q: already exists: %w", spec.Name, service.ErrConflict)
	}
	return f.putEndpoint(spec)
}

func (f *Fake) UpdateEndpoint(ctx context.Context, name string, spec service.EndpointSpec) (*service.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	old, ok := f.endpoints[name]
	if !ok {
		return nil, fmt.Errorf("endpoint %q: %w", name, service.ErrNotFound)
	}
	spec.Name = name
	if spec.AdminPassword == "" {
		spec.HasAdminPassword = old.HasAdminPassword
	}
	return f.putEndpoint(spec)
}

func (f *Fake) putEndpoint(spec service.EndpointSpec) (*service.Endpoint, error) {
	if spec.Name == "" || (spec.Host == "" && spec.Profile == "") {
		return nil, fmt.Errorf("endpoint %q: name and host are required (or a profile): %w", spec.Name, service.ErrInvalid)
	}
	ep := spec.Endpoint
	if spec.AdminPassword != "" {
		f.secrets = append(f.secrets, spec.AdminPassword)
		ep.HasAdminPassword = true
	}
	if ep.OAuth != nil {
		o := *ep.OAuth
		for _, s := range []struct {
			given string
			has   *bool
		}{{spec.OAuthClientSecret, &o.HasClientSecret}, {spec.OAuthPrivateKey, &o.HasPrivateKey}, {spec.OAuthServiceAccountKey, &o.HasServiceAccountKey}} {
			if s.given != "" {
				f.secrets = append(f.secrets, s.given)
				*s.has = true
			}
		}
		ep.OAuth, ep.Credentials = &o, service.CredentialsOAuth
	}
	eff, err := service.EffectiveSettings(ep)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %v: %w", spec.Name, err, service.ErrInvalid)
	}
	ep.Effective = eff
	ep.Created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.endpoints[ep.Name] = ep
	return &ep, nil
}

func (f *Fake) Endpoints(ctx context.Context) ([]service.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var eps []service.Endpoint
	for _, name := range slices.Sorted(maps.Keys(f.endpoints)) {
		eps = append(eps, f.endpoints[name])
	}
	return eps, nil
}

func (f *Fake) Endpoint(ctx context.Context, name string) (*service.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	ep, ok := f.endpoints[name]
	if !ok {
		return nil, fmt.Errorf("endpoint %q: %w", name, service.ErrNotFound)
	}
	return &ep, nil
}

func (f *Fake) RemoveEndpoint(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if _, ok := f.endpoints[name]; !ok {
		return fmt.Errorf("endpoint %q: %w", name, service.ErrNotFound)
	}
	delete(f.endpoints, name)
	return nil
}

// TestEndpoint answers as a Dovecot server would.
func (f *Fake) TestEndpoint(ctx context.Context, name, user, password string) (*service.EndpointTest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	ep, ok := f.endpoints[name]
	if !ok {
		return nil, fmt.Errorf("endpoint %q: %w", name, service.ErrNotFound)
	}
	if password != "" {
		f.secrets = append(f.secrets, password)
	}
	if user == "" {
		user = ep.AdminUser
	}
	return &service.EndpointTest{
		Endpoint: name,
		User:     user,
		Capabilities: []string{"IMAP4rev1", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE", "IDLE", "SORT", "SORT=DISPLAY",
			"THREAD=REFERENCES", "THREAD=REFS", "THREAD=ORDEREDSUBJECT", "MULTIAPPEND", "URL-PARTIAL", "CATENATE", "UNSELECT",
			"CHILDREN", "NAMESPACE", "UIDPLUS", "LIST-EXTENDED", "I18NLEVEL=1", "CONDSTORE", "QRESYNC", "ESEARCH", "ESORT",
			"SEARCHRES", "WITHIN", "CONTEXT=SEARCH", "LIST-STATUS", "BINARY", "MOVE", "SNIPPET=FUZZY", "PREVIEW=FUZZY",
			"PREVIEW", "STATUS=SIZE", "SAVEDATE", "LITERAL+", "NOTIFY", "SPECIAL-USE"},
		Namespaces: []service.Namespace{
			{Kind: "personal", Prefix: "", Separator: "/"},
			{Kind: "other", Prefix: "Other Users/", Separator: "/"},
			{Kind: "shared", Prefix: "Shared/", Separator: "/"},
		},
		Separator: "/",
		Folders:   7,
		Elapsed:   0.42,
	}, nil
}

// CreateBatch reads the CSV file the simple way (a header, then
// EmailAddress,UserName,Password lines), enough to report a bad address
// with its line as the real parser does.
func (f *Fake) CreateBatch(ctx context.Context, spec service.BatchSpec) (*service.Batch, *service.BatchPlan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, nil, f.err
	}
	if _, ok := f.batches[spec.Name]; ok {
		return nil, nil, fmt.Errorf("create batch %q: already exists: %w", spec.Name, service.ErrConflict)
	}
	for _, ep := range []string{spec.SourceEndpoint, spec.DestEndpoint} {
		if _, ok := f.endpoints[ep]; !ok {
			return nil, nil, fmt.Errorf("create batch %q: endpoint %q: %w", spec.Name, ep, service.ErrNotFound)
		}
	}
	rows, err := f.parseCSV(spec.CSV)
	if err != nil {
		return nil, nil, err
	}
	if spec.DryRun {
		plan := &service.BatchPlan{Name: spec.Name}
		for _, r := range rows {
			plan.Users = append(plan.Users, service.PlanUser{Line: r.Line, EmailAddress: r.EmailAddress, SourceLogin: r.UserName, DestinationUser: r.EmailAddress})
		}
		return nil, plan, nil
	}
	b := &service.Batch{
		Name: spec.Name, SourceEndpoint: spec.SourceEndpoint, DestEndpoint: spec.DestEndpoint,
		State: service.BatchCreated, Options: spec.Options, Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	if spec.Start {
		b.State = service.BatchSyncing
	}
	f.batches[b.Name] = b
	f.addRows(b.Name, rows)
	return f.batch(b.Name), nil, nil
}

func (f *Fake) parseCSV(text string) ([]batch.Row, error) {
	var rows []batch.Row
	var problems []batch.Problem
	for i, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if i == 0 {
			continue
		}
		fields := strings.Split(strings.TrimRight(line, "\r"), ",")
		for len(fields) < 3 {
			fields = append(fields, "")
		}
		r := batch.Row{Line: i + 1, EmailAddress: fields[0], UserName: fields[1], Password: fields[2]}
		if _, domain, _ := strings.Cut(r.EmailAddress, "@"); domain == "" {
			problems = append(problems, batch.Problem{Line: r.Line, Column: "EmailAddress", Message: fmt.Sprintf("%q: missing domain", r.EmailAddress)})
		}
		if r.Password == "" {
			problems = append(problems, batch.Problem{Line: r.Line, Column: "Password", Message: "is empty"})
		}
		f.secrets = append(f.secrets, r.Password)
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		problems = append(problems, batch.Problem{Message: "no users"})
	}
	if len(problems) > 0 {
		return nil, &service.CSVError{Problems: problems}
	}
	return rows, nil
}

func (f *Fake) addRows(batchName string, rows []batch.Row) {
	for _, r := range rows {
		f.users = append(f.users, service.User{
			Batch: batchName, EmailAddress: r.EmailAddress, SourceUser: r.UserName, DestUser: r.EmailAddress,
			Status: service.UserQueued, SkippedBy: map[string]int64{},
		})
	}
}

// batch returns a copy of the batch with its users added up.
func (f *Fake) batch(name string) *service.Batch {
	b := *f.batches[name]
	b.Totals = service.BatchTotals{UsersByState: map[string]int{}}
	for _, u := range f.users {
		if u.Batch != name {
			continue
		}
		t := &b.Totals
		t.Users++
		t.UsersByState[u.Status]++
		t.ItemsSynced += u.ItemsSynced
		t.ItemsSkipped += u.ItemsSkipped
		t.ItemsFailed += u.ItemsFailed
		t.Bytes += u.Bytes
		if u.LastSync != nil && (b.LastSync == nil || u.LastSync.After(*b.LastSync)) {
			b.LastSync = u.LastSync
		}
	}
	return &b
}

func (f *Fake) lookup(name string) error {
	if f.err != nil {
		return f.err
	}
	if _, ok := f.batches[name]; !ok {
		return fmt.Errorf("batch %q: %w", name, service.ErrNotFound)
	}
	return nil
}

func (f *Fake) Batches(ctx context.Context) ([]service.Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var bs []service.Batch
	for _, name := range slices.Sorted(maps.Keys(f.batches)) {
		bs = append(bs, *f.batch(name))
	}
	return bs, nil
}

func (f *Fake) Batch(ctx context.Context, name string) (*service.Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lookup(name); err != nil {
		return nil, err
	}
	return f.batch(name), nil
}

// setState moves a batch to state unless it is in one of the states that
// forbid it.
func (f *Fake) setState(name, verb, state string, forbidden ...string) (*service.Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lookup(name); err != nil {
		return nil, err
	}
	b := f.batches[name]
	if slices.Contains(forbidden, b.State) {
		return nil, fmt.Errorf("%s batch %q: it is %s: %w", verb, name, b.State, service.ErrConflict)
	}
	b.State = state
	return f.batch(name), nil
}

func (f *Fake) StartBatch(ctx context.Context, name string) (*service.Batch, error) {
	return f.setState(name, "start", service.BatchSyncing, service.BatchCompleted, service.BatchSyncing)
}

func (f *Fake) StopBatch(ctx context.Context, name string) (*service.Batch, error) {
	return f.setState(name, "stop", service.BatchStopped, service.BatchCompleted)
}

func (f *Fake) CompleteBatch(ctx context.Context, name string) (*service.Batch, error) {
	return f.setState(name, "complete", service.BatchCompleting, service.BatchCreated, service.BatchCompleted)
}

func (f *Fake) SyncNow(ctx context.Context, name string) (*service.Batch, error) {
	return f.setState(name, "sync", service.BatchSyncing, service.BatchCompleted)
}

func (f *Fake) RetryFailed(ctx context.Context, name string) (*service.Batch, error) {
	return f.setState(name, "retry", service.BatchSyncing, service.BatchCompleted)
}

func (f *Fake) RemoveBatch(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lookup(name); err != nil {
		return err
	}
	delete(f.batches, name)
	f.users = slices.DeleteFunc(f.users, func(u service.User) bool { return u.Batch == name })
	return nil
}

func (f *Fake) AddUsers(ctx context.Context, name, csv string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lookup(name); err != nil {
		return 0, err
	}
	rows, err := f.parseCSV(csv)
	if err != nil {
		return 0, err
	}
	f.addRows(name, rows)
	return len(rows), nil
}

func (f *Fake) Users(ctx context.Context, batchName string) ([]service.User, error) {
	us, err := f.Report(ctx, batchName)
	for i := range us {
		us[i].Folders, us[i].SkippedItems, us[i].FailedItems = nil, nil, nil
	}
	return us, err
}

func (f *Fake) User(ctx context.Context, email string) (*service.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	for _, u := range f.users {
		if u.EmailAddress == email {
			return &u, nil
		}
	}
	return nil, fmt.Errorf("user %q: %w", email, service.ErrNotFound)
}

func (f *Fake) Report(ctx context.Context, batchName string) ([]service.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lookup(batchName); err != nil {
		return nil, err
	}
	var us []service.User
	for _, u := range f.users {
		if u.Batch == batchName {
			us = append(us, u)
		}
	}
	return us, nil
}

// AddPass records a finished pass of a user of the batch, as a worker
// would; History returns them in the order added.
func (f *Fake) AddPass(batchName string, p service.Pass) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.passes[batchName] = append(f.passes[batchName], p)
}

// EditBatch changes a batch as time or the workers would (its state,
// Stale), through edit.
func (f *Fake) EditBatch(name string, edit func(b *service.Batch)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	edit(f.batches[name])
}

func (f *Fake) History(ctx context.Context, batchName string) ([]service.Pass, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.lookup(batchName); err != nil {
		return nil, err
	}
	return slices.Clone(f.passes[batchName]), nil
}
