package service

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/dnscheck"
)

// The cut-over in the service: a batch's domains are those of its users'
// addresses (the CSV's EmailAddress, the destination mailbox), and
// BatchDNS runs package dnscheck on each against the destination's MX
// hosts (the batch's expect_mx option). A batch completed with
// CompleteOptions.AfterMXSwitch waits in batch_cutovers: the scheduler
// checks its domains every Config.DNSCheckInterval, notes when all of them
// first point at the destination, and completes the batch once every
// synced user has had an incremental pass that began after that moment,
// since mail that reached the old server before the switch is only copied
// by a pass that starts after it.

// DefaultDNSCheckInterval is how often the scheduler checks the domains of
// a batch waiting for its MX switch: often enough that the batch completes
// soon after the switch, rarely enough that a DNS server is not bothered
// (MX TTLs are an hour or more).
const DefaultDNSCheckInterval = 5 * time.Minute

// dnsChecksAtOnce bounds the domains of one batch checked in parallel.
const dnsChecksAtOnce = 4

// BatchDNS is the state of a batch's domains for the cut-over.
type BatchDNS struct {
	Batch string `json:"batch"`
	// Resolver is the DNS server asked, HOST:PORT.
	Resolver string   `json:"resolver"`
	ExpectMX []string `json:"expect_mx"`
	// Switched is true when every domain's MX records all point at the
	// destination (dnscheck.StateSwitched).
	Switched bool        `json:"switched"`
	Domains  []DomainDNS `json:"domains"`
	// Cutover is set while the batch waits to complete after the switch.
	Cutover *Cutover `json:"cutover,omitempty"`
}

// DomainDNS is one domain of a batch: how many of its users are in the
// domain, and what dnscheck found (Result), or why it could not (Error).
type DomainDNS struct {
	Domain string           `json:"domain"`
	Users  int              `json:"users"`
	Result *dnscheck.Result `json:"result,omitempty"`
	Error  string           `json:"error,omitempty"`
}

// State is the domain's cut-over state, or "error".
func (d DomainDNS) State() string {
	if d.Result == nil {
		return "error"
	}
	return string(d.Result.State)
}

// Cutover is a batch's pending completion after the MX switch.
type Cutover struct {
	RequestedAt  time.Time `json:"requested_at"`
	RequireGrade string    `json:"require_grade,omitempty"`
	ExpectMX     []string  `json:"expect_mx"`
	// SwitchedAt is when the scheduler first found every domain switched;
	// nil before (and again if the records went back).
	SwitchedAt *time.Time `json:"switched_at,omitempty"`
	CheckedAt  *time.Time `json:"checked_at,omitempty"`
	// Status is the last check's outcome, in words.
	Status string `json:"status"`
}

// BatchDNS checks the batch's domains against its expected MX hosts (those
// of a pending cut-over, else the batch's expect_mx option; without any,
// each domain is dnscheck.StateUnchecked). A domain whose check fails is
// listed with the error; the others are still checked.
func (s *Service) BatchDNS(ctx context.Context, name string) (*BatchDNS, error) {
	b, err := s.batchByName(ctx, name)
	if err != nil {
		return nil, err
	}
	c, err := s.cutoverOf(ctx, b.ID)
	if err != nil {
		return nil, err
	}
	expect := b.Options.ExpectMX
	if c != nil {
		expect = c.ExpectMX
	}
	d, err := s.checkDomains(ctx, b, expect)
	if err != nil {
		return nil, err
	}
	d.Cutover = c
	return d, nil
}

