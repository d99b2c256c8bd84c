package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	// The zone database is compiled in, so that "Europe/Paris" means the
	// same on a minimal container without /usr/share/zoneinfo as on the
	// admin's machine, for the CLI that parses a time and the service that
	// shows it.
	_ "time/tzdata"
)

// Start-after, as Exchange's New-MigrationBatch -StartAfter: the batch is
// prepared and started by the admin, but no mailbox is touched before the
// time. A start before it leaves the batch Scheduled, with its users
// Queued; the scheduler starts it when the time comes (startDue). Stop
// takes a Scheduled batch to Stopped, and users may be added to it.

// localLayouts are the forms of a time without an offset that ParseWhen
// reads in the given zone: the command line's and an HTML datetime-local
// input's.
var localLayouts = []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05"}

// ParseWhen reads a start-after or complete-after time: RFC 3339 with its
// offset ("2026-12-01T22:00:00+01:00"), or a date and time without one
// ("2026-12-01 22:00") in loc. "" is no time.
func ParseWhen(s string, loc *time.Location) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return &t, nil
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("%q is not a date and time such as \"2026-12-01 22:00\" (in the time zone given) or RFC 3339 (%s)", s, time.RFC3339)
}

// LoadZone reads an IANA time zone name such as Europe/Paris. "Local" is
// refused: it would mean one zone on the admin's machine and another on
// the server.
func LoadZone(name string) (*time.Location, error) {
	loc, err := time.LoadLocation(name)
	if err != nil || name == "" || strings.EqualFold(name, "Local") {
		return nil, fmt.Errorf("time zone %q: want an IANA time zone name such as Europe/Paris or America/New_York", name)
	}
	return loc, nil
}

// Zone is where the batch's times are shown: its TimeZone, else UTC.
func (o BatchOptions) Zone() *time.Location {
	if o.TimeZone != "" {
		if loc, err := LoadZone(o.TimeZone); err == nil {
			return loc
		}
	}
	return time.UTC
}

// scheduleProblems checks the schedule options for checkOptions.
func scheduleProblems(o BatchOptions) []string {
	var problems []string
	if o.TimeZone != "" {
		if _, err := LoadZone(o.TimeZone); err != nil {
			problems = append(problems, "time_zone: "+strings.TrimPrefix(err.Error(), "time zone "))
		}
	}
	if o.StartAfter != nil && o.CompleteAfter != nil && o.CompleteAfter.Before(*o.StartAfter) {
		problems = append(problems, "complete_after: before start_after")
	}
	return problems
}

// inUTC stores the schedule's times in UTC; the zone they were given in is
// TimeZone's business.
func inUTC(o *BatchOptions) {
	for _, t := range []**time.Time{&o.StartAfter, &o.CompleteAfter} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
}

// scheduleStart makes StartBatch schedule a batch whose start-after time
// is still to come. It returns nil, nil when the batch may start now.
func (s *Service) scheduleStart(ctx context.Context, name string) (*Batch, error) {
	b, err := s.batchByName(ctx, name)
	if err != nil {
		return nil, err
	}
	at := b.Options.StartAfter
	if at == nil || !at.After(time.Now()) {
		return nil, nil
	}
	when := at.In(b.Options.Zone()).Format("2006-01-02 15:04 MST")
	if b.State == BatchScheduled {
		return nil, fmt.Errorf("start batch %q: it is already scheduled to start at %s: %w", name, when, ErrConflict)
	}
	out, err := s.transition(ctx, name, "start", []string{BatchCreated, BatchStopped, BatchFailed}, BatchScheduled, nil)
	if err != nil {
		return nil, err
	}
	s.log.Info("Batch scheduled: it starts at its start-after time.", "batch", name, "start_after", at.UTC().Format(time.RFC3339))
	return out, nil
}

// startDue starts the Scheduled batches whose start-after time has come.
func (s *Service) startDue(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+batchColumns+` FROM batches WHERE state = $1`, BatchScheduled)
	if err != nil {
		return fmt.Errorf("find batches to start: %w", err)
	}
	var due []string
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			rows.Close()
			return err
		}
		if at := b.Options.StartAfter; at == nil || !at.After(time.Now()) {
			due = append(due, b.Name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find batches to start: %w", err)
	}
	for _, name := range due {
		s.log.Info("Starting the batch: its start-after time has come.", "batch", name)
		// A batch stopped or removed meanwhile is no longer Scheduled.
		if _, err := s.startNow(ctx, name, "start"); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return nil
}
