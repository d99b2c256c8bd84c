package mailsync

import (
	"testing"
	"time"
)

// TestMoreLanes: extra lanes join an incremental copy over a slow link,
// where the units left cost round trips several times a login, and never
// on loopback, where a round trip is a fraction of a millisecond.
func TestMoreLanes(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name         string
		login, rtt   time.Duration
		left, lanes  int
		conns, extra int
	}{
		{"loopback", 9 * ms, ms, 9, 1, 4, 0},
		{"2 ms link, few folders", 16 * ms, 3 * ms, 5, 1, 4, 0},
		{"2 ms link, many folders", 16 * ms, 3 * ms, 12, 1, 4, 3},
		{"WAN", 70 * ms, 21 * ms, 9, 1, 4, 3},
		{"WAN, two units left", 70 * ms, 21 * ms, 2, 1, 4, 0},
		{"WAN, six units left", 70 * ms, 21 * ms, 6, 1, 4, 3},
		{"WAN, connections capped", 70 * ms, 21 * ms, 9, 1, 2, 1},
		{"WAN, lanes at the cap", 70 * ms, 21 * ms, 9, 4, 4, 0},
		{"no EXAMINE measured", 70 * ms, 0, 9, 1, 4, 0},
		{"nothing left", 70 * ms, 21 * ms, 0, 1, 4, 0},
	} {
		s := &run{loginTime: tc.login, opts: Options{Connections: tc.conns}}
		if got := s.moreLanes(tc.rtt, tc.left, tc.lanes); got != tc.extra {
			t.Errorf("%s: moreLanes(%v, %d left, %d lanes) = %d; want %d", tc.name, tc.rtt, tc.left, tc.lanes, got, tc.extra)
		}
	}
}