// dnsResolver is the DNS server the checks ask: Config.DNSResolver, else
// the system's first.
func (s *Service) dnsResolver() (dnscheck.Resolver, error) {
	if s.cfg.DNSResolver == "" {
		server, err := dnscheck.SystemServer(dnscheck.ResolvConf)
		if err != nil {
			return dnscheck.Resolver{}, fmt.Errorf("%w (set dns_resolver)", err)
		}
		return dnscheck.Resolver{Server: server}, nil
	}
	server, err := dnscheck.ParseServer(s.cfg.DNSResolver)
	if err != nil {
		return dnscheck.Resolver{Server: s.cfg.DNSResolver}, fmt.Errorf("dns_resolver: %w", err)
	}
	return dnscheck.Resolver{Server: server}, nil
}

// checkDomains runs dnscheck on each domain of the batch's users.
func (s *Service) checkDomains(ctx context.Context, b *batchRow, expect []string) (*BatchDNS, error) {
	domains, err := s.batchDomains(ctx, b)
	if err != nil {
		return nil, err
	}
	out := &BatchDNS{Batch: b.Name, ExpectMX: nonNilStrings(expect), Domains: domains}
	rs, rerr := s.dnsResolver()
	out.Resolver = rs.Server
	var wg sync.WaitGroup
	slots := make(chan struct{}, dnsChecksAtOnce)
	for i := range out.Domains {
		d := &out.Domains[i]
		if rerr != nil {
			d.Error = rerr.Error()
			continue
		}
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			r, err := rs.Check(ctx, d.Domain, dnscheck.Expect{MX: expect})
			if err != nil {
				d.Error = err.Error()
				return
			}
			d.Result = r
		}()
	}
	wg.Wait()
	out.Switched = len(out.Domains) > 0 && !slices.ContainsFunc(out.Domains, func(d DomainDNS) bool {
		return d.Result == nil || d.Result.State != dnscheck.StateSwitched
	})
	return out, nil
}

// batchDomains are the distinct domains of the batch's users' addresses,
// sorted, with how many users each has.
func (s *Service) batchDomains(ctx context.Context, b *batchRow) ([]DomainDNS, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT email FROM batch_users WHERE batch_id = $1`, b.ID)
	if err != nil {
		return nil, fmt.Errorf("list the domains of batch %q: %w", b.Name, err)
	}
	defer rows.Close()
	count := map[string]int{}
	for rows.Next() {
		var email string
		if err := rows.Scan(&email); err != nil {
			return nil, fmt.Errorf("list the domains of batch %q: %w", b.Name, err)
		}
		if i := strings.LastIndexByte(email, '@'); i >= 0 {
			count[email[i+1:]]++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the domains of batch %q: %w", b.Name, err)
	}
	out := []DomainDNS{}
	for d, n := range count {
		out = append(out, DomainDNS{Domain: d, Users: n})
	}
	slices.SortFunc(out, func(a, b DomainDNS) int { return strings.Compare(a.Domain, b.Domain) })
	return out, nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// mxHostProblems checks the destination MX hosts an admin gives: names,
// or "*.SUFFIX".
func mxHostProblems(hosts []string) []string {
	var problems []string
	for _, h := range hosts {
		name := strings.TrimPrefix(strings.TrimSuffix(strings.TrimSpace(h), "."), "*.")
		if name == "" || strings.ContainsAny(name, " \t*/@:") || !strings.Contains(name, ".") {
			problems = append(problems, fmt.Sprintf("expect_mx: %q is not a host name (mx.example.com, or *.example.com for any host under it)", h))
		}
	}
	return problems
}

// cutoverStates are the batch states in which a completion after the MX
// switch can be asked for: the batch syncs, and will until then.
var cutoverStates = []string{BatchSyncing, BatchSynced, BatchSyncedWithErrors}

// scheduleCutover records that the batch completes after the MX switch
// (CompleteOptions.AfterMXSwitch). Asking again replaces the conditions
// and starts the wait for the switch afresh.
func (s *Service) scheduleCutover(ctx context.Context, b *batchRow, o CompleteOptions, warnings []GradeNote) (*Completion, error) {
	if !slices.Contains(cutoverStates, b.State) {
		return nil, fmt.Errorf("complete batch %q after the MX switch: not possible while it is %s (possible when %s): %w",
			b.Name, b.State, strings.Join(cutoverStates, ", "), ErrConflict)
	}
	if len(o.ExpectMX) == 0 {
		o.ExpectMX = b.Options.ExpectMX
	}
	if len(o.ExpectMX) == 0 {
		return nil, fmt.Errorf("complete batch %q after the MX switch: name the destination's MX hosts (--expect-mx, or the batch's expect_mx option): %w",
			b.Name, ErrInvalid)
	}
	if problems := mxHostProblems(o.ExpectMX); len(problems) > 0 {
		return nil, fmt.Errorf("complete batch %q after the MX switch: %s: %w", b.Name, strings.Join(problems, "; "), ErrInvalid)
	}
	opts, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO batch_cutovers (batch_id, options, requested_at, status) VALUES ($1, $2, $3, $4)
		ON CONFLICT (batch_id) DO UPDATE SET options = excluded.options, requested_at = excluded.requested_at,
		switched_at = NULL, checked_at = NULL, status = excluded.status`,
		b.ID, string(opts), now(), "waiting for the first DNS check"); err != nil {
		return nil, fmt.Errorf("complete batch %q after the MX switch: %w", b.Name, err)
	}
	s.log.Info("Batch to complete after the MX switch.", "batch", b.Name, "expect_mx", strings.Join(o.ExpectMX, ","),
		"require_grade", o.RequireGrade)
	s.wake()
	bt, err := s.Batch(ctx, b.Name)
	if err != nil {
		return nil, err
	}
	return &Completion{Batch: *bt, Warnings: warnings}, nil
}

