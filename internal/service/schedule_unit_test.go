package service

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseWhen(t *testing.T) {
	t.Parallel()
	paris, err := LoadZone("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want time.Time // zero: no time
		err  bool
	}{
		{in: ""},
		{in: "  "},
		{in: "2026-12-01 22:00", want: time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)},
		{in: "2026-12-01T22:00", want: time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)},
		{in: "2026-07-01 22:00:30", want: time.Date(2026, 7, 1, 20, 0, 30, 0, time.UTC)}, // summer time
		{in: "2026-12-01T22:00:00-05:00", want: time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)},
		{in: "2026-12-01T22:00:00Z", want: time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)},
		{in: "2026-12-01", err: true},
		{in: "tomorrow", err: true},
		{in: "2026-13-01 22:00", err: true},
	}
	for _, tc := range tests {
		got, err := ParseWhen(tc.in, paris)
		switch {
		case tc.err && (err == nil || !strings.Contains(err.Error(), "is not a date and time")):
			t.Errorf("ParseWhen(%q) = %v, %v; want an error", tc.in, got, err)
		case !tc.err && err != nil:
			t.Errorf("ParseWhen(%q): %v", tc.in, err)
		case !tc.err && tc.want.IsZero() && got != nil:
			t.Errorf("ParseWhen(%q) = %v; want no time", tc.in, got)
		case !tc.err && !tc.want.IsZero() && (got == nil || !got.Equal(tc.want)):
			t.Errorf("ParseWhen(%q) = %v; want %v", tc.in, got, tc.want)
		}
	}
}

func TestScheduleOptions(t *testing.T) {
	t.Parallel()
	at := func(h int) *time.Time { v := time.Date(2026, 12, 1, h, 0, 0, 0, time.UTC); return &v }
	tests := []struct {
		name string
		o    BatchOptions
		want string // "" valid
	}{
		{"None", BatchOptions{}, ""},
		{"Zone", BatchOptions{StartAfter: at(8), CompleteAfter: at(9), TimeZone: "America/New_York"}, ""},
		{"UTC", BatchOptions{TimeZone: "UTC"}, ""},
		{"UnknownZone", BatchOptions{TimeZone: "Europe/Atlantis"}, `time_zone: "Europe/Atlantis": want an IANA time zone name`},
		{"LocalIsNoZone", BatchOptions{TimeZone: "Local"}, `time_zone: "Local"`},
		{"CompleteBeforeStart", BatchOptions{StartAfter: at(9), CompleteAfter: at(8)}, "complete_after: before start_after"},
	}
	for _, tc := range tests {
		err := checkOptions(tc.o)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v; want invalid input with %q", tc.name, err, tc.want)
		}
	}
	o := BatchOptions{TimeZone: "Asia/Tokyo"}
	if o.Zone().String() != "Asia/Tokyo" || (BatchOptions{}).Zone() != time.UTC {
		t.Errorf("Zone: %v and %v; want Asia/Tokyo and UTC", o.Zone(), BatchOptions{}.Zone())
	}
	tokyo, _ := LoadZone("Asia/Tokyo")
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, tokyo)
	o.StartAfter = &start
	inUTC(&o)
	if o.StartAfter.Location() != time.UTC || !o.StartAfter.Equal(start) {
		t.Errorf("inUTC: %v; want %v in UTC", o.StartAfter, start)
	}
}

func TestMarkStale(t *testing.T) {
	t.Parallel()
	s := &Service{cfg: Config{StaleAfter: 14 * 24 * time.Hour}}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		state string
		idle  time.Duration
		stale bool
	}{
		{BatchSynced, 15 * 24 * time.Hour, true},
		{BatchSyncedWithErrors, 15 * 24 * time.Hour, true},
		{BatchSynced, 13 * 24 * time.Hour, false},
		{BatchSynced, 14 * 24 * time.Hour, false}, // "older than": not at the very time
		{BatchSyncing, 30 * 24 * time.Hour, false},
		{BatchCompleted, 30 * 24 * time.Hour, false},
		{BatchStopped, 30 * 24 * time.Hour, false},
		{BatchScheduled, 30 * 24 * time.Hour, false},
	}
	for _, tc := range tests {
		b := &Batch{State: tc.state, LastAction: now.Add(-tc.idle)}
		s.markStale(b, now)
		if b.Stale != tc.stale || (b.StaleSince != nil) != tc.stale || (tc.stale && !b.StaleSince.Equal(b.LastAction)) {
			t.Errorf("%s idle %v: stale %v since %v; want %v", tc.state, tc.idle, b.Stale, b.StaleSince, tc.stale)
		}
	}
}
