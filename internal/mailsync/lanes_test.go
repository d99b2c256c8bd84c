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

// TestUnitQueueTake: a lane that takes its next unit ahead (fetchAhead)
// gets one of its own folder first when that is among the next few, never
// one of a folder another lane copies, and nothing rather than waiting.
func TestUnitQueueTake(t *testing.T) {
	a, b, c := &folderRun{}, &folderRun{}, &folderRun{}
	name := map[*folderRun]string{a: "a", b: "b", c: "c"}
	for _, tc := range []struct {
		name  string
		units []*folderRun // the queue, in order
		busy  []*folderRun // folders being copied: mine (a) and others'
		want  string       // the folder of the unit taken, "" for none
		left  int
	}{
		{"next in order", []*folderRun{b, c}, []*folderRun{a}, "b", 1},
		{"mine first, when near", []*folderRun{b, c, a}, []*folderRun{a}, "a", 2},
		{"skips a folder another lane copies", []*folderRun{b, c}, []*folderRun{a, b}, "c", 1},
		{"every folder busy elsewhere", []*folderRun{b, b}, []*folderRun{a, b}, "", 2},
		{"empty", nil, []*folderRun{a}, "", 0},
	} {
		q := &unitQueue{busy: map[*folderRun]bool{}}
		for _, fr := range tc.units {
			q.units = append(q.units, unit{fr: fr})
		}
		for _, fr := range tc.busy {
			q.busy[fr] = true
		}
		u, ok := q.take(a)
		got := ""
		if ok {
			got = name[u.fr]
			if !q.busy[u.fr] {
				t.Errorf("%s: folder %s taken but not marked busy", tc.name, got)
			}
		}
		if got != tc.want || q.left() != tc.left {
			t.Errorf("%s: take = %q, %d left; want %q, %d left", tc.name, got, q.left(), tc.want, tc.left)
		}
	}
}
