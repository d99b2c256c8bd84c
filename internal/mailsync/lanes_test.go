package mailsync

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
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

// TestMakeUnits: the newest-first list is cut into units of one folder,
// at most unitMessages messages and unitBytes bytes each (a larger
// message alone), regrouped by folder only within a window; every message
// lands in exactly one unit, and each unit's list holds no more room
// than the allocator rounds up to (a list grown by append would).
func TestMakeUnits(t *testing.T) {
	a, b := &folderRun{}, &folderRun{}
	name := map[*folderRun]string{a: "a", b: "b"}
	// msgs makes n messages alternating between the folders of folders,
	// UIDs counting from 1 per folder, each of size bytes.
	msgs := func(n int, size int64, folders ...*folderRun) []*srcMsg {
		next := map[*folderRun]imap.UID{}
		var out []*srcMsg
		for i := range n {
			fr := folders[i%len(folders)]
			next[fr]++
			out = append(out, &srcMsg{uid: next[fr], octets: uint32(size), fr: fr})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		all  []*srcMsg
		want []string // each unit as folder:count
	}{
		{"one small folder", msgs(3, 10, a), []string{"a:3"}},
		{"cut at unitMessages", msgs(unitMessages+1, 10, a), []string{"a:100", "a:1"}},
		{"cut at unitBytes", msgs(3, unitBytes/2, a), []string{"a:2", "a:1"}},
		{"a message over unitBytes goes alone", msgs(2, unitBytes+1, a), []string{"a:1", "a:1"}},
		{"regrouped by folder within a window", msgs(6, 10, a, b), []string{"a:3", "b:3"}},
		{"not across windows", msgs(windowSize+2, 10, a, b), []string{
			"a:100", "a:100", "a:100", "a:100", "a:100", "b:100", "b:100", "b:100", "b:100", "b:100", "a:1", "b:1"}},
	} {
		units := makeUnits(tc.all)
		var got []string
		seen := map[*srcMsg]int{}
		for _, u := range units {
			got = append(got, fmt.Sprintf("%s:%d", name[u.fr], len(u.msgs)))
			if cap(u.msgs)-len(u.msgs) > len(u.msgs)/8 {
				t.Errorf("%s: a unit of %d messages has room for %d", tc.name, len(u.msgs), cap(u.msgs))
			}
			for i, m := range u.msgs {
				seen[m]++
				if m.fr != u.fr {
					t.Errorf("%s: a unit of folder %s holds a message of %s", tc.name, name[u.fr], name[m.fr])
				}
				if i > 0 && m.uid <= u.msgs[i-1].uid {
					t.Errorf("%s: a unit's messages out of the list's order: UID %d after %d", tc.name, m.uid, u.msgs[i-1].uid)
				}
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: units %v; want %v", tc.name, got, tc.want)
		}
		for _, m := range tc.all {
			if seen[m] != 1 {
				t.Errorf("%s: message %s/%d in %d units; want 1", tc.name, name[m.fr], m.uid, seen[m])
			}
		}
	}
}
