package service

import (
	"testing"
	"time"
)

// SetBudgetForTest gives s a daily budget of bytes over window in place of
// the profiles', so that a test reaches it with a small mailbox and sees
// the window free within seconds.
func SetBudgetForTest(s *Service, bytes int64, window time.Duration) {
	budgetOverrides.Store(s, budgetOverride{bytes: bytes, window: window})
}

// TestBudgetFreeAt checks when a spent budget frees enough for the next
// pass: when the oldest passes leave the window, never later than the
// whole budget.
func TestBudgetFreeAt(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	b := &budget{limit: 1000, window: time.Hour, left: -100, passes: []spent{
		{t0, 300}, {t0.Add(10 * time.Minute), 500}, {t0.Add(20 * time.Minute), 300},
	}}
	for _, tc := range []struct {
		need int64
		want time.Time
	}{
		{1, t0.Add(time.Hour)},           // -100+300 = 200 free
		{200, t0.Add(time.Hour)},         // exactly
		{201, t0.Add(70 * time.Minute)},  // 700 once the second leaves
		{900, t0.Add(80 * time.Minute)},  // all three
		{5000, t0.Add(80 * time.Minute)}, // capped by the limit
		{0, t0.Add(time.Hour)},           // at least a byte
	} {
		if got := b.freeAt(tc.need); !got.Equal(tc.want) {
			t.Errorf("freeAt(%d) = %v; want %v", tc.need, got, tc.want)
		}
	}
}