// cutoverOf returns the batch's pending cut-over, or nil.
func (s *Service) cutoverOf(ctx context.Context, batchID int64) (*Cutover, error) {
	var opts, status string
	var requested int64
	var switched, checked sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT options, requested_at, switched_at, checked_at, status FROM batch_cutovers
		WHERE batch_id = $1`, batchID).Scan(&opts, &requested, &switched, &checked, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the cut-over of batch %d: %w", batchID, err)
	}
	var o CompleteOptions
	if err := json.Unmarshal([]byte(opts), &o); err != nil {
		return nil, fmt.Errorf("read the cut-over of batch %d: %w", batchID, err)
	}
	return &Cutover{RequestedAt: time.UnixMilli(requested).UTC(), RequireGrade: o.RequireGrade, ExpectMX: o.ExpectMX,
		SwitchedAt: fromMillis(switched), CheckedAt: fromMillis(checked), Status: status}, nil
}

func (s *Service) dropCutover(ctx context.Context, batchID int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM batch_cutovers WHERE batch_id = $1`, batchID); err != nil {
		return fmt.Errorf("drop the cut-over of batch %d: %w", batchID, err)
	}
	return nil
}

// cutovers starts, in the background, the checks of the batches waiting
// for their MX switch whose check is due. A round of DNS checks may take
// seconds (a silent server costs a timeout per domain), and the scheduler's
// tick must not wait for it; one round runs at a time.
func (s *Service) cutovers(ctx context.Context) error {
	if !s.cutoverBusy.CompareAndSwap(false, true) {
		return nil
	}
	due, err := s.batchIDs(ctx, `id IN (SELECT batch_id FROM batch_cutovers WHERE checked_at IS NULL OR checked_at <= $1)`,
		now()-s.cfg.DNSCheckInterval.Milliseconds())
	if err != nil || len(due) == 0 {
		s.cutoverBusy.Store(false)
		return err
	}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		defer s.cutoverBusy.Store(false)
		for _, id := range due {
			if err := s.advanceCutover(ctx, id); err != nil && ctx.Err() == nil {
				s.log.Warn("Checking a batch's MX switch failed; trying again at the next check.", "batch_id", id, "err", err)
			}
		}
	}()
	return nil
}

// advanceCutover checks one waiting batch's domains and completes it when
// they all point at the destination and every synced user has had a pass
// that began after the scheduler first saw that.
func (s *Service) advanceCutover(ctx context.Context, batchID int64) error {
	b, err := s.batchByID(ctx, batchID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	c, err := s.cutoverOf(ctx, b.ID)
	if err != nil || c == nil {
		return err
	}
	at := now()
	note := func(switchedAt sql.NullInt64, status string) error {
		_, err := s.db.ExecContext(ctx, `UPDATE batch_cutovers SET switched_at = $1, checked_at = $2, status = $3 WHERE batch_id = $4`,
			switchedAt, at, status, b.ID)
		if err != nil {
			return fmt.Errorf("record the MX check of batch %q: %w", b.Name, err)
		}
		return nil
	}
	if !slices.Contains(cutoverStates, b.State) {
		if b.State == BatchCompleting || b.State == BatchCompleted || b.State == BatchRemoving {
			return s.dropCutover(ctx, b.ID) // completed by other means
		}
		return note(sql.NullInt64{}, fmt.Sprintf("waiting: the batch is %s", b.State))
	}
	d, err := s.checkDomains(ctx, b, c.ExpectMX)
	if err != nil {
		return err
	}
	if !d.Switched {
		var parts []string
		for _, dom := range d.Domains {
			parts = append(parts, dom.Domain+" "+dom.State())
		}
		if len(parts) == 0 {
			parts = append(parts, "the batch has no users")
		}
		return note(sql.NullInt64{}, "MX not switched yet: "+strings.Join(parts, ", "))
	}
	switched := sql.NullInt64{Int64: at, Valid: true}
	if c.SwitchedAt != nil {
		switched.Int64 = c.SwitchedAt.UnixMilli()
	} else {
		s.log.Info("The batch's domains point at the destination; it completes after an incremental pass of every user.",
			"batch", b.Name, "domains", len(d.Domains))
	}
	since := time.UnixMilli(switched.Int64).UTC().Format("2006-01-02 15:04:05 MST")
	if b.State == BatchSyncing {
		return note(switched, fmt.Sprintf("MX switched at %s; waiting for the batch to be synced", since))
	}
	waiting, err := s.passesBefore(ctx, b.ID, switched.Int64)
	if err != nil {
		return err
	}
	if waiting > 0 {
		return note(switched, fmt.Sprintf("MX switched at %s; waiting for an incremental pass begun since of %d %s",
			since, waiting, plural(int64(waiting), "user", "users")))
	}
	_, err = s.CompleteBatchWith(ctx, b.Name, CompleteOptions{RequireGrade: c.RequireGrade})
	var ge *GradeError
	if errors.As(err, &ge) {
		s.log.Warn("The batch's MX switched, but it is not completed: users grade below the bar.", "batch", b.Name,
			"require_grade", ge.Bar, "users", len(ge.Users))
		return note(switched, fmt.Sprintf("MX switched at %s; not completed: %v", since, ge))
	}
	if err != nil {
		return err
	}
	s.log.Info("Completing the batch: its domains' MX records point at the destination, and every user had an incremental pass since.",
		"batch", b.Name, "switched_at", since)
	return nil
}

// passesBefore counts the users of the batch that still need a pass begun
// at or after at: synced users whose last pass began before (a pass's
// last slice scans the source afresh, so its start is what counts), and
// users in a pass now, which may have begun before. Failed and Blocked
// users are not waited for, as complete does not wait for them.
func (s *Service) passesBefore(ctx context.Context, batchID, at int64) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM batch_users WHERE batch_id = $1 AND
		(status IN ($2, $3, $4, $5) OR (status = $6 AND (last_sync_at IS NULL OR last_sync_at - duration_ms < $7)))`,
		batchID, UserQueued, UserValidating, UserSyncing, UserIncrementalSyncing, UserSynced, at).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count the users of batch %d to sync after the MX switch: %w", batchID, err)
	}
	return n, nil
}
